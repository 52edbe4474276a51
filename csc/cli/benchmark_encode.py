"""Benchmark encoding whole videos (`csc.encode_video`) against pymoten's motion-energy pyramid.

    python scripts/benchmark_encode.py [--n-frames 128] [--workers 1 2] [--stream-iter 10]
        [--causal-start-iter 20] [--json bench.json]
    python scripts/benchmark_encode.py --profile        # why: iterations, time per iteration

Both encode the same frames at the same size: the bundled held-out clip data/heldout/tree.avi
resized to 144×192 gray (its 68 frames played forward and back up to --n-frames), written as a
folder of PNG frames that csc reads chunk by chunk and pymoten gets as one array. Measured in
one run, on one machine (ratios, not absolute figures, are what carries over):

1. pymoten: `moten.get_default_pyramid(vhsize=(144, 192), fps=--fps)` then
   `pyramid.project_stimulus(frames)` (its defaults: all filters, float32), with the default
   BLAS threads and with one; the faster counts.
2. csc with the pretrained model (16×16 patches, 128 units, its prior and solve settings unless
   --max-iter / --tol) at the default stride (8: 17 × 23 = 391 patches per frame) and
   --chunk-frames: in-process (Dask's synchronous scheduler: one chunk at a time, every core
   for its BLAS and Numba passes; and the threaded scheduler, one chunk per core), and on local
   clusters of each --workers count (worker processes of one thread each, started and warmed
   up before the clock starts). Every run must give the same codes bit for bit.
3. csc in-process with start="causal" for each --causal-start-iter max_iter: each chunk's
   solve starts from the codes of a causal pass over its frames (`encode_video`).
4. `csc.stream` on the same frames (as arrays), for each --stream-iter budget: causal
   inference, each frame solved alone as it comes.
3 and 4 solve otherwise, so their codes are not compared; every row gives the variance
explained in pixels, 1 − Σ(P − P̂)² / Σ(P − mean P)² over every patch of the grid.

Frames per second = frames / wall time of the whole encoding; the table gives each ratio to
pymoten's. With --profile, one chunk is also solved on its own: iterations run and whether
the tolerance was met, time per FISTA iteration against the two GEMMs' floor (measured at the
same shapes), and, on 64 of its grid positions, the energy and codes after k iterations
against a solve of 4000 iterations, with the throughput k iterations would give.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from csc.cli.common import ArgumentParser, UsageError, fail
from csc.cli.interrupts import stops_on_interrupt
from csc.io import write_json
from csc.threads import prefer_passive_openmp

PROG = "benchmark_encode"
SIZE = (144, 192)
PROFILE_ITERS = (1, 2, 5, 10, 20, 50, 100, 200)


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--n-frames", type=int, default=128, help="frames encoded")
    ap.add_argument("--fps", type=int, default=15,
                    help="frame rate given to pymoten's pyramid (tree.avi's nominal rate)")
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                    help="local cluster sizes to measure (none: in-process only)")
    ap.add_argument("--stride", type=int, default=None, help="grid step (default: p // 2)")
    ap.add_argument("--chunk-frames", type=int, default=64)
    ap.add_argument("--max-iter", type=int, default=None,
                    help="default: the model's transform_max_iter")
    ap.add_argument("--tol", type=float, default=None, help="default: the model's transform_tol")
    ap.add_argument("--causal-start-iter", type=int, nargs="*", default=[20],
                    help="also time encode_video in-process with start=\"causal\" and these "
                         "max_iter (0: the causal pass alone; none: skip)")
    ap.add_argument("--stream-iter", type=int, nargs="*", default=[10],
                    help="also time csc.stream (causal, phase warm start) with these "
                         "iteration budgets per frame (none: skip)")
    ap.add_argument("--no-pymoten", action="store_true", help="skip pymoten")
    ap.add_argument("--no-threads", action="store_true",
                    help="skip the in-process threaded scheduler")
    ap.add_argument("--profile", action="store_true",
                    help="also profile one chunk: iterations, time per iteration vs the GEMM "
                         "floor, accuracy after k iterations")
    ap.add_argument("--json", default=None, help="write every figure to this JSON file")
    return ap


def benchmark_frames(n_frames: int) -> np.ndarray:
    """tree.avi at 144×192, played forward and back to n_frames: float32 (n_frames, 144, 192),
    quantised to 8 bits (as the PNG frames that csc reads)."""
    from csc.resources import heldout_dir
    from csc.video.camera import resize_still
    from csc.video.reader import iter_frames

    frames = [resize_still(f, SIZE[0]) for f in iter_frames(heldout_dir() / "tree.avi")]
    loop = frames + frames[-2:0:-1]
    movie = np.stack([loop[t % len(loop)] for t in range(n_frames)])
    assert movie.shape[1:] == SIZE, movie.shape
    return np.round(movie * 255) / 255


def time_pymoten(frames: np.ndarray, fps: int) -> dict:
    """pymoten's projection of `frames`, timed with the default BLAS threads and with one (on
    a shared machine its many small BLAS calls can run faster on one thread); the faster
    counts, both are kept under "variants"."""
    import moten
    from threadpoolctl import threadpool_limits

    pyramid = moten.get_default_pyramid(vhsize=SIZE, fps=fps)
    variants = []
    for threads in (None, 1):
        with contextlib.ExitStack() as stack:
            if threads:
                stack.enter_context(threadpool_limits(threads, user_api="blas"))
            stack.enter_context(contextlib.redirect_stderr(io.StringIO()))  # its progress bar
            start = time.perf_counter()
            out = pyramid.project_stimulus(frames)
            seconds = time.perf_counter() - start
        variants.append({"blas_threads": threads or "default", "seconds": seconds})
    best = min(variants, key=lambda v: v["seconds"])
    return {"name": "pymoten project_stimulus", "seconds": best["seconds"],
            "frames_per_s": len(frames) / best["seconds"], "blas_threads": best["blas_threads"],
            "variants": variants, "n_filters": int(pyramid.nfilters), "output": list(out.shape)}


def time_csc(model, folder: Path, args: argparse.Namespace, workers: int | None,
             scheduler: str = "sync", start: str = "zeros",
             max_iter: int | None = None) -> tuple[dict, np.ndarray]:
    """Encode the frame folder; (figures, codes). workers: None in-process, else a local
    cluster of that many processes, started and warmed up before timing; start, max_iter: as
    `encode_video` (max_iter None: --max-iter)."""
    from csc.cluster import dask_client
    from csc.video.encode_video import prepare_encoding

    kw = dict(stride=args.stride, chunk_frames=args.chunk_frames,
              max_iter=args.max_iter if max_iter is None else max_iter, tol=args.tol,
              start=start)
    enc = prepare_encoding(model, folder, **kw)
    warm = prepare_encoding(model, folder, **{**kw, "max_iter": 1}, max_frames=2).to_dask()
    name = f"csc in-process ({scheduler})" if workers is None else \
        f"csc LocalCluster, {workers} worker{'s' * (workers > 1)}"
    if start != "zeros":
        name += f", start {start}, max_iter {enc.max_iter}"
        name += " (the causal pass alone)" if enc.max_iter == 0 else ""
    if workers is None:
        warm.compute(scheduler=scheduler)
        start = time.perf_counter()
        codes = enc.to_dask().compute(scheduler=scheduler)
        seconds = time.perf_counter() - start
    else:
        with dask_client(workers) as client:
            client.run(lambda: warm.compute(scheduler="sync"))  # imports, Numba's cache
            start = time.perf_counter()
            codes = client.compute(enc.to_dask()).result()
            seconds = time.perf_counter() - start
    g = enc.grid
    return {"name": name, "seconds": seconds, "frames_per_s": enc.n_frames / seconds,
            "patches_per_frame": g.rows * g.cols, "stride": g.stride,
            "chunk_frames": enc.chunk_frames, "max_iter": enc.max_iter, "tol": enc.tol}, codes


def variance_explained(model, frames: np.ndarray, codes: np.ndarray, stride: int) -> float:
    """1 − Σ(P − P̂)² / Σ(P − mean P)² over every patch of the grid, P̂ decoded from `codes`
    complex (T, rows, cols, K)."""
    from csc.analysis.first_layer import variance_explained as pixel_variance
    from csc.video.grid import PatchGrid

    grid = PatchGrid(*frames.shape[1:], model.patch_size, stride)
    P = grid.cut(frames)
    return pixel_variance(P, model.decode_patches(grid.to_sequences(codes)))


def time_stream(model, frames: np.ndarray, args: argparse.Namespace, max_iter: int) -> dict:
    """csc.stream over the frames as arrays (causal: each frame solved alone as it comes),
    warmed up on two frames first. Frames/s count the whole loop."""
    from csc.video.stream import stream

    kw = dict(stride=args.stride, max_iter=max_iter)
    for _ in stream(model, frames[:2], **kw):
        pass
    start = time.perf_counter()
    out = [f.codes for f in stream(model, frames, **kw)]
    seconds = time.perf_counter() - start
    stride = args.stride or max(model.patch_size // 2, 1)
    return {"name": f"csc.stream (causal, {max_iter} iterations per frame)", "seconds": seconds,
            "frames_per_s": len(out) / seconds, "max_iter": max_iter,
            "variance_explained": variance_explained(model, frames, np.stack(out), stride)}


def profile_chunk(model, frames: np.ndarray, args: argparse.Namespace) -> dict:
    """One chunk solved alone: iterations, time per iteration vs the GEMM floor, and accuracy
    after k iterations on 64 grid positions against 4000 iterations."""
    from csc.core.inference import encode
    from csc.testing.bench.timing import gemm_floor_best
    from csc.video.grid import PatchGrid

    p = model.patch_size
    grid = PatchGrid(*SIZE, p, args.stride or max(p // 2, 1))
    chunk = frames[:args.chunk_frames]
    X = model.whitener.transform(grid.cut(chunk))  # (positions, T, M)
    D, prior = model.components_, model.coder.prior().as_dict()
    max_iter = args.max_iter or model.coder.transform_max_iter
    tol = model.coder.transform_tol if args.tol is None else args.tol
    start = time.perf_counter()
    _, info = encode(X, D, max_iter=max_iter, tol=tol, return_info=True, **prior)
    seconds = time.perf_counter() - start
    N, M = X.shape[0] * X.shape[1], X.shape[2]
    gemm = gemm_floor_best(N, M, D.shape[0], repeats=3, seed=0)
    per_iter = seconds / info.n_iter
    out = {"positions": X.shape[0], "frames": X.shape[1], "rows_N": N, "features_M": M,
           "units_K": int(D.shape[0]), "max_iter": max_iter, "tol": tol,
           "n_iter": info.n_iter, "converged": info.converged, "seconds": seconds,
           "s_per_iter": per_iter, "gemm_floor_s_per_iter": gemm["floor_s_per_iter"],
           "gemm_gflops": gemm["gflops"], "prior": prior["sparsity"] + "+" + prior["slowness"]}
    sub = np.random.default_rng(0).choice(X.shape[0], min(64, X.shape[0]), replace=False)
    Xs = X[np.sort(sub)]
    ref, ref_info = encode(Xs, D, max_iter=4000, tol=0.0, return_info=True, **prior)
    E, E_star = np.asarray(ref_info.energies), ref_info.energies[-1]
    ladder = []
    for k in PROFILE_ITERS:
        Z = encode(Xs, D, max_iter=k, tol=0.0, **prior)
        ladder.append({"k": k, "energy_excess": (E[k] - E_star) / E_star,
                       "gap_left": (E[k] - E_star) / (E[0] - E_star),
                       "code_error": float(np.linalg.norm(Z - ref) / np.linalg.norm(ref)),
                       "amplitude_error": float(np.linalg.norm(np.abs(Z) - np.abs(ref))
                                                / np.linalg.norm(np.abs(ref))),
                       "projected_frames_per_s": len(chunk) / (k * per_iter)})
    out.update(reference_iters=4000, reference_residual=ref_info.residual, ladder=ladder)
    return out


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    prefer_passive_openmp()
    try:
        args = build_parser().parse_args(argv)
        if args.n_frames < 2 or args.chunk_frames < 1 or any(w < 1 for w in args.workers):
            raise UsageError("--n-frames must be >= 2, --chunk-frames and --workers >= 1")
        if any(k < 1 for k in args.stream_iter) or any(k < 0 for k in args.causal_start_iter):
            raise UsageError("--stream-iter must be >= 1 and --causal-start-iter >= 0")
        if not args.no_pymoten:
            import moten  # noqa: F401 -- fail early: pip install -e ".[bench]"
    except ImportError:
        return fail(PROG, "pymoten is not installed (pip install -e \".[bench]\"), or pass "
                          "--no-pymoten")
    except (UsageError, ValueError) as exc:
        return fail(PROG, exc)
    import csc
    from csc.testing.bench.suite import environment
    from csc.testing.movies import write_frame_folder

    model = csc.pretrained()
    frames = benchmark_frames(args.n_frames)
    results: dict = {"environment": environment(), "size": list(SIZE),
                     "n_frames": args.n_frames, "model": "csc.pretrained()", "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_frame_folder(Path(tmp) / "tree144", frames)
        if not args.no_pymoten:
            results["pymoten"] = time_pymoten(frames, args.fps)
            print(f"pymoten: {results['pymoten']['frames_per_s']:.2f} frames/s", flush=True)
        reference = None
        runs = [(None, "sync")] + ([] if args.no_threads else [(None, "threads")])
        runs += [(w, None) for w in args.workers]
        for workers, scheduler in runs:
            run, codes = time_csc(model, folder, args, workers, scheduler or "sync")
            if reference is None:
                reference = codes
            run["same_codes"] = bool(np.array_equal(codes, reference))
            run["variance_explained"] = variance_explained(model, frames, codes, run["stride"])
            results["runs"].append(run)
            print(f"{run['name']}: {run['frames_per_s']:.2f} frames/s", flush=True)
        for k in args.causal_start_iter:
            run, codes = time_csc(model, folder, args, None, "sync", "causal", k)
            run["same_codes"] = None  # another solve: no codes to compare
            run["variance_explained"] = variance_explained(model, frames, codes, run["stride"])
            results["runs"].append(run)
            print(f"{run['name']}: {run['frames_per_s']:.2f} frames/s", flush=True)
    results["stream"] = [time_stream(model, frames, args, k) for k in args.stream_iter]
    for run in results["stream"]:
        print(f"{run['name']}: {run['frames_per_s']:.2f} frames/s", flush=True)
    if args.profile:
        results["profile"] = profile_chunk(model, frames, args)
    print_tables(results)
    if args.json:
        write_json(args.json, results)
    return 0


def print_tables(results: dict) -> None:
    ref = results.get("pymoten")
    first = results["runs"][0]
    print(f"\n{results['n_frames']} frames of {SIZE[0]}x{SIZE[1]}; csc: pretrained model "
          f"(16x16, 128 units), stride {first['stride']} ({first['patches_per_frame']} patches "
          f"per frame), chunks of {first['chunk_frames']} frames, max_iter {first['max_iter']}, "
          f"tol {first['tol']:g}\n")
    print("| encoder | seconds | frames/s | vs pymoten | variance explained | same codes |")
    print("|---|---|---|---|---|---|")
    if ref:
        print(f"| {ref['name']} ({ref['n_filters']} filters, BLAS threads: "
              f"{ref['blas_threads']}) | {ref['seconds']:.1f} | "
              f"{ref['frames_per_s']:.2f} | 1 | — | — |")
    same = {True: "yes", False: "NO", None: "—"}
    for run in [*results["runs"], *results.get("stream", [])]:
        ratio = f"{run['frames_per_s'] / ref['frames_per_s']:.3f}" if ref else "—"
        print(f"| {run['name']} | {run['seconds']:.1f} | {run['frames_per_s']:.2f} | {ratio} | "
              f"{run['variance_explained']:.4f} | {same[run.get('same_codes')]} |")
    prof = results.get("profile")
    if not prof:
        return
    print(f"\nOne chunk alone ({prof['positions']} positions x {prof['frames']} frames = "
          f"{prof['rows_N']} rows, M={prof['features_M']}, K={prof['units_K']}, "
          f"{prof['prior']}): {prof['n_iter']} iterations (max_iter {prof['max_iter']}, tol "
          f"{prof['tol']:g}, converged: {prof['converged']}) in {prof['seconds']:.1f} s; "
          f"{1e3 * prof['s_per_iter']:.0f} ms per iteration, GEMM floor "
          f"{1e3 * prof['gemm_floor_s_per_iter']:.0f} ms ({prof['gemm_gflops']:.0f} GFLOP/s): "
          f"{prof['s_per_iter'] / prof['gemm_floor_s_per_iter']:.1f}x the floor\n")
    print(f"After k iterations, against {prof['reference_iters']} iterations (64 positions):\n")
    print("| k | (E − E*)/E* | share of E₀ − E* left | ‖z − z*‖/‖z*‖ | ‖a − a*‖/‖a*‖ | "
          "projected frames/s | vs pymoten |")
    print("|---|---|---|---|---|---|---|")
    for row in prof["ladder"]:
        ratio = f"{row['projected_frames_per_s'] / ref['frames_per_s']:.2f}" if ref else "—"
        print(f"| {row['k']} | {row['energy_excess']:.2e} | {row['gap_left']:.2e} | "
              f"{row['code_error']:.3f} | {row['amplitude_error']:.3f} | "
              f"{row['projected_frames_per_s']:.1f} | {ratio} |")
