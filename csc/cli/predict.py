"""Next-frame prediction on real video: how well the phases carry the motion that follows.

    csc-predict [VIDEO ...] [--model MODEL.npz] [--out DIR] [--n-sequences 300] [--n-frames 4]
        [--n-ahead 3] [--downsample 1] [--max-frames 300] [--min-change 0.01]
        [--method phase translation ...]
    python scripts/predict.py [options]

For every VIDEO (a video file, a folder of numbered frames or a folder of such; default: the
bundled clip with real motion, `csc.resources.motion_dir()`), `csc.analysis.prediction_trials`
cuts --n-sequences patch sequences of --n-frames input frames plus --n-ahead future frames (no
shot cut inside, the last input frame with contrast and moving), and every method of
`PixelModel.predict_frames` predicts the future frames from the input frames. Each is scored by
its squared error per step ahead divided by that of holding the last frame (below 1 beats
holding still), next to the references: the model's static reconstruction of the last frame,
pixel-wise linear extrapolation, and the true future frames' phases on the last frame's
amplitudes ("true phases": it reads the future, so it is no bound, but it shows how much phases
alone can carry).

Writes DIR/predict.json (every ratio, the sequence counts and the settings), DIR/predict.png
(ratios against steps ahead, one panel per clip) and DIR/predict_<clip>.gif (six sequences, one
per row, upscaled; columns: the truth, holding the last frame, then each --method in its order;
the input frames, then the predicted ones), and prints a Markdown table of the next-frame ratios
and the mean over clips.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from csc import pretrained
from csc.analysis import prediction, prediction_trials
from csc.cli.common import ArgumentParser, UsageError, check_counts, load_pixel_model, run_command
from csc.cli.interrupts import stops_on_interrupt
from csc.io import write_json
from csc.plotting.prediction import save_error_ratios_png, side_by_side
from csc.resources import motion_dir
from csc.testing.movies import write_video
from csc.video.reader import VideoError, find_videos, iter_frames

PROG = "csc-predict"
N_GIF = 6  # sequences per GIF
ZOOM = 6


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", nargs="*", metavar="VIDEO",
                    help="video files, folders of numbered frames or folders of videos "
                         "(default: the bundled clip with real motion)")
    ap.add_argument("--model", default="pretrained",
                    help="a model.npz written by learn_dictionary.py, or 'pretrained' (default)")
    ap.add_argument("--out", default="runs/predict", help="output folder (default runs/predict)")
    ap.add_argument("--method", nargs="+", default=list(prediction.METHODS),
                    choices=prediction.METHODS, help="methods to score (default: all)")
    ap.add_argument("--n-sequences", type=int, default=300, help="sequences per clip")
    ap.add_argument("--n-frames", type=int, default=4, help="input frames per sequence (>= 2)")
    ap.add_argument("--n-ahead", type=int, default=3, help="frames to predict (>= 1)")
    ap.add_argument("--downsample", type=int, default=1,
                    help="block-average frames by this factor first")
    ap.add_argument("--max-frames", type=int, default=300, help="frames read per clip")
    ap.add_argument("--min-std", type=float, default=0.03,
                    help="least pixel std of a sequence's last input frame")
    ap.add_argument("--min-change", type=float, default=0.01,
                    help="least rms change of a sequence's last input transition")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def check_args(args: argparse.Namespace) -> None:
    check_counts(args, {"n_sequences": 1, "n_frames": 2, "n_ahead": 1, "downsample": 1,
                        "max_frames": 2})
    for name in ("min_std", "min_change"):
        if not np.isfinite(getattr(args, name)) or getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0")


def video_paths(args: argparse.Namespace) -> list[Path]:
    """The clips to score: every video under the arguments (`find_videos`: files, folders of
    videos, folders of numbered frames), or under the bundled motion folder."""
    roots = [Path(v) for v in args.videos] or [motion_dir()]
    for root in roots:
        if not root.exists():
            raise UsageError(f"no such video: {root}")
    return [v.path for root in roots for v in find_videos(root)]


def read_clip(path: Path, args: argparse.Namespace) -> np.ndarray:
    """Frames float32 (n, H, W) in [0, 1] of one clip."""
    frames = list(iter_frames(path, downsample=args.downsample, max_frames=args.max_frames))
    need = args.n_frames + args.n_ahead
    if len(frames) < need:
        raise VideoError(f"video {path} has {len(frames)} frames; a sequence needs {need}")
    return np.stack(frames)


def table(ratios: dict, names: list[str]) -> list[str]:
    """Markdown rows: next-frame ratio per clip and their mean."""
    clips = list(ratios)
    lines = ["| | " + " | ".join(clips) + " | mean |", "|---" * (len(clips) + 2) + "|"]
    for name in names:
        values = [ratios[c][name][0] for c in clips]
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values)
                     + f" | {np.mean(values):.3f} |")
    return lines


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = pretrained() if args.model == "pretrained" else load_pixel_model(args.model)
    names = [*prediction_trials.REFERENCES, *args.method]
    result = {"model": args.model, "auto": prediction.AUTO_METHOD,
              "settings": {k: getattr(args, k) for k in ("n_sequences", "n_frames", "n_ahead",
                                                           "downsample", "max_frames", "min_std",
                                                           "min_change", "seed")},
              "clips": {}}
    ratios = {}
    for path in video_paths(args):
        frames = read_clip(path, args)
        inputs, future = prediction_trials.draw_sequences(
            frames, args.n_sequences, args.n_frames, args.n_ahead, model.patch_size,
            min_std=args.min_std, min_change=args.min_change, seed=args.seed)
        preds = prediction_trials.predictions(model, inputs, future, args.method)
        ratios[path.stem] = prediction_trials.score(preds, future)
        result["clips"][path.stem] = {"path": str(path), "n_sequences": len(inputs),
                                      "error_ratio": ratios[path.stem]}
        movie = [np.concatenate([inputs[:N_GIF], future[:N_GIF]], 1)]
        movie += [np.concatenate([inputs[:N_GIF], preds[k][:N_GIF]], 1)
                  for k in ("copy", *args.method)]
        rows = [side_by_side([m[i] for m in movie], ZOOM) for i in range(len(inputs[:N_GIF]))]
        gap = np.ones((rows[0].shape[0], 4, rows[0].shape[2]), np.float32)
        stacked = np.concatenate([part for row in rows for part in (row, gap)][:-1], axis=1)
        write_video(out / f"predict_{path.stem}.gif", stacked, fps=2)
    result["seconds"] = time.perf_counter() - t0
    write_json(out / "predict.json", result)
    save_error_ratios_png(ratios, out / "predict.png")
    print(f"next-frame squared error / holding the last frame (model {args.model}; "
          f"{args.n_frames} input frames; auto = {prediction.AUTO_METHOD})")
    print()
    print("\n".join(table(ratios, names[1:])))
    return result


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Score the clips; 0 on success, 2 on bad input (one line on stderr)."""
    return run_command(PROG, build_parser, check_args, run, argv)
