"""One dictionary update as a sum over fixed shards of its batch.

The sequences of an update's batch are split into `n_shards` contiguous shards (`shard_bounds`:
a function of the batch size and the shard count only). Each shard is inferred on its own
(`shard_statistics`: the update's inference, by default FISTA from zero codes with the
update's step constant, then the sums the learning rule needs), and the shards' statistics are
added in shard order (`sum_statistics`).
A shard's statistics depend only on its frames and on the `UpdatePlan`, never on where it was
computed, so an update made in-process and one whose shards ran on any number of Dask workers
give the same dictionary (`csc.cluster`). One shard is the whole batch in one solve.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from csc.backends.backend import get_backend
from csc.core.fista import fista
from csc.core.polar_inference import PAPER_MAX_EVALS, PAPER_MAX_ITER, polar_bb, random_start
from csc.learning import RULES
from csc.priors import Prior

#: Learning infers with steps of 1/L, not `encode`'s boosted first steps (`STEP_BOOST`): the
#: learning rates and the default run were tuned with them, and the default run learned with
#: 2/L came out less localised on held-out data (median 0.52 against 0.64, one run each).
LEARNING_STEP_BOOST = 1.0

#: how an update infers its codes: "fista" (csc's solver from zero codes, to `tol` or
#: `max_iter`), "fista-random" (the same from the authors' random start) and "paper" (the
#: authors' polar Barzilai–Borwein descent from that start, `csc.core.polar_inference`)
INFERENCES = ("fista", "fista-random", "paper")


@dataclass
class UpdatePlan:
    """What every shard of one update needs, fixed before any shard runs (small: it travels to
    the workers with each shard).

    W: float (2K, M), the real-form dictionary in the float type the shards compute in; prior;
    lipschitz: the data term's curvature bound L (`lipschitz_constant`), computed once from W;
    max_iter, tol: inference; learning: "sgd" or "online" (which sums the shards return);
    backend: the backend name the shards compute on; inference: one of `INFERENCES`;
    start_seed: the seed of the update's random starting codes (inferences other than "fista"),
    each shard's drawn from (start_seed, its index).
    """

    W: np.ndarray
    prior: Prior
    lipschitz: float
    max_iter: int
    tol: float
    learning: str
    backend: str = "auto"
    inference: str = "fista"
    start_seed: int | None = None


@dataclass
class ShardStatistics:
    """What one shard returns: the sums over its N frames (not divided by N).

    sums: arrays in the shard's float type, "grad" (2K, M) = Cᵀ(w∘E) for the sgd rule, or
    "CtC" (2K, 2K) = CᵀC and "CtX" (2K, M) = CᵀX for the online rule; energy: the total energy
    of its codes; signal and error: Σ w x² and Σ w e² over its frames; amplitudes: float32
    (N, K), |z| of its codes (the active fraction is relative to the batch's largest
    amplitude); n_iter: inference iterations; csc: `csc.versioning.code_fingerprint()` of the
    process that computed it (set by Dask workers; None in-process); source: a tag of the data
    the shard was cut from
    (the worker's clip cache fingerprint), None in-process.
    """

    n_rows: int
    sums: dict[str, np.ndarray]
    energy: float
    signal: float
    error: float
    amplitudes: np.ndarray
    n_iter: int
    source: str | None = field(default=None)
    csc: str | None = field(default=None)


def shard_bounds(n_sequences: int, n_shards: int) -> list[tuple[int, int]]:
    """[(start, stop)] of the contiguous shards of `n_sequences` sequences: min(n_shards,
    n_sequences) shards whose sizes differ by at most one, the larger first."""
    n = max(min(n_shards, n_sequences), 1)
    size, extra = divmod(n_sequences, n)
    stops = np.cumsum([size + (i < extra) for i in range(n)])
    return [(int(stop - size - (i < extra)), int(stop)) for i, stop in enumerate(stops)]


def shard_codes(Xf, W, w, plan: UpdatePlan, n_frames: int, backend, shard: int = 0):
    """(real-form codes (N, 2K), EncodeInfo) of the frames Xf (N, M) by the plan's inference;
    arrays of `backend.xp`. The random start of shard `shard` comes from (plan.start_seed, shard),
    drawn on the host, so it is the same on every backend and wherever the shard runs. The
    paper's inference allows max_iter iterations and max_iter + 5 evaluations (the authors'
    15 and 20 when max_iter is 15)."""
    C0 = None
    if plan.inference != "fista":
        if plan.start_seed is None:
            raise ValueError(f"inference {plan.inference!r} needs a start_seed")
        start = random_start(Xf.shape[0], W.shape[0] // 2, (plan.start_seed, shard))
        C0 = backend.asarray(start, dtype=Xf.dtype)
    if plan.inference == "paper":
        return polar_bb(Xf, W, w, plan.prior, n_frames, C0, max_iter=plan.max_iter,
                        max_evals=plan.max_iter + PAPER_MAX_EVALS - PAPER_MAX_ITER,
                        xp=backend.xp)
    return fista(Xf, W, w, plan.prior, n_frames, C0, plan.lipschitz, plan.max_iter, plan.tol,
                 backend, step_boost=LEARNING_STEP_BOOST)


def shard_statistics(X, plan: UpdatePlan, shard: int = 0) -> ShardStatistics:
    """Infer the codes of one shard X float (n_sequences, n_frames, n_features) (NumPy, or CuPy
    on the GPU backend; float32 on the GPU, whose kernels are float32 only), the update's
    `shard`-th, and return its `ShardStatistics`. Raises
    `csc.core.fista.NumericRangeError` when the problem does not fit the working float
    type."""
    be = get_backend(plan.backend)
    xp = be.xp
    B, T, M = X.shape
    dtype = np.dtype(np.float32 if be.name == "gpu" else X.dtype)
    Xf = be.asarray(X, dtype=dtype).reshape(B * T, M)
    w = plan.prior.weight_vector(M, dtype)
    W, wd = be.asarray(plan.W, dtype=dtype), be.asarray(w)
    C, info = shard_codes(Xf, W, wd, plan, T, be, shard)
    E = Xf - C @ W
    with np.errstate(over="ignore", invalid="ignore"):  # the client checks finiteness
        sums = RULES[plan.learning].shard_sums(C, E, Xf, wd, be.asnumpy)
        K = C.shape[1] // 2
        w64 = wd.astype(np.float64)
        signal = float(xp.sum((Xf.astype(np.float64) ** 2) @ w64))
        error = float(xp.sum((E.astype(np.float64) ** 2) @ w64))
        amplitudes = be.asnumpy(xp.hypot(C[:, :K], C[:, K:])).astype(np.float32, copy=False)
    return ShardStatistics(n_rows=B * T, sums=sums, energy=float(info.energies[-1]),
                           signal=signal, error=error, amplitudes=amplitudes,
                           n_iter=int(info.n_iter))


def sum_statistics(shards: list[ShardStatistics]) -> ShardStatistics:
    """The batch's statistics: the shards' sums added in float64 in the order given (so the
    result is the same wherever each shard was computed), amplitudes stacked, n_iter the most any
    shard ran."""
    first = shards[0]
    sums = {key: value.astype(np.float64) for key, value in first.sums.items()}
    for shard in shards[1:]:
        for key in sums:
            sums[key] += shard.sums[key]
    return ShardStatistics(
        n_rows=sum(s.n_rows for s in shards), sums=sums,
        energy=sum(s.energy for s in shards), signal=sum(s.signal for s in shards),
        error=sum(s.error for s in shards),
        amplitudes=np.concatenate([s.amplitudes for s in shards]),
        n_iter=max(s.n_iter for s in shards), source=first.source)

