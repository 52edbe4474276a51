"""`encode`: the codes of movie data under a dictionary, solved by `csc.core.fista` in batches of
whole sequences that fit a memory budget (docs/design.md §2)."""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from csc.backends.backend import get_backend
from csc.core.fista import (
    STEP_BOOST,
    EncodeInfo,
    fista,
    lipschitz_constant,
    solver_bytes_per_frame,
)
from csc.core.model import (
    check_codes,
    check_data,
    check_dictionary,
    codes_from_real,
    codes_to_real,
    dictionary_to_real,
)
from csc.core.params import check_number
from csc.priors import make_prior

#: Default memory budget of `encode`'s solver arrays: the sequences are solved in batches whose
#: working arrays (`solver_bytes_per_frame` per frame) fit in this many bytes, one sequence at
#: least. Problems below it run as one batch, exactly as an unbatched solve.
ENCODE_BATCH_BYTES = 256 * 2**20



def merge_infos(infos: list[EncodeInfo]) -> EncodeInfo:
    """One report for a solve run as independent batches of sequences (the energy is a sum over
    sequences): n_iter the most any batch ran; energies summed over batches per iteration, a batch
    that stopped early counting with its last energy; converged when every batch did; residual
    the largest batch residual (an upper bound of the whole solve's relative residual);
    lipschitz the largest; n_restarts summed. A single report is returned as it is."""
    if len(infos) == 1:
        return infos[0]
    n = max(len(info.energies) for info in infos)
    energies = [sum(info.energies[min(i, len(info.energies) - 1)] for info in infos)
                for i in range(n)]
    return EncodeInfo(n_iter=max(info.n_iter for info in infos), energies=energies,
                      converged=all(info.converged for info in infos),
                      residual=max(info.residual for info in infos),
                      lipschitz=max(info.lipschitz for info in infos),
                      n_restarts=sum(info.n_restarts for info in infos), n_batches=len(infos))


def sequence_batches(n_sequences: int, n_frames: int, bytes_per_frame: int,
                     batch_bytes: int) -> list[slice]:
    """Consecutive slices of whole sequences, each holding as many as fit in `batch_bytes` at
    `bytes_per_frame` (one at least; the last may be shorter). The slowness prior couples the
    frames of a sequence, so a sequence is never split."""
    per_batch = max(1, batch_bytes // (n_frames * bytes_per_frame))
    return [slice(b, min(b + per_batch, n_sequences)) for b in range(0, n_sequences, per_batch)]


def encode(X, D, *, max_iter: int = 200, tol: float = 1e-4, init=None, backend: str = "auto",
           return_info: bool = False, batch_bytes: int | None = None,
           step_boost: float = STEP_BOOST, **prior_kwargs):
    """Infer complex codes for movie data under a dictionary.

    X: float (n_sequences, n_frames, n_features); D: complex (n_components, n_features).
    Prior keywords (see `csc.priors.make_prior`): sparsity ("l1" | "cauchy" | "gauss"), lam,
    sigma (cauchy only), slowness ("l2" | "l1" | "none"; "l1" with "l1" sparsity only), kappa,
    weights (scalar or (n_features,)).
    max_iter: FISTA iterations at most (an integer ≥ 1); tol: stop when ‖x⁺ − x‖ ≤ tol‖x⁺‖ (a
    real ≥ 0); init: complex starting codes like the result (default zeros); backend: "auto" |
    "cpu" | "gpu"; step_boost: the first steps are step_boost/L (≥ 1; see STEP_BOOST; 1 gives
    the 1/L steps learning infers with).
    batch_bytes: memory budget of the solver's arrays (default `ENCODE_BATCH_BYTES`). The
    sequences are solved in consecutive batches of whole sequences (`sequence_batches`) whose
    arrays, `solver_bytes_per_frame` per frame, fit in it, so the peak memory is the output plus
    about the budget for any number of sequences. Each batch is an independent FISTA solve from
    the one Lipschitz constant (on the GPU, its frames move to the device and its codes back);
    a problem within the budget is one solve. The info of several batches is combined by
    `merge_infos`.
    Returns Z complex64 (n_sequences, n_frames, n_components) — complex128 when X is float64 on
    the CPU (the GPU computes in float32) — and, with return_info=True, an `EncodeInfo`.
    Raises ValueError for invalid arguments, and NumericRangeError (a ValueError) when the
    problem's scale does not fit the float type (see `fista`).
    """
    prior = make_prior(**prior_kwargs)
    X = check_data(X)
    D = check_dictionary(D, X.shape[-1])
    check_number(max_iter, "max_iter", Integral, 1)
    check_number(tol, "tol", Real, 0.0)
    check_number(step_boost, "step_boost", Real, 1.0)
    batch_bytes = ENCODE_BATCH_BYTES if batch_bytes is None else batch_bytes
    check_number(batch_bytes, "batch_bytes", Integral, 1)
    be = get_backend(backend)
    dtype = np.dtype(np.float32 if be.name == "gpu" else X.dtype)  # the CUDA kernels: float32
    B, T, M = X.shape
    K = D.shape[0]
    if init is not None:
        init = check_codes(init, (B, T), K)
    W = dictionary_to_real(D, dtype)
    w = prior.weight_vector(M, dtype)
    L, _ = lipschitz_constant(W, w)
    W_dev, w_dev = be.asarray(W), be.asarray(w)
    Z = np.empty((B, T, K), dtype=np.result_type(dtype, np.complex64))
    infos = []
    for batch in sequence_batches(B, T, solver_bytes_per_frame(K, M, dtype.itemsize, be.name),
                                  int(batch_bytes)):
        n_seq = batch.stop - batch.start
        Xf = be.asarray(X[batch].reshape(n_seq * T, M), dtype=dtype)
        C0 = None if init is None else be.asarray(codes_to_real(init[batch], dtype))
        C, info = fista(Xf, W_dev, w_dev, prior, T, C0, L, int(max_iter), float(tol), be,
                        step_boost=float(step_boost))
        codes_from_real(be.asnumpy(C), n_seq, T, out=Z[batch])
        infos.append(info)
    info = merge_infos(infos)
    return (Z, info) if return_info else Z
