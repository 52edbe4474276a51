"""Learn a complex dictionary from a folder of videos.

    csc-learn [VIDEO_DIR] --out RUN_DIR [options]
    python scripts/learn_dictionary.py [VIDEO_DIR] --out RUN_DIR [options]

With no VIDEO_DIR it learns from the clip bundled in data/videos/; by default 80% of the training
sequences come from a synthetic camera moving over natural stills (data/stills/, --camera-share,
--stills). RUN_DIR receives model.npz
(load it with csc.load), config.json, bases.png, bases.gif, training.png and train.log.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from csc.cli.common import ArgumentParser, UsageError, fail
from csc.cli.interrupts import INTERRUPTED, stops_on_interrupt
from csc.learning.shards import INFERENCES
from csc.resources import videos_dir
from csc.run_folder import RunError
from csc.threads import prefer_passive_openmp
from csc.training.config import PRIOR_DEFAULTS, RUN_PRESETS, TrainConfig, resume_config
from csc.training.run import train
from csc.video.reader import VideoError

PROG = "csc-learn"
DEFAULTS = TrainConfig(video_dir="", out="")


def build_parser() -> ArgumentParser:
    d = DEFAULTS
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("video_dir", nargs="?", default=None,
                    help="folder of videos (searched recursively); default: the bundled samples")
    ap.add_argument("--out", required=True, help="run folder for the outputs")
    ap.add_argument("--patch-size", type=int, default=d.patch_size)
    ap.add_argument("--n-frames", type=int, default=d.n_frames, help="frames per sequence")
    ap.add_argument("--n-components", type=int, default=d.n_components, help="complex units")
    ap.add_argument("--n-updates", type=int, default=None,
                    help=f"dictionary updates (default {d.n_updates}; with --resume: the new "
                         f"total, default the saved one)")
    ap.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per update")
    ap.add_argument("--shards", type=int, default=d.shards,
                    help="shards the sequences of an update are split into, each inferred on its "
                         "own (the unit of work of --workers; the learned dictionary depends on "
                         "it, not on the number of workers)")
    ap.add_argument("--preset", choices=tuple(RUN_PRESETS), default=None,
                    help="every setting of the paper at once (options given as well override it)")
    ap.add_argument("--sparsity", choices=tuple(PRIOR_DEFAULTS), default=d.sparsity)
    prior_help = "; ".join(f"{s}: {v}" for s, v in PRIOR_DEFAULTS.items())
    ap.add_argument("--lam", type=float, default=None,
                    help=f"sparsity weight (default per --sparsity; {prior_help})")
    ap.add_argument("--sigma", type=float, default=None, help="Cauchy scale (default 0.4)")
    ap.add_argument("--slowness", choices=("l2", "l1", "none"), default=None,
                    help="slowness prior on amplitude changes (default per --sparsity)")
    ap.add_argument("--kappa", type=float, default=None,
                    help="slowness weight (default per --sparsity)")
    ap.add_argument("--learning", choices=("sgd", "online"), default=d.learning)
    ap.add_argument("--normalize", choices=("pair", "complex"), default=d.normalize)
    ap.add_argument("--init", choices=("data", "random"), default=d.init,
                    help="starting dictionary: pairs of consecutive frames, or Gaussian")
    ap.add_argument("--whitening", choices=("pca", "of"), default=d.whitening)
    ap.add_argument("--weighting", choices=("paper", "tail"), default=d.weighting,
                    help="PCA reconstruction weights: the paper's roll-off from 8x the cutoff, or "
                         "a roll-off over the last tenth of the kept components")
    ap.add_argument("--noise-variance", type=float, default=d.noise_variance)
    ap.add_argument("--whiten-patches", type=int, default=d.whiten_patches,
                    help="patches the whitener is fitted on")
    ap.add_argument("--downsample", type=int, default=d.downsample,
                    help="integer spatial downsampling factor")
    ap.add_argument("--max-frames-per-video", "--max-frames", type=int, default=None,
                    help="read at most this many frames of each video (the other tools' "
                         "--max-frames)")
    ap.add_argument("--camera-share", type=float, default=d.camera_share,
                    help="share of the training frames from the synthetic camera (natural stills "
                         "panned, rotated and zoomed; beside the videos, never alone; 0: none)")
    ap.add_argument("--stills", default=None,
                    help="folder of still images for the synthetic camera (default: the bundled "
                         "ones)")
    ap.add_argument("--cache-frames", type=int, default=d.cache_frames,
                    help="most frames of video held in memory to sample sequences from (the "
                         "synthetic camera adds --camera-share as many); --cache-mb bounds them "
                         "too")
    ap.add_argument("--cache-mb", type=int, default=d.cache_mb,
                    help="most megabytes (2^20 bytes) of frames held in memory to sample sequences "
                         "from: video and synthetic camera clips together, the camera taking at "
                         "most --camera-share of it (a 1920x1080 frame takes 7.9 MB)")
    ap.add_argument("--max-iter", type=int, default=d.max_iter, help="inference iterations")
    ap.add_argument("--inference", choices=INFERENCES, default=d.inference,
                    help="how each update infers its codes: csc's FISTA from zero codes, the "
                         "same from the authors' random start, or the authors' truncated polar "
                         "Barzilai-Borwein descent from it (smooth priors; --max-iter 15 and "
                         "20 evaluations are theirs)")
    ap.add_argument("--backend", choices=("auto", "cpu", "gpu"), default=d.backend)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    ap.add_argument("--workers", type=int, default=None,
                    help="compute the shards on a new local Dask cluster of this many worker "
                         "processes (one thread each)")
    ap.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                    help="compute the shards on the running Dask cluster of this scheduler "
                         "(dask scheduler / dask worker); its workers must see the videos at "
                         "the same paths")
    ap.add_argument("--resume", action="store_true",
                    help="continue the run in --out; options given must match the run's, except "
                         "VIDEO_DIR (if the videos moved), --n-updates, --stills, --backend, "
                         "--checkpoint-every, --workers and --scheduler")
    ap.add_argument("--force", action="store_true",
                    help="overwrite the run in --out (once every setting has been checked)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options, with a --preset's settings as the defaults of the options not given, and the
    prior constants not given (nor set by the preset) taken from `PRIOR_DEFAULTS[--sparsity]`;
    `given`: the settings given on the command line (`given_settings`)."""
    ap = build_parser()
    preset = ap.parse_known_args(argv)[0].preset
    if preset is not None:
        ap.set_defaults(**RUN_PRESETS[preset])
    args = ap.parse_args(argv)
    for name in ("lam", "sigma", "slowness", "kappa"):
        if getattr(args, name) is None:
            setattr(args, name, PRIOR_DEFAULTS[args.sparsity].get(name, getattr(DEFAULTS, name)))
    args.given = given_settings(argv)
    return args


def given_settings(argv: Sequence[str] | None) -> dict:
    """The run settings given on the command line (a --preset's included), by TrainConfig field;
    folders as absolute paths."""
    ap = build_parser()
    for action in ap._actions:  # parse again, leaving out every option not given
        action.default = argparse.SUPPRESS
    given = vars(ap.parse_args(argv))
    if "preset" in given:
        given = {**RUN_PRESETS[given["preset"]], **given}
    names = {f.name for f in fields(TrainConfig)}
    settings = {k: v for k, v in given.items() if k in names and v is not None}
    for folder in ("video_dir", "stills", "out"):
        if folder in settings:
            settings[folder] = os.path.abspath(settings[folder])
    return settings


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's settings: with --resume the saved ones, the options given (`args.given`) in
    their place (`train` refuses those a resumed run cannot change); else the options."""
    given = args.given
    if args.resume:
        return resume_config(args.out, **{k: v for k, v in given.items() if k != "out"})
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values["video_dir"] = given.get("video_dir", str(videos_dir()))
    values["stills"] = given.get("stills")
    values["out"] = os.path.abspath(args.out)
    if args.n_updates is None:
        values["n_updates"] = DEFAULTS.n_updates
    return TrainConfig(**values)


@stops_on_interrupt(PROG, "continue with --resume")
def main(argv: Sequence[str] | None = None) -> int:
    """Train; 0 on success, 2 on bad input (one line on stderr), 130 when interrupted."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.threads
    try:
        args = parse_args(argv)
    except UsageError as exc:
        return fail(PROG, exc)
    try:
        cfg = config_from_args(args)
        train(cfg, resume=args.resume, force=args.force, progress=not args.quiet,
              workers=args.workers, scheduler=args.scheduler)
    except (RunError, VideoError, ValueError, OSError) as exc:
        return fail(PROG, exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; continue with --resume --out {args.out}", file=sys.stderr)
        return INTERRUPTED
    print(f"wrote {Path(cfg.out).resolve()}: model.npz, config.json, history.csv, bases.png, "
          f"bases.gif, training.png, train.log")
    return 0
