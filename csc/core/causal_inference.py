"""Causal inference: the codes of one frame, with the previous frame's amplitudes fixed.

A stream cannot wait for the frames after frame t, so frame t's codes minimise the energy of
frame t alone, the slowness term tying them to the amplitudes c already chosen for frame t−1:

    E_t(z) = ½ Σ_m w_m (x − Re(Dᴴ z))_m² + Σ_k S_p(|z_k|) + Σ_k S_l(|z_k| − c_k).

The anchored term depends on amplitudes only, so its prox, like the sparse prior's, keeps each
code's phase and solves a problem on the magnitude r = |v| ≥ 0:

- quadratic slowness S_l(d) = (κ/2) d² merges with the prox's own square: for a step τ,
  ½(s − r)² + (τκ/2)(s − c)² = ((1 + τκ)/2)(s − r′)² + const, r′ = (r + τκc)/(1 + τκ), so the
  anchored prox is the sparse prior's prox with step τ/(1 + τκ) at r′;
- TV slowness S_l(d) = κ|d| (with l1 sparsity) has the closed form
  s = max(r − τ(λ + κ), c) if r − τ(λ + κ) > c, min(r − τ(λ − κ), c) if r − τ(λ − κ) < c,
  else c; then s ← max(s, 0).

Without an anchor (the first frame) the slowness term is absent. The solve is FISTA with the
data term's step 1/L from a starting point (`stream` starts from the previous codes with their
phases advanced) and a budget of iterations; with `tol` > 0 it also stops once
‖Δx‖ ≤ tol·‖x‖ (read every `check_every` iterations). An iteration is two GEMMs and one
`backend.ops.anchored_step` (gradient step, anchored prox and momentum in one pass: a Numba
kernel on the CPU, array code around the pointwise CUDA kernel on the GPU); the rest is array
code over `backend.xp`, so the same solver runs on NumPy and CuPy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csc.backends.backend import Backend
from csc.priors import SLOWNESS_CODE, SPARSITY_CODE, Prior


@dataclass
class CausalInfo:
    """What one causal solve did: iterations run, and whether `tol` stopped it."""

    n_iter: int
    converged: bool


def anchored_energy(X, Z, D, prior: Prior, anchor=None) -> float:
    """E_t of the module docstring in float64 (NumPy reference), summed over rows.

    X: float (N, M) frames (one row per patch); Z: complex (N, K) codes; D: complex (K, M);
    anchor: float (N, K) amplitudes of the previous frame, or None (no slowness term)."""
    from csc.core.energy import sparse_penalty

    X = np.asarray(X, np.float64)
    Z = np.asarray(Z, np.complex128)
    D = np.asarray(D, np.complex128)
    w = prior.weight_vector(X.shape[-1]).astype(np.float64)
    resid = X - (Z @ np.conj(D)).real
    total = 0.5 * float(np.sum(resid**2 @ w))
    a = np.abs(Z)
    total += sparse_penalty(a, prior)
    if anchor is not None and prior.slowness != "none":
        d = a - np.asarray(anchor, np.float64)
        total += (0.5 * prior.kappa * float(np.sum(d**2)) if prior.slowness == "l2"
                  else prior.kappa * float(np.sum(np.abs(d))))
    return total


def causal_fista(Xf, W, w, prior: Prior, anchor, C0, L: float, max_iter: int, tol: float,
                 backend: Backend, check_every: int = 4) -> tuple:
    """Minimise E_t over real-packed codes (arrays of `backend.xp`, one device).

    Xf: float (N, M) frames; W: (2K, M) real dictionary (`dictionary_to_real`), same dtype;
    w: (M,) weights; anchor: float (N, K) previous amplitudes, or None; C0: (N, 2K) start (not
    modified); L: the data term's curvature bound (`lipschitz_constant`); max_iter ≥ 1.
    Returns (C (N, 2K), CausalInfo)."""
    xp, ops = backend.xp, backend.ops
    sparsity, slowness = SPARSITY_CODE[prior.sparsity], SLOWNESS_CODE[prior.slowness]
    x_old = xp.array(C0, dtype=Xf.dtype, copy=True)
    y = x_old.copy()
    x_new, y_new = xp.empty_like(x_old), xp.empty_like(x_old)
    E, G = xp.empty_like(Xf), xp.empty_like(x_old)
    tau, t = 1.0 / L, 1.0
    info = CausalInfo(0, False)
    while info.n_iter < max_iter:
        xp.matmul(y, W, out=E)
        E -= Xf
        E *= w
        xp.matmul(E, W.T, out=G)
        t_next = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
        ops.anchored_step(y, G, anchor, x_old, x_new, y_new, tau, (t - 1.0) / t_next, prior.lam,
                          prior.sigma, prior.kappa, sparsity, slowness)
        info.n_iter += 1
        t = t_next
        done = False
        if tol > 0 and info.n_iter % check_every == 0:
            dx2 = float(xp.sum((x_new - x_old) ** 2, dtype=np.float64))
            done = dx2 <= tol * tol * float(xp.sum(x_new * x_new, dtype=np.float64))
        x_old, x_new = x_new, x_old
        y, y_new = y_new, y
        if done:
            info.converged = True
            break
    return x_old, info
