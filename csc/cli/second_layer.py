"""Learn the second layer (motion units and form units) on the codes of a learned model.

    csc-second-layer [RUN_DIR/model.npz] [--out DIR] [--n-motion 16] [--n-form 16]
    python scripts/learn_second_layer.py [RUN_DIR/model.npz] [--out DIR] [...]

Draws sequences from the run's videos, encodes them with the model, learns motion units on the
masked phase velocities and form units on the log-amplitudes (Cadieu & Olshausen §5), stores both
in the model file (so `csc.load` returns them as `model.motion_units` / `model.form_units`) and
draws RUN_DIR/motion_units.png and RUN_DIR/form_units.png. With no model, the shipped pretrained
one (`csc.pretrained()`) is used on the bundled training clips, and its copy with the second
layer goes to --out (default runs/pretrained-second-layer).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from csc.analysis import geometry as bg
from csc.analysis.phases import phase_velocity
from csc.analysis.second_layer import FormUnits, MotionUnits, log_amplitude_features
from csc.backends.cpu.threads import prefer_passive_openmp
from csc.cli.common import ArgumentParser, UsageError, fail
from csc.io import load_extra
from csc.plotting.second_layer import save_second_layer_png
from csc.resources import pretrained_dir, videos_dir
from csc.video.reader import VideoError
from csc.video.train import RunError, TrainConfig, run_sequences

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
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    return out / "model.npz"


def main(argv: Sequence[str] | None = None) -> int:
    """Learn, store and draw the second layer; 0 on success, 2 on bad input."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.backends.cpu.threads
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=None,
                    help="RUN_DIR/model.npz; default: the pretrained model")
    ap.add_argument("--out", default="runs/pretrained-second-layer",
                    help="where the pretrained model's copy goes (only without a model)")
    ap.add_argument("--n-motion", type=int, default=16, help="motion units")
    ap.add_argument("--n-form", type=int, default=16, help="form units")
    ap.add_argument("--n-sequences", type=int, default=256, help="sequences to learn from")
    ap.add_argument("--n-updates", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    try:
        args = ap.parse_args(argv)
        if args.model is None:
            args.model = str(copy_pretrained(Path(args.out)))
        model, P = run_sequences(args.model, args.n_sequences, seed=args.seed)
        Z = model.encode_patches(P)
        delta, mask = phase_velocity(Z)
        ell, stats = log_amplitude_features(Z)
        model.motion_units = MotionUnits(args.n_motion, n_updates=args.n_updates,
                                         random_state=args.seed).fit(delta, mask)
        model.form_units = FormUnits(args.n_form, n_updates=args.n_updates,
                                     random_state=args.seed).fit(ell)
        # new codes must be normalised the same way: log_amplitude_features(Z, stats=...)
        model.form_units.feature_stats_ = stats
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
          f"{out / 'motion_units.png'} and {out / 'form_units.png'}")
    return 0
