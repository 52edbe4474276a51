"""Transform transfer demo: carry a source pattern's motion over to an unseen target pattern.

    csc-transfer [--model RUN_DIR/model.npz | pretrained | planted | small] --out DIR
        [--method translation motion motion-joint] [--transform translation rotation dilation]
        [--source VIDEO --target VIDEO [--n-trials N]] [--real VIDEO [--real-downsample K]]
    python scripts/transfer_demo.py [options]

With --source and --target (video files or folders of numbered frames; `heldout` names the
bundled held-out clip data/heldout/tree.avi), source and target patches come from natural video:
`csc.analysis.transfer_trials` draws --n-trials (source, target) pairs per transform, each a
random frame and region (4 × the patch size on a side, with contrast) of each video under a random
transform of that kind (translation 0.5-1.5 px/frame in any direction, rotation 2-5 degrees per
frame, dilation exp(±0.02-0.05) per frame). When both are the same video the two regions never
overlap. The table then gives means over the predicted frames and over the trials, and how many
trials the prediction beats the static frame in; the GIFs show the first trial of each transform.

With --real VIDEO (a clip with real motion, e.g. the bundled data/motion/trailer_bbb.mp4), trials
whose source and target are two places of that clip that move the same way, measured in its
pixels (`csc.analysis.real_trials`), are added: nothing is moved synthetically. For translations
(synthetic and real) a second table gives the mean correlation by each frame's total
displacement, with the target's frame 0 moved in pixels by the true displacement
(pixel_shift) beside the static frame and the oracles.

Without --source/--target, the demo is the fixed one below.

For every transform, a source patch (1/f noise) undergoes it (`transformed_movie`); the phase
changes of its codes are applied to the codes of an unseen target (a crop of the held-out
photograph `data/heldout/coffee.png`) by `csc.analysis.transfer.predict`, and the
prediction is scored against the target really undergoing the same transform, next to the static
baseline (the target repeated), the phase-only oracle (the true target's own phases on its
first-frame amplitudes: it reads the truth, so it is no bound, but it shows how much of the
motion phases alone can carry) and the oracle (the true
transformed target encoded and decoded).

Writes DIR/transfer_<transform>_<method>.gif (source | prediction | truth, upscaled) and
DIR/scores.json (per-frame correlation and SNR of prediction, static baseline and oracle), and
prints a Markdown table of means over the predicted frames (t ≥ 1: frame 0 is the target itself).

The default model is the shipped pretrained one (`csc.pretrained()`). With --model small a small
model is learned first (csc.training.run, a few hundred updates on synthetic movies of stills and
noise panned, rotated and zoomed, under ~2 min on 2 cores), into DIR/model/. The "motion"
method uses the model's motion units (`model.motion_units`, from csc-second-layer);
"motion-joint" the same, with the source's codes and motion units inferred jointly
(`csc.second_layer.infer_joint`). When the model has none, motion units are fitted
here on the phase velocities of synthetic moving sequences (they are not saved into the model's
file).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from csc import pretrained
from csc.analysis import real_trials, transfer, transfer_trials
from csc.cli.common import ArgumentParser, UsageError, load_pixel_model, run_command
from csc.cli.interrupts import stops_on_interrupt
from csc.io import write_json
from csc.plotting.prediction import side_by_side
from csc.resources import heldout_dir
from csc.run_folder import RunError
from csc.second_layer import MotionUnits, second_layer_codes
from csc.testing.movies import natural_still, pink_noise, transformed_movie, write_video
from csc.testing.planted import planted_gabor_model
from csc.training.config import TrainConfig
from csc.training.run import train
from csc.video.camera import load_stills, resize_still
from csc.video.reader import VideoError, iter_frames

PROG = "csc-transfer"

TRANSFORMS = {  # per-frame parameters of transformed_movie
    "translation": dict(shift=(0.3, -0.4)),
    "rotation": dict(rotation=np.deg2rad(3.0)),
    "dilation": dict(zoom=1.03),
}
METHODS = transfer.METHODS
MODELS = ("pretrained", "planted", "small")  # --model values that are not files
HELDOUT = "heldout"  # --source/--target value naming the bundled held-out clip
DISPLACEMENT_EDGES = tuple(range(0, 12))  # px: bins of a translation trial frame's |t v|


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
    ap.add_argument("--source", help="a video (file or folder of numbered frames) to cut the "
                    f"source patches from, or '{HELDOUT}' for the bundled held-out clip "
                    "tree.avi; with --target: trials on natural video instead of the fixed demo")
    ap.add_argument("--target", help="a video to cut the target patches from (may be --source's: "
                    f"the regions are then kept apart), or '{HELDOUT}'")
    ap.add_argument("--real", help="a video (file or folder of numbered frames) with real motion: "
                    "adds trials whose source and target are two places of it that move the "
                    "same way (measured in its pixels)")
    ap.add_argument("--real-downsample", type=int, default=1,
                    help="block-average --real's frames by this factor first")
    ap.add_argument("--n-trials", type=int, default=50,
                    help="with --source/--target: (source, target) pairs per transform")
    ap.add_argument("--speed", type=float, nargs=2, default=list(transfer_trials.SPEED),
                    metavar=("LOW", "HIGH"),
                    help="with --source/--target: translation speeds drawn from [LOW, HIGH] "
                         f"px/frame (default {transfer_trials.SPEED[0]} "
                         f"{transfer_trials.SPEED[1]})")
    ap.add_argument("--min-contrast", type=float, default=0.5,
                    help="with --source/--target: a patch's std must reach this fraction of the "
                         "video's typical patch std")
    ap.add_argument("--n-frames", type=int, default=8, help="frames of each movie")
    ap.add_argument("--n-updates", type=int, default=300,
                    help="updates of the model learned with --model small")
    ap.add_argument("--n-motion", type=int, default=16,
                    help="motion units fitted when the model has none")
    ap.add_argument("--min-quality", type=float, default=0.5,
                    help="translation method: units less in quadrature keep their phase")
    ap.add_argument("--zoom", type=int, default=8, help="GIF upscaling factor")
    ap.add_argument("--first-layer-codes", action="store_true",
                    help="encode under the first layer's sparse prior instead of the model's "
                         "second-layer prior (an ablation: transfer then has fewer phases)")
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
    for name in ("n_updates", "n_motion", "zoom", "n_trials", "real_downsample"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if args.model not in MODELS and not Path(args.model).is_file():
        raise UsageError(f"--model {args.model}: no such file")
    check_videos(args)


def video_path(value: str) -> Path:
    """A --source/--target value as a path (`heldout`: the bundled held-out clip)."""
    return heldout_dir() / "tree.avi" if value == HELDOUT else Path(value)


def check_videos(args: argparse.Namespace) -> None:
    """--source and --target go together and name existing paths."""
    if (args.source is None) != (args.target is None):
        raise UsageError("--source and --target go together (they may name the same video)")
    for option in ("source", "target"):
        value = getattr(args, option)
        if value is not None and not video_path(value).exists():
            raise UsageError(f"--{option} {value}: no such file")
    if args.real is not None and not video_path(args.real).exists():
        raise UsageError(f"--real {args.real}: no such file")
    if not 0 <= args.speed[0] <= args.speed[1]:
        raise UsageError(f"--speed needs 0 <= LOW <= HIGH, got {args.speed[0]} {args.speed[1]}")
    if not args.min_contrast >= 0:
        raise UsageError(f"--min-contrast must be >= 0, got {args.min_contrast}")


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
    """MotionUnits on the phase velocities of synthetic moving sequences encoded by `model`
    (under its second-layer prior, `second_layer_codes`). A quick fit: 100 updates of the
    linear step, and each unit's mask threshold relative to its own amplitudes, since a model
    with no second layer has no calibrated absolute threshold."""
    rng = np.random.default_rng([seed, 20])
    stills = _stills(rng, 128)
    p = model.patch_size
    seqs = []
    for i in range(192):
        still = stills[i % len(stills)]
        seqs.append(transformed_movie(still, n_frames, p, **_random_motion(rng),
                                      center=tuple(rng.uniform(p, 128 - p, 2))))
    mu = MotionUnits(n_units, threshold=None, step="linear", n_updates=100, batch_size=32,
                     random_state=seed)
    return mu.fit(*mu.features(second_layer_codes(model, np.stack(seqs))))


def _means(s: dict) -> dict:
    c, r = np.asarray(s["correlation"]), np.asarray(s["snr_db"])
    return {"correlation": float(c[1:].mean()), "snr_db": float(r[1:].mean())}


def load_model(args: argparse.Namespace, out: Path):
    """(model, its name for the report) for --model."""
    if args.model == "small":
        return (learn_small_model(out, args.n_updates, args.seed, args.quiet),
                str(out / "model" / "model.npz"))
    if args.model == "pretrained":
        return pretrained(), "pretrained (csc.pretrained())"
    if args.model == "planted":
        return planted_gabor_model(), "planted Gabor quadrature pairs"
    return load_pixel_model(args.model), args.model


def method_options(args: argparse.Namespace, model) -> tuple[dict, str | None]:
    """({method: keyword arguments of transfer.predict}, where the motion units come from)."""
    options = {"translation": {"min_quality": args.min_quality}}
    mu_source = None
    if {"motion", "motion-joint"} & set(args.method):
        mu = getattr(model, "motion_units", None)
        mu_source = "model file"
        if mu is None:
            mu = fit_motion_units(model, args.n_motion, args.seed, args.n_frames)
            mu_source = f"fitted by the demo ({args.n_motion} units, synthetic sequences)"
        options["motion"] = options["motion-joint"] = {"motion_units": mu}
    return options, mu_source


TABLE_HEAD = ("| transform | method | corr. prediction | corr. static | corr. phase-only oracle "
              "| corr. oracle | SNR prediction (dB) | SNR static (dB) | SNR phase-only oracle (dB) "
              "| SNR oracle (dB) |")


def table(rows: list[tuple], beats: list[str] | None = None) -> list[str]:
    """Markdown lines: one row (transform, method, prediction, static, phase-only oracle,
    oracle) of {"correlation", "snr_db"} means each, and a last column `beats` when given."""
    head, rule = TABLE_HEAD, "|---" * 10 + "|"
    if beats is not None:
        head, rule = head + " beats static (trials) |", rule + "---|"
    lines = [head, rule]
    for i, (name, method, s, st, ph, o) in enumerate(rows):
        line = (f"| {name} | {method} | {s['correlation']:.3f} | {st['correlation']:.3f} | "
                f"{ph['correlation']:.3f} | {o['correlation']:.3f} | {s['snr_db']:.2f} | "
                f"{st['snr_db']:.2f} | {ph['snr_db']:.2f} | {o['snr_db']:.2f} |")
        lines.append(line + (f" {beats[i]} |" if beats is not None else ""))
    return lines


def run_demo(args: argparse.Namespace, model, options: dict, out: Path) -> tuple[dict, list]:
    """The fixed demo: a 1/f-noise source, the held-out still as target, one motion per
    transform. Returns (the scores.json entries, table rows)."""
    p = model.patch_size
    rng = np.random.default_rng([args.seed, 30])
    source_image = pink_noise((4 * p, 4 * p), rng)
    # the held-out still: no shipped model and no default run has seen it
    target_image = resize_still(load_stills(heldout_dir())[0], 4 * p)
    result = {"source": "1/f noise", "target": "coffee.png (held out)", "transforms": {}}
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
            pred = transfer.predict(model, source, truth[0], method=method,
                                    **options.get(method, {}))
            s = transfer.scores(pred, truth)
            m = {"prediction": s}
            if method == "translation":
                Zs = second_layer_codes(model, source[None])
                m["velocity"] = transfer.estimate_translation(model, Zs).tolist()
            entry["methods"][method] = m
            write_video(out / f"transfer_{name}_{method}.gif",
                        side_by_side([source, pred, truth], args.zoom,
                                     labels=gif_labels(method)), fps=4)
            rows.append((name, method, _means(s), _means(static_s), _means(phase_s),
                         _means(oracle_s)))
        result["transforms"][name] = entry
    return result, rows


def load_videos(args: argparse.Namespace, patch_size: int):
    """(source, target) `transfer_trials.VideoSample`s (one object when both are one file);
    a bad video raises UsageError naming the option."""
    paths = {o: video_path(getattr(args, o)) for o in ("source", "target")}
    videos = {}
    for option, path in paths.items():
        same = option == "target" and path.resolve() == paths["source"].resolve()
        try:
            videos[option] = videos["source"] if same else transfer_trials.load_video(
                path, patch_size, seed=args.seed)
        except VideoError as exc:
            raise UsageError(f"--{option}: {exc}") from None
    return videos["source"], videos["target"]


def gif_labels(method: str) -> list[str]:
    """The columns of a transfer GIF: the source movie, the prediction, the truth."""
    return ["source", f"predicted ({method})", "truth"]


def _on_trial(args: argparse.Namespace, out: Path, p: int, n_trials: int, label: str):
    """The on_trial callback of run_trials: the GIFs of the first trial, and a progress bar over
    the `n_trials` trials of `label` on stderr (unless --quiet), so that a long run is not
    silent."""
    from tqdm import tqdm

    # every trial is drawn (a trial takes a second or more), so the last count is shown before
    # the bar is cleared, however fast the trials go
    bar = tqdm(total=n_trials, unit="trial", desc=label, disable=args.quiet, leave=False,
               mininterval=0)

    def on_trial(i, trial, _scores, preds):
        if i == 0:
            source, truth = trial.movies(args.n_frames, p)
            for method, pred in preds.items():
                write_video(out / f"transfer_{trial.transform}_{method}.gif",
                            side_by_side([source, pred, truth], args.zoom,
                                         labels=gif_labels(method)), fps=4)
        bar.update(1)
        if bar.n >= n_trials:
            bar.close()
    return on_trial


def trial_entry(ts: transfer_trials.TrialScores) -> dict:
    """scores.json entry of one transform: means, trial counts, per-trial and per-frame
    figures and each trial's frames, regions and parameters."""
    names = list(ts.correlation)
    entry = {
        "mean": {k: {m: ts.mean(k, m) for m in ("correlation", "snr_db")} for k in names},
        "beats_static": {k: ts.beats_static(k) for k in ts.methods},
        "per_trial": {k: {m: ts.per_trial(k, m).tolist() for m in ("correlation", "snr_db")}
                      for k in names},
        "per_frame": {k: {"correlation": ts.correlation[k].tolist(),
                          "snr_db": ts.snr_db[k].tolist()} for k in names},
        "trials": [t.describe() for t in ts.trials]}
    if "shift" in ts.trials[0].parameters:
        entry["by_displacement"] = {"edges_px": list(DISPLACEMENT_EDGES),
                                    **{k: ts.by_displacement(k, DISPLACEMENT_EDGES)
                                       for k in names}}
    return entry


def displacement_table(entry: dict) -> list[str]:
    """Markdown lines: mean correlation per bin of total displacement (translation trials)."""
    table = entry["by_displacement"]
    edges = table["edges_px"]
    names = [k for k in table if k != "edges_px"]
    lines = ["| displacement (px) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        if table[names[0]][i] is None:
            continue
        lines.append(f"| {lo}–{hi} | " + " | ".join(f"{table[k][i]:.3f}" for k in names) + " |")
    return lines


def run_video_trials(args: argparse.Namespace, model, options: dict,
                     out: Path) -> tuple[dict, list, list]:
    """Natural-video trials. Returns (the scores.json entries, table rows, beats column)."""
    p = model.patch_size
    source, target = load_videos(args, p)
    same = transfer_trials.same_video(source, target)
    result = {"source": str(source.path), "target": str(target.path), "same_video": same,
              "n_trials": args.n_trials, "region": transfer_trials.REGION_PATCHES * p,
              "min_contrast": args.min_contrast,
              "video_frames": {"source": source.n_frames, "target": target.n_frames},
              "ranges": {"speed_px_per_frame": list(args.speed),
                         "rotation_deg_per_frame": transfer_trials.ROTATION_DEG,
                         "abs_log_zoom_per_frame": transfer_trials.LOG_ZOOM},
              "transforms": {}}
    rows, beats = [], []
    for name in args.transform:
        try:
            trials = transfer_trials.draw_trials(source, target, name, args.n_trials,
                                                 speed=tuple(args.speed),
                                                 seed=args.seed, min_contrast=args.min_contrast)
        except VideoError as exc:
            raise UsageError(str(exc)) from None
        ts = transfer_trials.run_trials(model, trials, args.n_frames, args.method, options,
                                        on_trial=_on_trial(args, out, p, len(trials),
                                                             f"{name} trials"))
        result["transforms"][name] = trial_entry(ts)
        mean = {k: {m: ts.mean(k, m) for m in ("correlation", "snr_db")} for k in ts.correlation}
        for method in args.method:
            rows.append((name, method, mean[method], mean["static"], mean["phase_oracle"],
                         mean["oracle"]))
            beats.append(f"{ts.beats_static(method)}/{len(trials)}")
    return result, rows, beats


def run_real_trials(args: argparse.Namespace, model, options: dict,
                    out: Path) -> tuple[dict, list, list]:
    """Trials from real motion in --real (`csc.analysis.real_trials`). Returns (the scores.json
    entry, table rows, beats column)."""
    path = video_path(args.real)
    try:
        frames = np.stack(list(iter_frames(path, downsample=args.real_downsample)))
    except VideoError as exc:
        raise UsageError(f"--real: {exc}") from None
    try:
        trials = real_trials.draw_real_trials(frames, args.n_trials, args.n_frames,
                                              model.patch_size, seed=args.seed)
    except ValueError as exc:
        raise UsageError(f"--real {path}: {exc}") from None
    ts = transfer_trials.run_trials(model, trials, args.n_frames, args.method, options,
                                    on_trial=_on_trial(args, out, model.patch_size,
                                                         len(trials), "real-motion trials"))
    entry = {"video": str(path), "downsample": args.real_downsample, "n_trials": len(trials),
             **trial_entry(ts)}
    mean = {k: {m: ts.mean(k, m) for m in ("correlation", "snr_db")} for k in ts.correlation}
    rows = [(ts.transform, method, mean[method], mean["static"], mean["phase_oracle"],
             mean["oracle"]) for method in args.method]
    return entry, rows, [f"{ts.beats_static(m)}/{len(trials)}" for m in args.method]


def run(args: argparse.Namespace) -> dict:
    """Score every (transform, method); write the GIFs and scores.json; print the table."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model, model_name = load_model(args, out)
    if args.first_layer_codes:
        model.second_layer_prior = None
        model_name += ", first-layer codes"
    t_model = time.perf_counter() - t0
    options, mu_source = method_options(args, model)
    result = {"model": model_name, "patch_size": model.patch_size, "n_frames": args.n_frames,
              "seed": args.seed, "motion_units": mu_source,
              "note": "means are over the predicted frames t >= 1 (frame 0 is the target)"}
    if args.source is not None:
        entries, rows, beats = run_video_trials(args, model, options, out)
        result["note"] += " and over the trials"
    else:
        (entries, rows), beats = run_demo(args, model, options, out), None
    result.update(entries)
    if args.real is not None:
        result["real"], real_rows, real_beats = run_real_trials(args, model, options, out)
    result["seconds"] = {"model": t_model, "total": time.perf_counter() - t0}
    write_json(out / "scores.json", result)

    trials = f"; {args.n_trials} trials per transform" if beats is not None else ""
    print(f"model: {model_name}; source: {result['source']}; target: {result['target']}"
          f"{trials}; {args.n_frames} frames; means over frames 1..{args.n_frames - 1}"
          f"{' and trials' if beats is not None else ''}")
    print()
    print("\n".join(table(rows, beats)))
    translation = result.get("transforms", {}).get("translation")
    if translation is not None and "by_displacement" in translation:
        print()
        print("translation trials, mean correlation by the frame's total displacement:")
        print("\n".join(displacement_table(translation)))
    if args.real is not None:
        real = result["real"]
        print()
        print(f"real motion: {real['n_trials']} pairs of places of {real['video']} that move the "
              f"same way (measured in the pixels)")
        print("\n".join(table(real_rows, real_beats)))
        print()
        print("real-motion trials, mean correlation by the frame's total displacement:")
        print("\n".join(displacement_table(real)))
    return result


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 on success, 2 on bad input (one line on stderr)."""
    return run_command(PROG, build_parser, check_args, run, argv, errors=(RunError,))
