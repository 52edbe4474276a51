"""Learn the second layer (motion units and form units) on the codes of a learned model.

    csc-second-layer [RUN_DIR/model.npz] [--out DIR] [--n-motion 100] [--n-form 100] [...]
    python scripts/learn_second_layer.py [RUN_DIR/model.npz] [--out DIR] [...]

Encodes sequences with the model under the paper's Gaussian amplitude prior with quadratic
slowness (β 8, κ 0.5: the authors' slow_gauss; `--code-prior`). Motion units learn from the
sprite world (`csc.video.sprites`: independent movers over the run's stills; `--sprite-share`)
on the phase velocities whose amplitudes exceed the one a quarter of the training codes'
amplitudes exceed (the authors' rule; `--threshold`, `--on-fraction`), with one adaptive step per
unit from columns drawn from the data; form units learn the same way from the run's own
sequences, on the log-amplitudes scaled to variance 0.1 with the mean over units removed
(Cadieu & Olshausen §5; docs/design.md §5). Both, and the code prior, are stored in the model
file (so `csc.load` returns them as `model.motion_units` / `model.form_units`).

Then it measures them next to random columns of the same shape: the motion units' translation,
rotation and expansion templates (`csc.analysis.motion_templates`), the form units' inputs and
activity on held-out video (`csc.analysis.form_measures`), and the motion units' tuning to
drifting gratings and translating 1/f noise (`csc.analysis.motion_tuning`; `--no-tuning` skips
it); writes RUN_DIR/second_layer.json, tuning.json, motion_units.png, form_units.png,
form_inputs.png and motion_tuning.png. With no model, the shipped pretrained one
(`csc.pretrained()`) is used on the bundled training clips and stills, and its copy with the
second layer goes to --out (default runs/pretrained-second-layer).
"""
from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from csc.analysis import form_measures, motion_templates, motion_tuning
from csc.analysis import geometry as bg
from csc.cli.common import ArgumentParser, UsageError, check_counts, fail
from csc.cli.interrupts import stops_on_interrupt
from csc.io import load_extra, write_json
from csc.memory import require_memory
from csc.plotting.motion_tuning import save_motion_tuning_png
from csc.plotting.second_layer import save_form_units_png, save_second_layer_png
from csc.resources import heldout_dir, pretrained_dir, videos_dir
from csc.run_folder import RunError, run_lock
from csc.second_layer import (
    PAPER_CODE_PRIOR,
    PAPER_ON_FRACTION,
    FormUnits,
    MotionUnits,
    on_fraction_threshold,
    second_layer_codes,
)
from csc.second_layer.base import INITS, STEPS
from csc.threads import prefer_passive_openmp
from csc.training.config import TrainConfig
from csc.training.run import draw_sequences, load_run, run_sequences
from csc.video.pixel_model import PixelModel
from csc.video.reader import VideoError

PROG = "csc-second-layer"
ON_FRACTION = "on-fraction"  # --threshold's default: from --on-fraction (the authors')


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
    ap.add_argument("--sprite-share", type=float, default=1.0,
                    help="share of the motion units' sequences from the sprite world "
                         "(independent movers over the run's stills); the rest are drawn like "
                         "the run's training batches (its videos and synthetic camera)")
    ap.add_argument("--form-sprite-share", type=float, default=0.0,
                    help="the same for the form units")
    ap.add_argument("--video-dir", "--heldout-dir", dest="heldout_dir",
                    default=str(heldout_dir()),
                    help="held-out videos the form units are measured on, as csc analyze's "
                         "--video-dir (default: the bundled held-out clip, never trained on)")
    ap.add_argument("--n-heldout", type=int, default=200,
                    help="held-out sequences the form units are measured on")
    ap.add_argument("--n-updates", type=int, default=2000,
                    help="updates of each layer (the authors': 45000)")
    ap.add_argument("--batch-size", type=int, default=16, help="sequences per update")
    ap.add_argument("--code-prior", choices=("gauss", "first-layer"), default="gauss",
                    help="prior of the codes the second layer learns from: the paper's Gaussian "
                         "amplitude prior, or the first layer's own")
    ap.add_argument("--beta", type=float, default=PAPER_CODE_PRIOR["lam"],
                    help="β of the Gaussian amplitude prior")
    ap.add_argument("--code-kappa", type=float, default=PAPER_CODE_PRIOR["kappa"],
                    help="κ of the Gaussian codes' quadratic slowness (the authors' 0.5)")
    ap.add_argument("--threshold", type=_threshold, default=ON_FRACTION,
                    help="amplitude a phase velocity needs to count: 'on-fraction' (the "
                         "amplitude that --on-fraction of the training codes' amplitudes "
                         "exceed, as the authors' code), a number (absolute; init.m's 0.2) or "
                         "'relative' (0.1 x each unit's largest)")
    ap.add_argument("--on-fraction", type=float, default=PAPER_ON_FRACTION,
                    help="share of the training codes' amplitudes above the threshold")
    ap.add_argument("--log-variance", type=float, default=0.1,
                    help="variance of each unit's log-amplitude for the form units")
    ap.add_argument("--no-center-units", dest="center_units", action="store_false",
                    help="keep the mean log-amplitude over units in each frame")
    ap.add_argument("--motion-step", choices=STEPS, default="adaptive-unit",
                    help="motion units' learning step: the authors' adaptive one (one step for "
                         "all units), the same with one step per unit, or linear decay")
    ap.add_argument("--motion-init", choices=INITS, default="data",
                    help="motion units' first columns: random (the paper's) or samples of the "
                         "data")
    ap.add_argument("--form-step", choices=STEPS, default="adaptive-unit",
                    help="form units' learning step")
    ap.add_argument("--form-init", choices=INITS, default="data",
                    help="form units' first columns: random (the paper's) or the features of "
                         "random frames")
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
    units = {"preferred_direction_noise": learned["noise"]["preferred_direction"],
             "preferred_speed_noise": learned["noise"]["preferred_speed"],
             "speed_tuning_noise": motion_tuning.speed_tuning(learned),
             "direction_spread": motion_tuning.direction_spread(learned),
             "active": motion_tuning.active_units(learned)}
    write_json(out / "tuning.json", {**figures, "speeds": learned["speeds"].tolist(),
                                     "units": {k: v.tolist() for k, v in units.items()}})
    for name, f in figures.items():  # DSI last: it is ≈ 1 for random units too (docs)
        print(f"{name} motion units, {f['n_active']} of {f['n_units']} active (medians over "
              f"them): preferred direction's spread over stimuli "
              f"{f['median_direction_spread_active']:.0f}°; grating and noise preferred "
              f"directions within 30°: {f['share_within_30_active']:.0%} (median angle "
              f"{f['median_angle_active']:.0f}°); vector strength "
              f"{f['median_vector_strength_grating_active']:.2f} (gratings) / "
              f"{f['median_vector_strength_noise_active']:.2f} (noise); DSI "
              f"{f['median_dsi_grating_active']:.2f} / {f['median_dsi_noise_active']:.2f}")
    print(f"tuning measured in {time.perf_counter() - t0:.0f} s; wrote {out / 'motion_tuning.png'}")
    return figures


def _threshold(text: str) -> float | str | None:
    """--threshold: None for 'relative', 'on-fraction' as it is, else a number >= 0."""
    if text == "relative":
        return None
    if text == ON_FRACTION:
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'relative', got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def learn(args: argparse.Namespace) -> PixelModel:
    """Encode the learning sequences of each layer and learn it on them; the model, with both."""
    model, cfg, cache = load_run(args.model)
    K, T, M = model.coder.n_components, cfg.n_frames, model.patch_size ** 2
    # the units and their copies; per frame the pixels (float32) and the codes, phase
    # velocities and masks (17 bytes a unit), each about three times over
    require_memory(8 * K * (args.n_motion + args.n_form) * 3
                   + args.n_sequences * T * (4 * M + 3 * 17 * K),
                   "--n-motion, --n-form and --n-sequences")
    P = draw_sequences(cfg, cache, args.n_sequences, args.seed, args.sprite_share)
    model.second_layer_prior = None
    if args.code_prior == "gauss":  # the authors' slow_gauss
        model.second_layer_prior = dict(PAPER_CODE_PRIOR, lam=args.beta, kappa=args.code_kappa)
    t0 = time.perf_counter()
    Z = second_layer_codes(model, P)
    Z_form = Z
    if args.form_sprite_share != args.sprite_share:
        Z_form = second_layer_codes(model, draw_sequences(
            cfg, cache, args.n_sequences, args.seed, args.form_sprite_share))
    common = dict(n_updates=args.n_updates, batch_size=args.batch_size, random_state=args.seed)
    threshold = args.threshold
    if threshold == ON_FRACTION:
        threshold = on_fraction_threshold(Z, args.on_fraction)
    mu = MotionUnits(args.n_motion, threshold=threshold, step=args.motion_step,
                     init=args.motion_init, **common)
    delta, mask = mu.features(Z)
    print(f"{len(P)} sequences encoded in {time.perf_counter() - t0:.0f} s; phase velocities "
          f"counted: {mask.mean():.1%} (amplitude threshold "
          f"{'relative' if threshold is None else f'{threshold:.3g}'})", flush=True)
    t0 = time.perf_counter()
    model.motion_units = mu.fit(delta, mask)
    print(f"motion units learned in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    fu = FormUnits(args.n_form, log_variance=args.log_variance, center_units=args.center_units,
                   step=args.form_step, init=args.form_init, **common)
    model.form_units = fu.fit(fu.fit_features(Z_form))
    print(f"form units learned in {time.perf_counter() - t0:.0f} s", flush=True)
    return model


#: the issue's goals for the shipped model: (figure, key of the learned summary, least value)
GOALS = (("translation detectors", ("motion", "n_detectors"), 20),
         ("local translation detectors", ("motion", "n_local"), 5),
         ("quadrants of direction covered", ("motion", "direction_quadrants"), 4),
         ("active form units", ("form", "n_active"), 30),
         ("median orientation concentration, active form units",
          ("form", "median_orientation_concentration_active"), 0.7))


def measure(model: PixelModel, heldout: np.ndarray, seed: int) -> tuple[dict, np.ndarray]:
    """The second layer's measures, learned next to random columns: motion-unit templates
    (`csc.analysis.motion_templates`) and form-unit inputs and activity on the held-out
    sequences (`csc.analysis.form_measures`). Prints them and the goals. Returns the figures
    and the learned form units' activities on the held-out sequences (n, T, L)."""
    motion = motion_templates.motion_unit_measures(model, seed)
    form, activities = form_measures.form_unit_measures(model, heldout, seed)
    for name in ("learned", "random"):
        m, f = motion[name], form[name]
        print(f"{name} columns: {m['n_detectors']} of {m['n_units']} motion units are "
              f"translation detectors ({m['n_local']} local, {m['n_global']} global; directions "
              f"in {m['direction_quadrants']} quadrants, widest gap "
              f"{m['largest_direction_gap']:.0f}°), median R² global {m['median_r2_global']:.2f}"
              f" / best quadrant {m['median_r2_quadrant']:.2f} / rotation "
              f"{m['median_r2_rotation']:.2f} / expansion {m['median_r2_expansion']:.2f}; "
              f"{f['n_active']} of {f['n_units']} form units active, median orientation "
              f"concentration {f['median_orientation_concentration_active']:.2f} (active) / "
              f"{f['median_orientation_concentration']:.2f} (all)")
    figures = {"motion": motion, "form": form}
    for label, (part, key), least in GOALS:
        value = figures[part]["learned"][key]
        print(f"goal: {label} >= {least}: {value:.3g} ({'met' if value >= least else 'not met'}; "
              f"random columns {figures[part]['random'][key]:.3g})")
    return figures, activities


def draw(model: PixelModel, out: Path, heldout: np.ndarray, figures: dict,
         activities: np.ndarray) -> list[Path]:
    """motion_units.png (translation detectors first), form_units.png and form_inputs.png (the
    most used form units first, with the held-out frames that drive them most: `activities`
    (n, T, L) of the form units on `heldout`); returns the paths."""
    B = model.bases_pixels()
    centres = bg.envelope_centre(B)
    fits = figures["motion"]["units"]
    motion_order = np.argsort(-np.maximum(fits["global"], fits["quadrant"]), kind="stable")
    activity = np.asarray(figures["form"]["activity"])
    form_order = np.argsort(-activity, kind="stable")
    # motion weights act on phase velocities, which turn with the signed frequency
    save_second_layer_png(model.motion_units.components_, centres, bg.unit_frequency(B),
                          out / "motion_units.png", units=motion_order,
                          title="motion units, translation detectors first", mirror="odd")
    save_second_layer_png(model.form_units.components_, centres, bg.unit_frequency(B, signed=False),
                          out / "form_units.png", units=form_order,
                          title="form units, most used first", mirror="even")
    used = form_order[activity[form_order] > 0][:8]
    save_form_units_png(model.form_units.components_, centres, bg.orientation(B),
                        activities, heldout, out / "form_inputs.png",
                        units=used)
    return [out / "motion_units.png", out / "form_units.png", out / "form_inputs.png"]


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Learn, store, measure and draw the second layer; 0 on success, 2 on bad input."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.threads
    try:
        args = build_parser().parse_args(argv)
        check_counts(args, {name: 1 for name in ("n_motion", "n_form", "n_sequences",
                                                 "n_heldout", "n_updates", "batch_size")})
        if not args.log_variance > 0:
            raise UsageError(f"--log-variance must be > 0, got {args.log_variance}")
        for name in ("sprite_share", "form_sprite_share"):
            if not 0 <= getattr(args, name) <= 1:
                raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1], got "
                                 f"{getattr(args, name)}")
        if not 0 < args.on_fraction <= 1:
            raise UsageError(f"--on-fraction must be in (0, 1], got {args.on_fraction}")
        # the run folder is this process's until the end: a learner resuming in it (or another
        # csc-second-layer) would otherwise overwrite model.npz with its own copy
        folder = Path(args.out) if args.model is None else Path(args.model).parent
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"--out {folder} exists and is not a folder")
        with run_lock(folder):
            return _learn_measure_draw(args)
    except (UsageError, RunError, VideoError, ValueError, OSError) as exc:
        return fail(PROG, exc)


def _learn_measure_draw(args: argparse.Namespace) -> int:
    """The work of `main` once the options are checked and the run folder locked."""
    if args.model is None:
        args.model = str(copy_pretrained(Path(args.out)))
    model = learn(args)
    model.save(args.model, extra=load_extra(args.model))  # keeps the run resumable
    _, heldout = run_sequences(args.model, args.n_heldout, seed=args.seed + 1,
                               video_dir=args.heldout_dir)
    out = Path(args.model).parent
    figures, activities = measure(model, heldout, args.seed)
    paths = draw(model, out, heldout, figures, activities)
    if args.tuning:
        figures["tuning"] = report_tuning(model, out, args.seed)
    write_json(out / "second_layer.json", figures)
    print(f"stored {args.n_motion} motion and {args.n_form} form units in {args.model}; wrote "
          f"{', '.join(str(p) for p in paths)} and {out / 'second_layer.json'}", flush=True)
    return 0
