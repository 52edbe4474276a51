"""Streaming encoder (csc.stream): frames/s, energy gap and variance explained against the budget.

For each iteration budget and warm start, the frames of a clip (cropped to --size) are streamed
through the model. Per frame:
- the energy gap: (E_t − E_t*) / E_t*, E_t* the minimum of the same frame's energy with the
  same anchor (the amplitudes the stream chose for the frame before), found by solving on from
  the stream's codes to convergence;
- the variance explained in pixels, 1 − Σ(P − P̂)² / Σ(P − mean P)², P̂ the decoded codes.
Printed beside the same frames encoded in batch (`csc.encode_video`, the model's iterations and
tolerance, every frame of a chunk solved together) and, with --budgets 0 ..., nothing else.
Frames/s count the solve only (cutting, whitening, inference), not reading the clip.

    python scripts/benchmark_stream.py                       # held-out clip, 144x192, 16 frames
"""
from __future__ import annotations

import csc.cli  # noqa: F401 -- first, before NumPy loads: sets the OpenBLAS spin time

# isort: split
import argparse
import sys

import numpy as np

from csc.cli.interrupts import stops_on_interrupt


def crop(frames: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    h, w = size
    H, W = frames[0].shape
    top, left = (H - h) // 2, (W - w) // 2
    return [f[top:top + h, left:left + w] for f in frames]


def variance_explained(model, grid, frame, codes) -> float:
    """Variance explained in pixels of one frame's patches by its codes (rows, cols, K)."""
    from csc.analysis.first_layer import variance_explained as pixel_variance

    P = grid.cut(frame[None])[:, 0]
    return pixel_variance(P, model.decode_patches(codes.reshape(-1, 1, codes.shape[-1]))[:, 0])


def energy_gaps(model, streamed, converge_iter: int) -> list[float]:
    """(E_t − E_t*) / E_t* of each streamed frame but the first two."""
    from csc.backends.backend import get_backend
    from csc.core.causal_inference import anchored_energy, causal_fista
    from csc.core.fista import lipschitz_constant
    from csc.core.model import codes_from_real, codes_to_real, dictionary_to_real

    be = get_backend("cpu")
    prior = model.coder.prior()
    D = model.coder.components_
    W = dictionary_to_real(D, np.float64)
    w = prior.weight_vector(W.shape[1], np.float64)
    L, _ = lipschitz_constant(W, w)
    gaps = []
    for before, now in zip(streamed[1:], streamed[2:]):
        X = model.whitener.transform(now.grid.cut(now.frame[None])[:, 0]).astype(np.float64)
        anchor = np.abs(before.codes.reshape(len(X), -1)).astype(np.float64)
        Z = now.codes.reshape(len(X), 1, -1)
        C, _ = causal_fista(X, W, w, prior, anchor, codes_to_real(Z, np.float64), L,
                            converge_iter, 1e-7, be)
        best = anchored_energy(X, codes_from_real(C, len(X), 1)[:, 0], D, prior, anchor)
        mine = anchored_energy(X, Z[:, 0], D, prior, anchor)
        gaps.append((mine - min(best, mine)) / best)
    return gaps


@stops_on_interrupt("benchmark_stream.py")
def main(argv: list[str] | None = None) -> int:
    import csc
    from csc.resources import heldout_dir
    from csc.threads import prefer_passive_openmp
    from csc.video.reader import iter_frames
    from csc.video.stream import WARM_STARTS, stream

    prefer_passive_openmp()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model.npz (default: the pretrained model)")
    p.add_argument("--video", default=str(heldout_dir() / "tree.avi"))
    p.add_argument("--size", type=int, nargs=2, default=(144, 192), metavar=("H", "W"))
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--start", type=int, default=0, help="skip this many frames first")
    p.add_argument("--downsample", type=int, default=1, help="block-average frames first")
    p.add_argument("--budgets", type=int, nargs="+", default=[5, 10, 20, 40])
    p.add_argument("--warm-starts", nargs="+", default=list(WARM_STARTS), choices=WARM_STARTS)
    p.add_argument("--converge-iter", type=int, default=2000)
    args = p.parse_args(argv)
    model = csc.pretrained() if args.model is None else csc.load(args.model)
    read = iter_frames(args.video, downsample=args.downsample,
                       max_frames=args.start + args.frames)
    frames = crop(list(read)[args.start:], tuple(args.size))

    from csc.video.grid import PatchGrid

    grid = PatchGrid(*frames[0].shape, model.patch_size, max(model.patch_size // 2, 1))
    Z = model.encode_patches(grid.cut(np.stack(frames)))  # batch: all frames together
    ve_batch = np.mean([variance_explained(model, grid, f, Z[:, t].reshape(grid.rows, grid.cols,
                                                                              -1))
                        for t, f in enumerate(frames)])
    print(f"{args.video} (frames {args.start}–{args.start + len(frames) - 1}, downsampled "
          f"{args.downsample}x), {len(frames)} frames cropped to {args.size[0]}x{args.size[1]}, "
          f"{grid.rows}x{grid.cols} patches, {model.components_.shape[0]} units")
    print(f"batch encode (max_iter {model.coder.transform_max_iter}, tol "
          f"{model.coder.transform_tol:g}): variance explained {ve_batch:.4f}\n")
    print("| warm start | iterations / frame | frames/s | energy gap (median, max) | "
          "variance explained | − batch |")
    print("|---|---|---|---|---|---|")
    for budget in args.budgets:
        for warm in args.warm_starts:
            out = list(stream(model, frames, max_iter=budget, warm_start=warm))
            rate = len(out) / sum(o.seconds for o in out)
            gaps = energy_gaps(model, out, args.converge_iter)
            ve = np.mean([variance_explained(model, o.grid, o.frame, o.codes) for o in out])
            print(f"| {warm} | {budget} | {rate:.1f} | {np.median(gaps):.2e}, "
                  f"{np.max(gaps):.2e} | {ve:.4f} | {ve - ve_batch:+.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
