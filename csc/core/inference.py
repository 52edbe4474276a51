"""Inference: accelerated proximal gradient (FISTA) with exact amplitude proxes (docs/design.md §2).

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

from csc.backends.backend import Backend, get_backend
from csc.core.energy import slowness_penalty, sparse_penalty
from csc.core.model import (
    check_codes,
    check_data,
    check_dictionary,
    codes_from_real,
    codes_to_real,
    dictionary_to_real,
)
from csc.core.priors import SLOWNESS_CODE, SPARSITY_CODE, Prior, make_prior


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


class _FistaState:
    """The device arrays of one solve and the moves between iterates (buffers swap, not copy)."""

    def __init__(self, Xf, W, w, prior: Prior, n_frames: int, C0, backend: Backend):
        xp = backend.xp
        self.xp, self.ops = xp, backend.ops
        self.Xf, self.W, self.w, self.prior, self.n_frames = Xf, W, w, prior, n_frames
        N = Xf.shape[0]
        self.sparsity = SPARSITY_CODE[prior.sparsity]
        self.slowness = SLOWNESS_CODE[prior.slowness]
        self.x_old = xp.array(C0, dtype=Xf.dtype, order="C", copy=True)
        self.x_new = xp.empty_like(self.x_old)
        self.y = self.x_old.copy()
        self.y_new = xp.empty_like(self.x_old)
        self.G = xp.empty_like(self.x_old)
        self.R_old = self.x_old @ W
        self.R_new = xp.empty_like(self.R_old)
        self.E_y = xp.empty_like(self.R_old)
        self.row_e = xp.empty(N, dtype=np.float64)
        self.partials = xp.empty((N // n_frames, 4), dtype=np.float64)

    def restart_at_x_old(self):
        """y ← x_old, E_y ← w∘(R_old − X); returns the reconstruction energy of x_old (device)."""
        self.y[...] = self.x_old
        self.ops.recon_step(self.Xf, self.R_old, self.R_old, self.w, 0.0, self.E_y, self.row_e)
        return self.row_e.sum()

    def step(self, L: float, beta: float):
        """x_new, y_new from y; returns device sums [sparse, slow, ‖x_new − x_old‖², ‖x_new‖²]."""
        p = self.prior
        self.xp.matmul(self.E_y, self.W.T, out=self.G)
        self.ops.code_step(self.y, self.G, self.x_old, self.x_new, self.y_new, self.n_frames,
                           1.0 / L, beta, p.lam, p.sigma, p.kappa, self.sparsity, self.slowness,
                           self.partials)
        return self.partials.sum(axis=0)

    def iterate(self, L: float, beta: float):
        """One FISTA iteration; returns device (energy of x_new, ‖x_new − x_old‖², ‖x_new‖²)."""
        sums = self.step(L, beta)
        self.xp.matmul(self.x_new, self.W, out=self.R_new)
        self.ops.recon_step(self.Xf, self.R_new, self.R_old, self.w, beta, self.E_y, self.row_e)
        return self.row_e.sum() + sums[0] + sums[1], sums[2], sums[3]

    def accept(self) -> None:
        self.x_old, self.x_new = self.x_new, self.x_old
        self.R_old, self.R_new = self.R_new, self.R_old
        self.y, self.y_new = self.y_new, self.y

    def snapshot(self):
        return tuple(a.copy() for a in (self.x_old, self.R_old, self.y, self.E_y))

    def restore(self, snap) -> None:
        for dst, src in zip((self.x_old, self.R_old, self.y, self.E_y), snap):
            dst[...] = src


def fista(Xf, W, w, prior: Prior, n_frames: int, C0, L: float, max_iter: int, tol: float,
          backend: Backend, sync_every: int | None = None) -> tuple[np.ndarray, EncodeInfo]:
    """Minimise the energy over real codes (arrays of `backend.xp`, all on one device).

    Xf: float (N, M) frames, N = n_sequences·n_frames; W: (2K, M) same dtype; w: (M,) weights;
    C0: (N, 2K) starting codes (not modified); L: starting Lipschitz constant.
    sync_every: iterations between host reads of the energies (default 1 on the CPU, 8 on the GPU).
    Between reads every step is assumed accepted; if a read finds one that raised the energy, the
    block is replayed from a snapshot with a read per iteration, so the iterates are exactly those
    of checking every iteration, at one host round trip per block on the GPU.
    Returns (C (N, 2K) of `backend.xp`, EncodeInfo).
    """
    xp = backend.xp
    sync_every = sync_every or (1 if backend.name == "cpu" else 8)
    st = _FistaState(Xf, W, w, prior, n_frames, C0, backend)
    F_old = float(st.restart_at_x_old()) + prior_energy(st.x_old, n_frames, prior)
    signal = 0.5 * float(xp.sum((Xf.astype(np.float64) ** 2) @ w.astype(np.float64)))
    noise = float(np.finfo(Xf.dtype).eps) * (F_old + signal)  # rounding level of the energy
    info = EncodeInfo(energies=[F_old])
    t_k, y_is_x_old = 1.0, True

    def momentum(t):
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        return t_next, (t - 1.0) / t_next

    def careful(n_steps: int) -> bool:
        """n_steps iterations, each decided on the host at once; True when converged."""
        nonlocal F_old, t_k, y_is_x_old, L
        for _ in range(n_steps):
            info.n_iter += 1
            t_next, beta = momentum(t_k)
            F_new, dx2, x2 = (float(v) for v in st.iterate(L, beta))
            if F_new <= F_old + noise:
                st.accept()
                t_k, F_old, y_is_x_old = t_next, F_new, beta == 0.0
                info.energies.append(F_new)
                if dx2 <= tol * tol * x2 or dx2 == 0.0:
                    return True
            else:
                info.n_restarts += 1
                if y_is_x_old:  # even a plain prox-gradient step went up: the step was too long
                    L *= 2.0
                st.restart_at_x_old()
                t_k, y_is_x_old = 1.0, True
                info.energies.append(F_old)
        return False

    def optimistic(n_steps: int) -> bool | None:
        """n_steps iterations assuming acceptance, one host read at the end. Returns None when a
        step raised the energy (the caller replays), else whether the iterates converged."""
        nonlocal F_old, t_k, y_is_x_old
        t, readings = t_k, []
        for _ in range(n_steps):
            t_next, beta = momentum(t)
            readings.append(xp.stack(st.iterate(L, beta)))
            st.accept()
            t = t_next
        values = backend.asnumpy(xp.stack(readings))
        previous = F_old
        for F_new, _, _ in values:
            if F_new > previous + noise:
                return None
            previous = F_new
        info.n_iter += n_steps
        info.energies.extend(float(v) for v in values[:, 0])
        F_old, t_k, y_is_x_old = float(values[-1, 0]), t, n_steps == 1 and t_k == 1.0
        return bool(np.any((values[:, 1] <= tol * tol * values[:, 2]) | (values[:, 1] == 0.0)))

    while info.n_iter < max_iter:
        block = min(sync_every, max_iter - info.n_iter)
        if block == 1:
            converged = careful(1)
        else:
            snap = st.snapshot()
            converged = optimistic(block)
            if converged is None:
                st.restore(snap)
                converged = careful(block)
        if converged:
            info.converged = True
            break
    info.lipschitz = L
    # prox-gradient residual at the returned codes: a plain step from y = x_old
    st.restart_at_x_old()
    sums = st.step(L, 0.0)
    info.residual = math.sqrt(float(sums[2])) / max(
        math.sqrt(float(xp.sum(st.x_old * st.x_old))), 1e-30)
    return st.x_old, info


def encode(X, D, *, max_iter: int = 200, tol: float = 1e-4, init=None, backend: str = "auto",
           return_info: bool = False, **prior_kwargs):
    """Infer complex codes for movie data under a dictionary.

    X: float (n_sequences, n_frames, n_features); D: complex (n_components, n_features).
    Prior keywords (see `csc.core.priors.make_prior`): sparsity ("l1" | "cauchy" | "gauss"), lam,
    sigma (cauchy only), slowness ("l2" | "l1" | "none"; "l1" with "l1" sparsity only), kappa,
    weights (scalar or (n_features,)).
    max_iter: FISTA iterations at most; tol: stop when ‖x⁺ − x‖ ≤ tol‖x⁺‖; init: complex starting
    codes like the result (default zeros); backend: "auto" | "cpu" | "gpu".
    Returns Z complex64 (n_sequences, n_frames, n_components) — complex128 when X is float64 on
    the CPU (the GPU computes in float32) — and, with return_info=True, an `EncodeInfo`.
    """
    prior = make_prior(**prior_kwargs)
    X = check_data(X)
    D = check_dictionary(D, X.shape[-1])
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    be = get_backend(backend)
    if be.name == "gpu" and X.dtype != np.float32:  # the CUDA kernels are float32
        X = X.astype(np.float32)
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
    C, info = fista(be.asarray(X.reshape(B * T, M)), be.asarray(W), be.asarray(w), prior, T,
                    be.asarray(C0), L, int(max_iter), float(tol), be)
    Z = codes_from_real(be.asnumpy(C), B, T)
    return (Z, info) if return_info else Z
