"""The proximal operator of the non-smooth part of the prior, on complex codes (docs/design.md §2).

prox_{τg}(Y) = argmin_Z ½‖Z − Y‖² + τ g(Z), where g is the sparse prior plus, for
slowness="l1", the TV slowness prior (l2 slowness is smooth and not part of g). It runs the same
fused pass as inference, with a zero gradient and no momentum.
"""
from __future__ import annotations

import numpy as np

from csc.backends.backend import get_backend
from csc.core.model import codes_from_real, codes_to_real
from csc.priors import SLOWNESS_CODE, SPARSITY_CODE, make_prior


def prox_codes(Y, tau: float, backend: str = "cpu", **prior_kwargs) -> np.ndarray:
    """Apply the prox to complex codes Y (n_sequences, n_frames, n_components) with step τ.

    Returns complex like Y (complex64 for complex64 input, complex128 otherwise).
    """
    prior = make_prior(**prior_kwargs)
    Y = np.asarray(Y)
    if Y.ndim != 3:
        raise ValueError(f"Y must have shape (n_sequences, n_frames, n_components), got {Y.shape}")
    B, T, K = Y.shape
    dt = np.float32 if Y.dtype == np.complex64 else np.float64
    be = get_backend(backend)
    if be.name == "gpu":
        dt = np.float32  # the CUDA kernels' type
    C = be.asarray(codes_to_real(Y, dt))
    zeros = be.xp.zeros_like(C)
    out, scratch = be.xp.empty_like(C), be.xp.empty_like(C)
    # l2 slowness is smooth: its gradient is not part of the prox
    slowness = SLOWNESS_CODE["none" if prior.slowness == "l2" else prior.slowness]
    partials = be.xp.empty(be.ops.code_partials_shape(B, T, K, slowness), dtype=np.float64)
    be.ops.code_step(C, zeros, zeros, out, scratch, T, tau, 0.0, prior.lam, prior.sigma,
                     prior.kappa, SPARSITY_CODE[prior.sparsity], slowness, partials)
    return codes_from_real(be.asnumpy(out), B, T)
