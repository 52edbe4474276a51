"""Learn the second layer (motion units and form units) on the codes of a learned model.

    csc-second-layer [RUN_DIR/model.npz] [--out DIR] [--n-motion 100] [--n-form 100] [...]
    python scripts/learn_second_layer.py [RUN_DIR/model.npz] [--out DIR] [...]

Draws sequences from the run's videos and encodes them with the model under the paper's Gaussian
amplitude prior (β 8, `--code-prior`); learns motion units on the phase velocities of amplitudes
above 0.2 (`--threshold`) and form units on the log-amplitudes scaled to variance 0.1 with the
mean over units removed (Cadieu & Olshausen §5; the authors' adaptive step); stores both, and
the code prior, in the model file (so `csc.load` returns them as `model.motion_units` /
`model.form_units`) and draws RUN_DIR/motion_units.png and RUN_DIR/form_units.png. Then it
measures the motion units' direction tuning to drifting gratings and translating 1/f noise
(`csc.analysis.motion_tuning`), next to random motion units, into RUN_DIR/motion_tuning.png and
RUN_DIR/tuning.json (`--no-tuning` skips it). With no model, the shipped pretrained one
(`csc.pretrained()`) is used on the bundled training clips, and its copy with the second layer
goes to --out (default runs/pretrained-second-layer).
"""
from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from csc.analysis import geometry as bg
from csc.analysis import motion_tuning
from csc.analysis.second_layer import (
    PAPER_CODE_PRIOR,
    PAPER_THRESHOLD,
    FormUnits,
    MotionUnits,
    second_layer_codes,
)
from csc.analysis.second_layer.base import STEPS
from csc.backends.cpu.threads import prefer_passive_openmp
from csc.cli.common import ArgumentParser, UsageError, fail
from csc.io import load_extra, write_json
from csc.plotting.motion_tuning import save_motion_tuning_png
from csc.plotting.second_layer import save_second_layer_png
from csc.resources import pretrained_dir, videos_dir
from csc.run_folder import RunError
from csc.video.pixel_model import PixelModel
from csc.video.reader import VideoError
from csc.video.train import run_sequences
from csc.video.train_config import TrainConfig

PROG = "csc-second-layer"


def copy_pretrained(out: Path) -> Path:
    """Copy the pretrained run folder into `out` (package data stays as it is), its config
    pointing at the installed training clips, so that sequences are drawn as in its training
    (the clips and the synthetic camera). Returns the copy's model path."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pretrained_dir() / "model.npz", out / "model.npz")
    cfg = TrainConfig.from_json(pretrained_dir() / "config.json")
    cfg.video_dir, cfg.out = str(videos_dir()), str(out)
    write_json(out / "config.json", asdict(cfg))
    return out / "model.npz"


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("model", nargs="?", default=None,
                    help="RUN_DIR/model.npz; default: the pretrained model")
    ap.add_argument("--out", default="runs/pretrained-second-layer",
                    help="where the pretrained model's copy goes (only without a model)")
    ap.add_argument("--n-motion", type=int, default=100, help="motion units")
    ap.add_argument("--n-form", type=int, default=100, help="form units")
    ap.add_argument("--n-sequences", type=int, default=2000, help="sequences to learn from")
    ap.add_argument("--n-updates", type=int, default=2000,
                    help="updates of each layer (the authors': 45000)")
    ap.add_argument("--batch-size", type=int, default=16, help="sequences per update")
    ap.add_argument("--code-prior", choices=("gauss", "first-layer"), default="gauss",
                    help="prior of the codes the second layer learns from: the paper's Gaussian "
                         "amplitude prior, or the first layer's own")
    ap.add_argument("--beta", type=float, default=PAPER_CODE_PRIOR["lam"],
                    help="β of the Gaussian amplitude prior")
    ap.add_argument("--threshold", type=_threshold, default=PAPER_THRESHOLD,
                    help="amplitude a phase velocity needs to count: a number (absolute, the "
                         "paper's 0.2) or 'relative' (0.1 x each unit's largest)")
    ap.add_argument("--log-variance", type=float, default=0.1,
                    help="variance of each unit's log-amplitude for the form units")
    ap.add_argument("--no-center-units", dest="center_units", action="store_false",
                    help="keep the mean log-amplitude over units in each frame")
    ap.add_argument("--step", choices=STEPS, default="adaptive",
                    help="learning step: the authors' adaptive one, or linear decay")
    ap.add_argument("--no-tuning", dest="tuning", action="store_false",
                    help="skip the tuning curves")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def report_tuning(model: PixelModel, out: Path, seed: int) -> dict:
    """Tuning of the learned and of random motion units: motion_tuning.png, tuning.json, and
    one printed line per dictionary. Returns the summaries."""
    t0 = time.perf_counter()
    learned = motion_tuning.tuning_curves(model, seed=seed)
    save_motion_tuning_png(learned, out / "motion_tuning.png")
    figures = {"learned": motion_tuning.summary(learned),
               "random": motion_tuning.summary(motion_tuning.random_reference(model, seed))}
    write_json(out / "tuning.json", figures)
    for name, f in figures.items():
        print(f"{name} motion units, {f['n_active']} of {f['n_units']} active: median DSI "
              f"{f['median_dsi_grating_active']:.2f} (gratings) / "
              f"{f['median_dsi_noise_active']:.2f} (noise); median vector strength "
              f"{f['median_vector_strength_grating_active']:.2f} / "
              f"{f['median_vector_strength_noise_active']:.2f}; grating and noise preferred "
              f"directions within 30°: {f['share_within_30_active']:.0%} (median angle "
              f"{f['median_angle_active']:.0f}°)")
    print(f"tuning measured in {time.perf_counter() - t0:.0f} s; wrote {out / 'motion_tuning.png'}")
    return figures


def _threshold(text: str) -> float | None:
    """--threshold: None for 'relative', else a number >= 0."""
    if text == "relative":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'relative', got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def learn(args: argparse.Namespace) -> PixelModel:
    """Encode the run's sequences and learn both layers on them; the model, with them."""
    model, P = run_sequences(args.model, args.n_sequences, seed=args.seed)
    model.second_layer_prior = None
    if args.code_prior == "gauss":
        model.second_layer_prior = dict(PAPER_CODE_PRIOR, lam=args.beta)
        if model.coder.slowness == "l1":  # the paper's slow_gauss: quadratic slowness, same κ
            model.second_layer_prior["slowness"] = "l2"
    t0 = time.perf_counter()
    Z = second_layer_codes(model, P)
    common = dict(n_updates=args.n_updates, batch_size=args.batch_size, step=args.step,
                  random_state=args.seed)
    mu = MotionUnits(args.n_motion, threshold=args.threshold, **common)
    delta, mask = mu.features(Z)
    print(f"{len(P)} sequences encoded in {time.perf_counter() - t0:.0f} s; phase velocities "
          f"counted: {mask.mean():.1%}", flush=True)
    t0 = time.perf_counter()
    model.motion_units = mu.fit(delta, mask)
    fu = FormUnits(args.n_form, log_variance=args.log_variance, center_units=args.center_units,
                   **common)
    model.form_units = fu.fit(fu.fit_features(Z))
    print(f"motion and form units learned in {time.perf_counter() - t0:.0f} s", flush=True)
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """Learn, store and draw the second layer; 0 on success, 2 on bad input."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.backends.cpu.threads
    try:
        args = build_parser().parse_args(argv)
        if args.model is None:
            args.model = str(copy_pretrained(Path(args.out)))
        model = learn(args)
        model.save(args.model, extra=load_extra(args.model))  # keeps the run resumable
    except (UsageError, RunError, VideoError, ValueError, OSError) as exc:
        return fail(PROG, exc)
    B = model.bases_pixels()
    centres = bg.envelope_centre(B)
    out = Path(args.model).parent
    # motion weights act on phase velocities, which turn with the signed frequency
    save_second_layer_png(model.motion_units.components_, centres, bg.unit_frequency(B),
                          out / "motion_units.png", title="motion units", mirror="odd")
    save_second_layer_png(model.form_units.components_, centres, bg.unit_frequency(B, signed=False),
                          out / "form_units.png", title="form units", mirror="even")
    print(f"stored {args.n_motion} motion and {args.n_form} form units in {args.model}; wrote "
          f"{out / 'motion_units.png'} and {out / 'form_units.png'}", flush=True)
    if args.tuning:
        report_tuning(model, out, args.seed)
    return 0
