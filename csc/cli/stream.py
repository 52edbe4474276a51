"""Stream a video through the model as it plays: each frame's codes as it arrives.

    csc-stream SOURCE [--model MODEL.npz] [--view VIEW.mp4|.gif] [--units 0 1 2]
        [--max-iter 10] [--tol 0] [--warm-start phase] [--stride S] [--downsample 1]
        [--max-frames N] [--fps F | --every-frame] [--backend auto] [--quiet]
    python scripts/stream.py SOURCE [options]

SOURCE is a video file or a folder of frames, played at its frame rate (--fps another rate;
--every-frame encodes every frame as fast as it can instead), or a camera or network stream
that FFmpeg opens (/dev/video0, rtsp://..., http://...), read as it comes. `csc.stream` solves
each frame with the previous frame's amplitudes fixed (causal inference), from the previous
codes with their phases advanced, for at most --max-iter iterations. When the encoder is slower
than the source it takes the newest frame and drops the ones in between, and says so: every two
seconds (without --quiet) and in its last line, which gives the frames encoded, frames/s and
frames dropped. --view writes the live view: the frame beside the amplitude and phase-velocity
maps of --units (`csc.plotting.live_view`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from csc.cli.common import ArgumentParser, UsageError, check_counts, load_pixel_model, run_command
from csc.cli.interrupts import stops_on_interrupt
from csc.video.reader import VideoError

PROG = "csc-stream"
REPORT_EVERY_S = 2.0


def build_parser() -> ArgumentParser:
    from csc.backends.backend import BACKENDS
    from csc.video.stream import WARM_STARTS

    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("source", help="a video file, a folder of frames, a device or a URL")
    ap.add_argument("--model", default="pretrained",
                    help="a model.npz of csc-learn (default: the pretrained model)")
    ap.add_argument("--view", default=None, help="write the live view to this .mp4 or .gif")
    ap.add_argument("--units", type=int, nargs="+", default=[0, 1, 2],
                    help="units drawn in the view")
    ap.add_argument("--max-iter", type=int, default=10, help="iterations per frame at most")
    ap.add_argument("--tol", type=float, default=0.0,
                    help="also stop a frame once its codes change by less (0: the full budget)")
    ap.add_argument("--warm-start", default="phase", choices=WARM_STARTS)
    ap.add_argument("--stride", type=int, default=None, help="grid step (default: half a patch)")
    ap.add_argument("--downsample", type=int, default=1)
    ap.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    pace = ap.add_mutually_exclusive_group()
    pace.add_argument("--fps", type=float, default=None,
                      help="play a file at this rate (default: its own)")
    pace.add_argument("--every-frame", action="store_true",
                      help="encode every frame of a file as fast as possible (no drops)")
    ap.add_argument("--backend", default="auto", choices=BACKENDS)
    ap.add_argument("--quiet", action="store_true", help="only the last line")
    return ap


def check_args(args: argparse.Namespace) -> None:
    check_counts(args, {"max_iter": 1, "downsample": 1})
    for name in ("stride", "max_frames"):
        if getattr(args, name) is not None:
            check_counts(args, {name: 1})
    if not args.tol >= 0:
        raise UsageError(f"--tol must be >= 0, got {args.tol}")
    if args.fps is not None and not args.fps > 0:
        raise UsageError(f"--fps must be > 0, got {args.fps}")
    if args.view is not None:
        view = Path(args.view)
        if view.suffix.lower() not in (".mp4", ".gif"):
            raise UsageError(f"--view must name a .mp4 or a .gif, got {args.view}")
        if not view.parent.is_dir():
            raise UsageError(f"--view {args.view}: the folder {view.parent} does not exist")


def _source(args: argparse.Namespace):
    """(frames for `stream`, the pace at which they come, in frames/s or None)."""
    from csc.video.reader import video_info
    from csc.video.stream import LiveFrames, open_frames

    frames = open_frames(args.source, args.downsample)
    if args.every_frame:
        return frames, None
    fps = args.fps
    if fps is None and Path(args.source).exists():
        fps = video_info(args.source, count_frames=False).get("fps") or 25.0
    return LiveFrames(frames, fps), fps


def run(args: argparse.Namespace) -> None:
    import itertools

    from csc import pretrained
    from csc.plotting.live_view import LiveView
    from csc.video.stream import stream

    model = pretrained() if args.model == "pretrained" else load_pixel_model(args.model)
    K = model.components_.shape[0]
    if not all(0 <= u < K for u in args.units):
        raise UsageError(f"--units must be between 0 and {K - 1} (the model has {K} units)")
    frames, fps = _source(args)
    view = LiveView(args.view, args.units, fps or 25.0) if args.view else None
    n, solving, start, last_report = 0, 0.0, time.perf_counter(), time.perf_counter()
    try:
        for got in itertools.islice(stream(model, frames, stride=args.stride,
                                           max_iter=args.max_iter, tol=args.tol,
                                           warm_start=args.warm_start, backend=args.backend),
                                    args.max_frames):
            n, solving = n + 1, solving + got.seconds
            if view is not None:
                view.add(got.frame, got.codes, got.grid)
            now = time.perf_counter()
            if not args.quiet and now - last_report >= REPORT_EVERY_S:
                print(f"{n} frames, {n / (now - start):.1f} frames/s{_dropped(frames)}",
                      flush=True)
                last_report = now
    finally:
        if hasattr(frames, "close"):
            frames.close()
        if view is not None:
            view.close()
    if n == 0:
        raise VideoError(f"{args.source} gave no frame")
    seconds = time.perf_counter() - start
    grid = got.grid
    print(f"{n} frames of {grid.height}x{grid.width} ({grid.rows}x{grid.cols} patches, {K} "
          f"units) encoded in {seconds:.1f} s: {n / seconds:.1f} frames/s, "
          f"{1000 * solving / n:.0f} ms per frame solving{_dropped(frames, final=True)}"
          + (f"; view: {args.view}" if args.view else ""))


def _dropped(frames, final: bool = False) -> str:
    dropped = getattr(frames, "dropped", 0)
    if not dropped:
        return ", no frame dropped" if final and hasattr(frames, "dropped") else ""
    return (f", {dropped} of {frames.n_read} frames dropped (the source is faster than the "
            f"encoder: lower --max-iter, raise --stride or --downsample)")


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Stream SOURCE; 0 on success, 2 with one line on stderr for bad input."""
    return run_command(PROG, build_parser, check_args, run, argv, errors=(VideoError,))


if __name__ == "__main__":
    sys.exit(main())
