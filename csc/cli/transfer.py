"""Transform transfer demo: carry a source pattern's motion over to an unseen target pattern.

    csc-transfer [--model RUN_DIR/model.npz | pretrained | planted | small] --out DIR
        [--method translation motion] [--transform translation rotation dilation]
    python scripts/transfer_demo.py [options]

For every transform, a source patch (1/f noise) undergoes it (`transformed_movie`); the phase
changes of its codes are applied to the codes of an unseen target (a crop of the held-out
photograph `data/heldout/coffee.png`) by `csc.analysis.transfer.predict`, and the
prediction is scored against the target really undergoing the same transform, next to the static
baseline (the target repeated), the phase-only oracle (the true target's own phases on its
first-frame amplitudes: the ceiling for any predicted phase change) and the oracle (the true
transformed target encoded and decoded).

Writes DIR/transfer_<transform>_<method>.gif (source | prediction | truth, upscaled) and
DIR/scores.json (per-frame correlation and SNR of prediction, static baseline and oracle), and
prints a Markdown table of means over the predicted frames (t ≥ 1: frame 0 is the target itself).

The default model is the shipped pretrained one (`csc.pretrained()`). With --model small a small
model is learned first (csc.video.train, a few hundred updates on synthetic movies of stills and
noise panned, rotated and zoomed, under ~2 min on 2 cores), into DIR/model/. The "motion"
method uses the model's motion units (`model.motion_units`, from csc-second-layer); when the
model has none, motion units are fitted here on the phase velocities of synthetic moving
sequences (they are not saved into the model's file).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from csc import pretrained
from csc.analysis import transfer
from csc.analysis.phases import phase_velocity
from csc.analysis.second_layer import MotionUnits
from csc.backends.cpu.threads import prefer_passive_openmp
from csc.cli.common import ArgumentParser, UsageError, fail
from csc.io import load
from csc.resources import heldout_dir
from csc.testing.movies import natural_still, pink_noise, transformed_movie, write_video
from csc.testing.planted import planted_gabor_model
from csc.video.camera import load_stills, resize_still
from csc.video.pixel_model import PixelModel
from csc.video.train import RunError, TrainConfig, train

PROG = "csc-transfer"

TRANSFORMS = {  # per-frame parameters of transformed_movie
    "translation": dict(shift=(0.3, -0.4)),
    "rotation": dict(rotation=np.deg2rad(3.0)),
    "dilation": dict(zoom=1.03),
}
METHODS = ("translation", "motion")
MODELS = ("pretrained", "planted", "small")  # --model values that are not files


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default="pretrained",
                    help="a learned model (RUN_DIR/model.npz), 'pretrained' (the shipped model, "
                         "csc.pretrained()), 'planted' for a dictionary of complex Gabor "
                         "quadrature pairs with known frequencies, or 'small' to learn a small one "
                         "on synthetic movies first")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--method", nargs="+", default=list(METHODS), help=f"of {METHODS}")
    ap.add_argument("--transform", nargs="+", default=list(TRANSFORMS),
                    help=f"of {tuple(TRANSFORMS)}")
    ap.add_argument("--n-frames", type=int, default=8, help="frames of each movie")
    ap.add_argument("--n-updates", type=int, default=300,
                    help="updates of the model learned with --model small")
    ap.add_argument("--n-motion", type=int, default=16,
                    help="motion units fitted when the model has none")
    ap.add_argument("--min-quality", type=float, default=0.5,
                    help="translation method: units less in quadrature keep their phase")
    ap.add_argument("--zoom", type=int, default=8, help="GIF upscaling factor")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    return ap


def check_args(args: argparse.Namespace) -> None:
    """Raise UsageError naming the first bad option."""
    for m in args.method:
        if m not in METHODS:
            raise UsageError(f"unknown --method {m!r}; choose from {', '.join(METHODS)}")
    for t in args.transform:
        if t not in TRANSFORMS:
            raise UsageError(f"unknown --transform {t!r}; choose from {', '.join(TRANSFORMS)}")
    if args.n_frames < 2:
        raise UsageError(f"--n-frames must be at least 2, got {args.n_frames}")
    for name in ("n_updates", "n_motion", "zoom"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if args.model not in MODELS and not Path(args.model).is_file():
        raise UsageError(f"--model {args.model}: no such file")


def _stills(rng, size: int) -> list[np.ndarray]:
    """Training stills: photographs not used as demo targets (when scikit-image is there) and
    1/f noise textures."""
    stills = [pink_noise((size, size), rng) for _ in range(3)]
    for name in ("camera", "brick", "grass", "coffee"):
        try:
            stills.append(natural_still(name, size))
        except (ImportError, ValueError):
            pass
    return stills


def _random_motion(rng) -> dict:
    kind = rng.integers(3)
    if kind == 0:
        angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.5)
        return dict(shift=(speed * np.sin(angle), speed * np.cos(angle)))
    if kind == 1:
        return dict(rotation=np.deg2rad(rng.choice([-1, 1]) * rng.uniform(2, 8)))
    return dict(zoom=float(np.exp(rng.choice([-1, 1]) * rng.uniform(0.02, 0.06))))


def learn_small_model(out: Path, n_updates: int, seed: int, quiet: bool):
    """Synthetic training movies in out/videos, a model learned on them in out/model."""
    rng = np.random.default_rng([seed, 10])
    videos = out / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    n = 0
    for still in _stills(rng, 160):
        for _ in range(4):
            movie = transformed_movie(still, 24, 48, **_random_motion(rng),
                                      center=tuple(rng.uniform(40, 120, 2)))
            write_video(videos / f"movie_{n:03d}.gif", movie, fps=10)
            n += 1
    cfg = TrainConfig(video_dir=str(videos), out=str(out / "model"), patch_size=16, n_frames=8,
                      n_components=96, n_updates=n_updates, batch_size=24, whiten_patches=20000,
                      checkpoint_every=max(n_updates, 1), seed=seed, backend="cpu")
    return train(cfg, force=True, progress=not quiet)


def fit_motion_units(model, n_units: int, seed: int, n_frames: int):
    """MotionUnits on the phase velocities of synthetic moving sequences encoded by `model`."""
    rng = np.random.default_rng([seed, 20])
    stills = _stills(rng, 128)
    p = model.patch_size
    seqs = []
    for i in range(192):
        still = stills[i % len(stills)]
        seqs.append(transformed_movie(still, n_frames, p, **_random_motion(rng),
                                      center=tuple(rng.uniform(p, 128 - p, 2))))
    Z = model.encode_patches(np.stack(seqs))
    delta, mask = phase_velocity(Z)
    mu = MotionUnits(n_units, n_updates=100, batch_size=32, random_state=seed)
    return mu.fit(delta, mask)


def side_by_side(columns: list[np.ndarray], zoom: int, gap: int = 4) -> np.ndarray:
    """Movies (T, p, p) → one movie (T, zoom·p, n·zoom·p + gaps), values clipped to [0, 1]."""
    T = columns[0].shape[0]
    big = [np.kron(np.clip(c, 0, 1), np.ones((1, zoom, zoom))) for c in columns]
    spacer = np.ones((T, big[0].shape[1], gap), np.float32)
    parts = []
    for i, b in enumerate(big):
        parts += [b] if i == 0 else [spacer, b]
    return np.concatenate(parts, axis=2)


def _means(s: dict) -> dict:
    c, r = np.asarray(s["correlation"]), np.asarray(s["snr_db"])
    return {"correlation": float(c[1:].mean()), "snr_db": float(r[1:].mean())}


def run(args: argparse.Namespace) -> dict:
    """Score every (transform, method); write the GIFs and scores.json; print the table."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.model == "small":
        model = learn_small_model(out, args.n_updates, args.seed, args.quiet)
        model_name = str(out / "model" / "model.npz")
    elif args.model == "pretrained":
        model, model_name = pretrained(), "pretrained (csc.pretrained())"
    elif args.model == "planted":
        model, model_name = planted_gabor_model(), "planted Gabor quadrature pairs"
    else:
        try:
            model = load(args.model)
        except (OSError, KeyError) as exc:
            raise UsageError(f"cannot read --model {args.model}: {exc}") from None
        if not isinstance(model, PixelModel):
            raise UsageError(f"--model {args.model} has no whitener: it was not written by "
                            f"learn_dictionary.py")
        model_name = args.model
    t_model = time.perf_counter() - t0
    p = model.patch_size
    options = {}
    mu_source = None
    if "motion" in args.method:
        mu = getattr(model, "motion_units", None)
        mu_source = "model file"
        if mu is None:
            mu = fit_motion_units(model, args.n_motion, args.seed, args.n_frames)
            mu_source = f"fitted by the demo ({args.n_motion} units, synthetic sequences)"
        options["motion_units"] = mu

    rng = np.random.default_rng([args.seed, 30])
    source_image = pink_noise((4 * p, 4 * p), rng)
    # the held-out still: no shipped model and no default run has seen it
    target_image = resize_still(load_stills(heldout_dir())[0], 4 * p)
    target_name = "coffee.png (held out)"

    result = {"model": model_name, "patch_size": p, "n_frames": args.n_frames,
              "source": "1/f noise", "target": target_name, "motion_units": mu_source,
              "note": "means are over the predicted frames t >= 1 (frame 0 is the target)",
              "transforms": {}}
    rows = []
    for name in args.transform:
        params = TRANSFORMS[name]
        source = transformed_movie(source_image, args.n_frames, p, **params)
        truth = transformed_movie(target_image, args.n_frames, p, **params)
        static_s = transfer.scores(transfer.static_baseline(truth[0], args.n_frames), truth)
        oracle_s = transfer.scores(transfer.oracle(model, truth), truth)
        phase_s = transfer.scores(transfer.phase_oracle(model, truth), truth)
        entry = {"parameters": {k: np.asarray(v).tolist() for k, v in params.items()},
                 "static": static_s, "oracle": oracle_s, "phase_oracle": phase_s, "methods": {}}
        for method in args.method:
            extra = {"min_quality": args.min_quality} if method == "translation" else {}
            pred = transfer.predict(model, source, truth[0], method=method, **options, **extra)
            s = transfer.scores(pred, truth)
            m = {"prediction": s}
            if method == "translation":
                Zs = model.encode_patches(source[None])
                m["velocity"] = transfer.estimate_translation(model, Zs).tolist()
            entry["methods"][method] = m
            write_video(out / f"transfer_{name}_{method}.gif",
                        side_by_side([source, pred, truth], args.zoom), fps=4)
            rows.append((name, method, _means(s), _means(static_s), _means(phase_s),
                         _means(oracle_s)))
        result["transforms"][name] = entry
    result["seconds"] = {"model": t_model, "total": time.perf_counter() - t0}
    (out / "scores.json").write_text(json.dumps(result, indent=1))

    print(f"model: {model_name}; source: 1/f noise; target: {target_name}; "
          f"{args.n_frames} frames; means over frames 1..{args.n_frames - 1}")
    print()
    print("| transform | method | corr. prediction | corr. static | corr. phase-only oracle "
          "| corr. oracle | SNR prediction (dB) | SNR static (dB) | SNR phase-only oracle (dB) "
          "| SNR oracle (dB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, method, s, st, ph, o in rows:
        print(f"| {name} | {method} | {s['correlation']:.3f} | {st['correlation']:.3f} | "
              f"{ph['correlation']:.3f} | {o['correlation']:.3f} | {s['snr_db']:.2f} | "
              f"{st['snr_db']:.2f} | {ph['snr_db']:.2f} | {o['snr_db']:.2f} |")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 on success, 2 on bad input (one line on stderr)."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.backends.cpu.threads
    try:
        args = build_parser().parse_args(argv)
        check_args(args)
        run(args)
    except (UsageError, RunError, ValueError, OSError) as exc:
        return fail(PROG, exc)
    return 0
