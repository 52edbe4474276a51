"""Inference: accelerated proximal gradient (FISTA) with exact amplitude proxes (DESIGN.md §2).

Each iteration is two GEMMs and two fused passes:
    G = E_y Wᵀ                       gradient of the weighted reconstruction term at y (GEMM 1)
    x⁺, y⁺ = code_step(y, G, x)      gradient step + prox + momentum, prior energy of x⁺
    R⁺ = x⁺ W                        reconstruction of x⁺ (GEMM 2)
    E_y⁺, recon(x⁺) = recon_step(…)  residual at y⁺ = x⁺ + β(x⁺ − x) by linearity, energy of x⁺
The energy of every iterate is therefore known at no extra GEMM, which gives a monotone method:
a step that raises the energy is rejected and the momentum restarted (adaptive restart); if even a
plain prox-gradient step raises it, the step size is halved (backtracking). Non-convex priors thus
still decrease the energy monotonically, and the convex case converges to the optimum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .backend import Backend, get_backend
from .energy import slowness_penalty, sparse_penalty
from .model import (check_codes, check_data, check_dictionary, codes_from_real, codes_to_real,
                    dictionary_to_real)
from .priors import SLOWNESS_CODE, SPARSITY_CODE, Prior, make_prior


@dataclass
class EncodeInfo:
    """What `encode(..., return_info=True)` reports.

    n_iter: iterations run (each two GEMMs); energies: total energy of the current iterate, first
    at the start and then after each iteration (non-increasing); converged: the relative change
    ‖x⁺ − x‖/‖x⁺‖ fell below `tol`; residual: relative prox-gradient residual
    ‖c − prox(c − τ∇f(c))‖ / ‖c‖ at the returned codes (0 at a stationary point); lipschitz: the
    final step-size constant L (τ = 1/L); n_restarts: rejected steps.
    """

    n_iter: int = 0
    energies: list[float] = field(default_factory=list)
    converged: bool = False
    residual: float = float("nan")
    lipschitz: float = float("nan")
    n_restarts: int = 0


def lipschitz_constant(W: np.ndarray, w: np.ndarray, v0: np.ndarray | None = None,
                       n_iter: int = 30) -> tuple[float, np.ndarray]:
    """Largest eigenvalue of W diag(w) Wᵀ by power iteration, with a 1% safety margin.

    W: float (2K, M); w: float (M,). Returns (L, v) with v the (2K,) eigenvector estimate, to
    warm-start the next call after a small dictionary change.
    """
    v = np.random.default_rng(0).standard_normal(W.shape[0]) if v0 is None else v0
    v = v.astype(np.float64) / max(np.linalg.norm(v), 1e-30)
    W64 = W.astype(np.float64)
    w64 = w.astype(np.float64)
    L = 0.0
    for _ in range(n_iter):
        u = W64 @ (w64 * (W64.T @ v))
        L = float(np.linalg.norm(u))
        if L == 0.0:
            return 1.0, v
        v = u / L
    return 1.01 * L, v


def prior_energy(C: np.ndarray, n_frames: int, prior: Prior) -> float:
    """Sparse + slowness energy of real codes C (N, 2K) (NumPy, used once per solve)."""
    K = C.shape[1] // 2
    a = np.hypot(C[:, :K], C[:, K:]).reshape(-1, n_frames, K)
    return sparse_penalty(a, prior) + slowness_penalty(a, prior)


def fista(Xf: np.ndarray, W: np.ndarray, w: np.ndarray, prior: Prior, n_frames: int,
          C0: np.ndarray, L: float, max_iter: int, tol: float,
          backend: Backend) -> tuple[np.ndarray, EncodeInfo]:
    """Minimise the energy over real codes.

    Xf: float (N, M) frames, N = n_sequences·n_frames; W: (2K, M) same dtype; w: (M,) weights;
    C0: (N, 2K) starting codes (not modified); L: starting Lipschitz constant.
    Returns (C (N, 2K), EncodeInfo).
    """
    xp, ops = backend.xp, backend.ops
    N, M = Xf.shape
    n_seq = N // n_frames
    dt = Xf.dtype
    sparsity = SPARSITY_CODE[prior.sparsity]
    slowness = SLOWNESS_CODE[prior.slowness]
    x_old = xp.array(C0, dtype=dt, order="C", copy=True)
    x_new = xp.empty_like(x_old)
    y = x_old.copy()
    y_new = xp.empty_like(x_old)
    G = xp.empty_like(x_old)
    R_old = x_old @ W
    R_new = xp.empty_like(R_old)
    E_y = xp.empty_like(R_old)
    row_e = xp.empty(N, dtype=np.float64)
    partials = xp.empty((n_seq, 4), dtype=np.float64)

    def residual_at_x_old() -> float:
        """E_y ← w∘(R_old − X), and the recon energy of x_old."""
        ops.recon_step(Xf, R_old, R_old, w, 0.0, E_y, row_e)
        return float(row_e.sum())

    def step(beta: float) -> None:
        xp.matmul(E_y, W.T, out=G)
        ops.code_step(y, G, x_old, x_new, y_new, n_frames, 1.0 / L, beta, prior.lam, prior.sigma,
                      prior.kappa, sparsity, slowness, partials)

    F_old = residual_at_x_old() + prior_energy(x_old, n_frames, prior)
    signal = 0.5 * float(xp.sum((Xf.astype(np.float64) ** 2) @ w.astype(np.float64)))
    noise = 1 * float(np.finfo(dt).eps) * (F_old + signal)  # rounding level of the energy
    info = EncodeInfo(energies=[F_old])
    t_k = 1.0
    y_is_x_old = True
    for it in range(1, max_iter + 1):
        info.n_iter = it
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t_k * t_k))
        beta = (t_k - 1.0) / t_next
        step(beta)
        xp.matmul(x_new, W, out=R_new)
        ops.recon_step(Xf, R_new, R_old, w, beta, E_y, row_e)
        sums = partials.sum(axis=0)
        F_new = float(row_e.sum()) + float(sums[0]) + float(sums[1])
        if F_new <= F_old + noise:
            x_old, x_new = x_new, x_old
            R_old, R_new = R_new, R_old
            y, y_new = y_new, y
            t_k, F_old, y_is_x_old = t_next, F_new, beta == 0.0
            info.energies.append(F_new)
            dx, xn = math.sqrt(float(sums[2])), math.sqrt(float(sums[3]))
            if dx <= tol * xn or dx == 0.0:
                info.converged = True
                break
        else:
            info.n_restarts += 1
            if y_is_x_old:  # even a plain prox-gradient step went up: the step was too long
                L *= 2.0
            y[...] = x_old
            residual_at_x_old()
            t_k, y_is_x_old = 1.0, True
            info.energies.append(F_old)
    info.lipschitz = L
    # prox-gradient residual at the returned codes: a plain step from y = x_old
    residual_at_x_old()
    y[...] = x_old
    step(0.0)
    sums = partials.sum(axis=0)
    info.residual = math.sqrt(float(sums[2])) / max(math.sqrt(float(xp.sum(x_old * x_old))), 1e-30)
    return x_old, info


def encode(X, D, *, max_iter: int = 200, tol: float = 1e-4, init=None, backend: str = "auto",
           return_info: bool = False, **prior_kwargs):
    """Infer complex codes for movie data under a dictionary.

    X: float (n_sequences, n_frames, n_features); D: complex (n_components, n_features).
    Prior keywords (see `csc.priors.make_prior`): sparsity ("l1" | "cauchy"), lam, sigma,
    slowness ("l2" | "l1" | "none"), kappa, weights (scalar or (n_features,)).
    max_iter: FISTA iterations at most; tol: stop when ‖x⁺ − x‖ ≤ tol‖x⁺‖; init: complex starting
    codes like the result (default zeros); backend: "auto" | "cpu" | "gpu".
    Returns Z complex64 (n_sequences, n_frames, n_components) — complex128 when X is float64 —
    and, with return_info=True, an `EncodeInfo`.
    """
    prior = make_prior(**prior_kwargs)
    X = check_data(X)
    D = check_dictionary(D, X.shape[-1])
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    be = get_backend(backend)
    B, T, M = X.shape
    K = D.shape[0]
    W = dictionary_to_real(D, X.dtype)
    w = prior.weight_vector(M, X.dtype)
    if init is None:
        C0 = np.zeros((B * T, 2 * K), dtype=X.dtype)
    else:
        C0 = codes_to_real(check_codes(init, (B, T), K), X.dtype)
    L, _ = lipschitz_constant(W, w)
    if prior.slowness == "l2":
        L += 4.0 * prior.kappa
    C, info = fista(X.reshape(B * T, M), W, w, prior, T, C0, L, int(max_iter), float(tol), be)
    Z = codes_from_real(C, B, T)
    return (Z, info) if return_info else Z
