"""Encode whole videos into a Zarr store of codes, in-process or on a Dask cluster.

    csc-encode-video MODEL VIDEO... --out codes.zarr [options]
    csc-encode-video --pretrained VIDEO... --out codes.zarr [options]
    python scripts/encode_video.py MODEL VIDEO... --out codes.zarr [options]

Each VIDEO (a video file or a folder of numbered frames) gets one group of the store, named
from its file stem: arrays `amplitude` and `phase` (float32; `codes`, complex64, with --codes)
of shape (T, rows, cols, K), one code vector per patch of a grid with step --stride (default
half the patch size) per frame, chunked (--chunk-frames, rows, cols, K); its attributes hold
the grid, every setting, the model's sha256 and the source (csc.video.code_store). Each chunk
of frames is one task that reads its frames from the video itself and encodes them in one
solve: slowness links frames within a chunk only (csc.video.encode_video).

Without --workers or --scheduler the chunks are computed in this process, one after the other,
each with every core. --workers N starts a local Dask cluster of N worker processes with one
thread each; --scheduler tcp://HOST:PORT uses a running cluster, whose workers must see the
videos and the store at the same paths.

A run that stops (Ctrl-C, kill -9) is resumed by the same command: the chunks already written
are skipped, and the store ends as an uninterrupted run's. A store written with other settings
or another model is refused unless --force (which deletes it, once every input has been
checked). The store is locked while a run writes it (a file beside it, STORE.lock).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from csc.backends.backend import BACKENDS
from csc.cli.common import ArgumentParser, UsageError, fail
from csc.cli.interrupts import stops_on_interrupt
from csc.cluster import check_cluster_options, dask_client
from csc.model_files import load
from csc.resources import pretrained_dir
from csc.run_folder import RunError
from csc.threads import prefer_passive_openmp
from csc.video import code_store, code_writer
from csc.video.encode_video import (
    CAUSAL_LEAD_FRAMES,
    CAUSAL_START_ITERS,
    DEFAULT_CHUNK_FRAMES,
    STARTS,
)
from csc.video.pixel_model import PixelModel
from csc.video.reader import VideoError

PROG = "csc-encode-video"


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("inputs", nargs="+", metavar="MODEL VIDEO",
                    help="a learned model (RUN_DIR/model.npz; not with --pretrained), then one "
                         "or more videos (files or folders of numbered frames)")
    ap.add_argument("--out", required=True, help="the Zarr store to write (a folder)")
    ap.add_argument("--pretrained", action="store_true",
                    help="encode with the shipped pretrained model (csc.pretrained())")
    ap.add_argument("--stride", type=int, default=None,
                    help="grid step in pixels (default: half the patch size)")
    ap.add_argument("--chunk-frames", type=int, default=DEFAULT_CHUNK_FRAMES,
                    help="frames per chunk: one task, one solve")
    ap.add_argument("--codes", action="store_true",
                    help="store the complex codes (`codes`) instead of `amplitude` and `phase`")
    ap.add_argument("--max-iter", type=int, default=None,
                    help="FISTA iterations at most per chunk (default: the model's "
                         "transform_max_iter)")
    ap.add_argument("--tol", type=float, default=None,
                    help="stop a chunk's solve at this relative change (default: the model's "
                         "transform_tol)")
    ap.add_argument("--downsample", type=int, default=1,
                    help="block-average frames by this factor before cutting patches")
    ap.add_argument("--max-frames", type=int, default=None, help="encode at most this many "
                    "frames of each video")
    ap.add_argument("--backend", default="auto", help=f"one of {BACKENDS}")
    ap.add_argument("--start", default="zeros", choices=STARTS,
                    help="each chunk's solve starts from zero codes, or from a causal pass "
                         "over its frames (then a small --max-iter suffices; with --max-iter 0 "
                         "the causal pass's codes are stored, the fastest encoding)")
    ap.add_argument("--causal-iter", type=int, default=CAUSAL_START_ITERS,
                    help="iterations per frame of the causal pass (--start causal; default "
                         "%(default)s)")
    ap.add_argument("--causal-lead", type=int, default=CAUSAL_LEAD_FRAMES,
                    help="frames before each chunk that its causal pass runs over first, so "
                         "that chunks join as one stream (--start causal; default %(default)s)")
    ap.add_argument("--workers", type=int, default=None,
                    help="start a local Dask cluster of this many worker processes (1 thread "
                         "each)")
    ap.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                    help="use a running Dask cluster")
    ap.add_argument("--force", action="store_true",
                    help="delete an existing store written with other settings")
    ap.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return ap


def check_args(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """(model file, videos) from the positional arguments; UsageError for bad options."""
    if args.pretrained:
        model_path, videos = pretrained_dir() / "model.npz", list(args.inputs)
    else:
        if len(args.inputs) < 2:
            raise UsageError("give a MODEL and at least one VIDEO (or --pretrained VIDEO...)")
        model_path, videos = Path(args.inputs[0]), list(args.inputs[1:])
        if not model_path.is_file():
            raise UsageError(f"MODEL {model_path}: no such file" + (
                " (with --pretrained, give only videos)" if model_path.is_dir() else ""))
    for video in videos:  # before a cluster starts; what else is wrong is found by indexing
        if not Path(video).exists():
            raise UsageError(f"no such video file or frame folder: {video}")
    causal = args.start == "causal"
    lowest = {"max_iter": 0 if causal else 1, "causal_lead": 0}  # the others: 1
    for name in ("stride", "chunk_frames", "max_iter", "downsample", "max_frames", "workers",
                 "causal_iter", "causal_lead"):
        value, low = getattr(args, name), lowest.get(name, 1)
        if value is not None and value < low:
            what = "a positive integer" if low else "a non-negative integer"
            what += " with --start causal" if name == "max_iter" and causal else ""
            raise UsageError(f"--{name.replace('_', '-')} must be {what}, got {value}")
    if args.start != "causal" and (args.causal_iter, args.causal_lead) != (CAUSAL_START_ITERS,
                                                                           CAUSAL_LEAD_FRAMES):
        raise UsageError("--causal-iter and --causal-lead set the causal pass: they need "
                         "--start causal")
    if args.tol is not None and not args.tol >= 0:
        raise UsageError(f"--tol must be >= 0, got {args.tol}")
    if args.backend not in BACKENDS:
        raise UsageError(f"unknown --backend {args.backend!r}; choose one of {BACKENDS}")
    check_cluster_options(args.workers, args.scheduler)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    return model_path, videos


def load_model(path: Path) -> PixelModel:
    model = load(path)
    if not isinstance(model, PixelModel):
        raise UsageError(f"{path} holds a {type(model).__name__}, not a pixel model (a "
                         f"model.npz of csc-learn, or --pretrained)")
    return model


@stops_on_interrupt(PROG, "run the same command again to continue")
def main(argv: Sequence[str] | None = None) -> int:
    """Encode the videos into the store; 0 on success, 2 on bad input."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.threads
    try:
        args = build_parser().parse_args(argv)
        model_path, videos = check_args(args)
        model = load_model(model_path)
        with dask_client(args.workers, args.scheduler) as client:
            done = code_writer.write_videos(
                model, videos, args.out, model_file=model_path,
                layout="codes" if args.codes else "amplitude-phase", stride=args.stride,
                chunk_frames=args.chunk_frames, max_iter=args.max_iter, tol=args.tol,
                downsample=args.downsample, max_frames=args.max_frames, backend=args.backend,
                start=args.start, causal_iter=args.causal_iter, causal_lead=args.causal_lead,
                force=args.force, client=client, progress=not args.quiet)
    except code_store.StoreMismatch as exc:
        return fail(PROG, f"{exc}; --force overwrites it")
    except (UsageError, VideoError, RunError, ValueError, OSError) as exc:
        return fail(PROG, exc)
    if not args.quiet:
        for name, v in done.videos.items():
            g = v.grid
            print(f"{args.out}/{name}: {v.source} {v.n_frames} frames, {g.rows}x{g.cols} "
                  f"patches of {g.patch_size} px every {g.stride} px, "
                  f"{v.attrs['model']['n_components']} units, {v.attrs['n_chunks']} chunks of "
                  f"{v.attrs['settings']['chunk_frames']} frames")
        rate = (f", {done.frames_computed / done.seconds:.2f} frames/s"
                if done.frames_computed else "")
        print(f"{done.n_computed} chunks encoded in {done.seconds:.1f} s{rate} "
              f"({done.n_chunks - done.n_computed} already done)")
    return 0
