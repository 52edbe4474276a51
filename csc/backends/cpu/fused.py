"""Fused passes of one FISTA iteration on the CPU (Numba, parallel over sequences).

Codes are real (N, 2K) arrays, N = n_sequences · n_frames, row n = b·T + t holding [u_1..u_K,
v_1..v_K]: the unit index is the fastest-varying one. `kernels/` holds the CUDA twins.

`code_step` does, in one read of (Y, G, X_old) and one write of (X_new, Y_new):
    P = Y − τ (G + ∇slow(Y))          gradient step (l2 slowness gradient added here)
    X_new = prox_{τ g}(P)             exact amplitude prox, phases kept
    Y_new = X_new + β (X_new − X_old)  momentum
and per-sequence partial sums [sparse energy, slowness energy, ‖X_new − X_old‖², ‖X_new‖²] of
X_new, written to `partials` (n_sequences, 4) float64 so that the host sum is deterministic.

`recon_step` does, in one pass over (X, R_new, R_old): the weighted reconstruction energy of the
new codes per row, and the weighted residual at the extrapolated point
    E_y = w ∘ (R_new + β (R_new − R_old) − X),
which is what the next gradient GEMM needs (reconstruction is linear, so no extra GEMM).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from csc.backends.cpu.amplitude import (
    cauchy_amplitudes,
    cauchy_energy_row,
    fused_lasso_amplitude,
    gauss_amplitude,
)
from csc.priors import SLOW_L1, SLOW_L2, SLOW_NONE, SPARSE_GAUSS, SPARSE_L1

# Reassociation lets LLVM vectorise the reductions; no flag that changes NaN/Inf semantics.
# error_model="numpy" on the passes: a division gives inf or NaN instead of raising
# ZeroDivisionError, whose check per element stops LLVM vectorising the loops it is in (every
# division here has a nonzero denominator by construction).
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
_TINY = 1e-30


@njit(cache=True, inline="always")
def _row_amplitudes(C, n, K, out):
    for k in range(K):
        out[k] = math.sqrt(C[n, k] * C[n, k] + C[n, K + k] * C[n, K + k])


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _store_code(X_old, X_new, Y_new, n, k, K, s, r, pu, pv, beta):
    """Put the phase back on amplitude s (x = s·p/|p|, |p| = r), write x and the momentum point
    y = x + β(x − x_old) at (row n, unit k); return (‖x − x_old‖², ‖x‖²) of that code."""
    scale = s / max(r, _TINY)
    xu = scale * pu
    xv = scale * pv
    du = xu - X_old[n, k]
    dv = xv - X_old[n, K + k]
    X_new[n, k] = xu
    X_new[n, K + k] = xv
    Y_new[n, k] = xu + beta * du
    Y_new[n, K + k] = xv + beta * dv
    return du * du + dv * dv, xu * xu + xv * xv


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _sparse_amplitudes(r, s, K, t, sigma, sparsity):
    """s[:K] ← the sparse prior's magnitude prox of r[:K] with weight t (branch-free for l1 and
    gauss, so the loops vectorise)."""
    if sparsity == SPARSE_L1:
        for k in range(K):
            s[k] = max(r[k] - t, 0.0)
    elif sparsity == SPARSE_GAUSS:
        for k in range(K):
            s[k] = gauss_amplitude(r[k], t)
    else:
        cauchy_amplitudes(r, s, K, t, sigma)


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _code_step_pointwise(Y, G, X_old, X_new, Y_new, n_frames, tau, beta, lam, sigma, kappa,
                         sparsity, slowness, partials):
    N, K2 = Y.shape
    K = K2 // 2
    n_seq = N // n_frames
    t_sparse = tau * lam
    sigma2 = sigma * sigma  # sigma is float64 (see code_step)
    for b in prange(n_seq):
        base = b * n_frames
        ay_prev = np.zeros(K)
        ay_cur = np.zeros(K)
        ay_next = np.zeros(K)
        ax_prev = np.zeros(K)
        pu = np.empty(K, dtype=Y.dtype)
        pv = np.empty(K, dtype=Y.dtype)
        r = np.empty(K, dtype=Y.dtype)
        s = np.empty(K, dtype=Y.dtype)
        if slowness == SLOW_L2:
            _row_amplitudes(Y, base, K, ay_cur)
        sp = 0.0
        sl = 0.0
        dx2 = 0.0
        x2 = 0.0
        for t in range(n_frames):
            n = base + t
            has_next = t + 1 < n_frames
            # 1. gradient step (the l2 slowness gradient needs the neighbouring frames' amplitudes)
            if slowness == SLOW_L2:
                if has_next:
                    _row_amplitudes(Y, n + 1, K, ay_next)
                for k in range(K):
                    a = ay_cur[k]
                    coef = 0.0
                    if a > 0.0:
                        if t > 0:
                            coef += a - ay_prev[k]
                        if has_next:
                            coef += a - ay_next[k]
                        coef *= kappa / a
                    pu[k] = Y[n, k] - tau * (G[n, k] + coef * Y[n, k])
                    pv[k] = Y[n, K + k] - tau * (G[n, K + k] + coef * Y[n, K + k])
            else:
                for k in range(K):
                    pu[k] = Y[n, k] - tau * G[n, k]
                    pv[k] = Y[n, K + k] - tau * G[n, K + k]
            # 2. amplitude prox
            for k in range(K):
                r[k] = math.sqrt(pu[k] * pu[k] + pv[k] * pv[k])
            _sparse_amplitudes(r, s, K, t_sparse, sigma, sparsity)
            # 3. phases back, momentum, and the partial sums
            for k in range(K):
                ddx, dxx = _store_code(X_old, X_new, Y_new, n, k, K, s[k], r[k], pu[k], pv[k],
                                       beta)
                dx2 += ddx
                x2 += dxx
            if sparsity == SPARSE_L1:
                for k in range(K):
                    sp += s[k]
            elif sparsity == SPARSE_GAUSS:
                for k in range(K):
                    sp += 0.5 * s[k] * s[k]
            else:
                sp += cauchy_energy_row(s, K, sigma2)
            if slowness == SLOW_L2:
                if t > 0:
                    for k in range(K):
                        sl += (s[k] - ax_prev[k]) ** 2
                for k in range(K):
                    ax_prev[k] = s[k]
                ay_prev, ay_cur, ay_next = ay_cur, ay_next, ay_prev
        partials[b, 0] = lam * sp
        partials[b, 1] = 0.5 * kappa * sl
        partials[b, 2] = dx2
        partials[b, 3] = x2


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _code_step_chain(Y, G, X_old, X_new, Y_new, n_frames, tau, beta, lam, kappa, partials):
    """l1 sparsity + l1 (TV) slowness: the prox couples the frames of each (sequence, unit)
    chain. Per sequence: the gradient step row by row (contiguous, vectorised), amplitudes
    stored chain-major, the exact chain prox on each contiguous chain, then the codes written
    back row by row."""
    N, K2 = Y.shape
    K = K2 // 2
    n_seq = N // n_frames
    T = n_frames
    for b in prange(n_seq):
        base = b * T
        pu = np.empty((T, K), dtype=Y.dtype)
        pv = np.empty((T, K), dtype=Y.dtype)
        r = np.empty((T, K), dtype=Y.dtype)
        chains = np.empty((K, T))  # amplitudes, one contiguous chain per unit
        s = np.empty((K, T))
        t_sparse = tau * lam
        t_tv = tau * kappa
        # Kadane's running sums of r − τλ over each chain: `best` the largest sum over an
        # interval, `run` the largest ending at t, `total` the whole chain's
        best = np.full(K, -np.inf)
        run = np.zeros(K)
        total = np.zeros(K)
        for t in range(T):
            n = base + t
            for k in range(K):
                pu[t, k] = Y[n, k] - tau * G[n, k]
                pv[t, k] = Y[n, K + k] - tau * G[n, K + k]
                r[t, k] = math.sqrt(pu[t, k] * pu[t, k] + pv[t, k] * pv[t, k])
                d = r[t, k] - t_sparse
                run[k] = max(run[k], 0.0) + d
                best[k] = max(best[k], run[k])
                total[k] += d
            for k in range(K):
                chains[k, t] = r[t, k]
        for k in range(K):
            # Zero chains, found exactly without solving them: the largest value of TV(r) is a
            # plateau [a, b] whose neighbours lie below it, worth (Σ_a^b r − c·τκ)/(b − a + 1)
            # with c = 1 or 2 boundaries, or the mean if it is the whole chain. If no interval
            # sums r − τλ above τκ, and the chain above 0, that value is ≤ τλ and the soft
            # threshold zeroes every frame. (All r ≤ τλ is the case every sum is ≤ 0.)
            if best[k] <= t_tv and total[k] <= 0.0:
                s[k, :] = 0.0
            else:
                fused_lasso_amplitude(chains[k], s[k], T, t_sparse, t_tv)
        sp = 0.0
        sl = 0.0
        dx2 = 0.0
        x2 = 0.0
        for t in range(T):
            n = base + t
            for k in range(K):
                a = s[k, t]
                ddx, dxx = _store_code(X_old, X_new, Y_new, n, k, K, a, r[t, k], pu[t, k],
                                       pv[t, k], beta)
                dx2 += ddx
                x2 += dxx
                sp += a
                if t > 0:
                    sl += abs(a - s[k, t - 1])
        partials[b, 0] = lam * sp
        partials[b, 1] = kappa * sl
        partials[b, 2] = dx2
        partials[b, 3] = x2


def code_partials_shape(n_seq: int, n_frames: int, K: int, slowness: int) -> tuple[int, int]:
    """Shape of `code_step`'s partials: (n_seq, 4) float64, one row per sequence."""
    return n_seq, 4


def recon_partials_shape(N: int, M: int) -> tuple[int]:
    """Shape of `recon_step`'s partials: (N,) float64, one per row."""
    return (N,)


def iteration_sums(code_partials, recon_partials, out, plan: dict | None = None) -> None:
    """out (3,) float64 ← [reconstruction + sparse + slowness energy, ‖Δx‖², ‖x‖²] from the
    partials of `code_step` (n_seq, 4) and `recon_step` (N,); either may be None (terms 0)."""
    code = np.zeros((1, 4)) if code_partials is None else code_partials
    recon = 0.0 if recon_partials is None else recon_partials.sum()
    sums = code.sum(axis=0)
    out[0] = recon + sums[0] + sums[1]
    out[1] = sums[2]
    out[2] = sums[3]


def code_step(Y, G, X_old, X_new, Y_new, n_frames: int, tau: float, beta: float, lam: float,
              sigma: float, kappa: float, sparsity: int, slowness: int,
              partials: np.ndarray, plan: dict | None = None) -> None:
    """One fused gradient-step + prox + momentum pass; see the module docstring. `plan` is for
    the GPU twin (prepared launches); unused here.

    Y, G, X_old, X_new, Y_new: float32 or float64 (N, 2K), C-contiguous, one dtype;
    partials: float64 (N // n_frames, 4), written. slowness = SLOW_L1 runs the chain pass, which
    is l1 sparsity only (`make_prior` refuses cauchy and gauss with it); otherwise the pointwise
    pass takes any sparsity code. sigma reaches the kernel as the float64 value of its
    dtype-rounded self, as the CUDA kernel's float parameter is widened to double: the Cauchy
    prox and energy then run in double for float32 data too (σ² of a float32 σ ≥ 1.2e-38 is
    a normal double; in float32 it underflows below σ ≈ 1e-19).
    """
    dt = Y.dtype.type
    if slowness == SLOW_L1:
        _code_step_chain(Y, G, X_old, X_new, Y_new, n_frames, dt(tau), dt(beta), dt(lam),
                         dt(kappa), partials)
    else:
        _code_step_pointwise(Y, G, X_old, X_new, Y_new, n_frames, dt(tau), dt(beta), dt(lam),
                             float(dt(sigma)), dt(kappa), sparsity, slowness, partials)


def recon_step(X, R_new, R_old, w, beta, E_y, partials, plan: dict | None = None) -> None:
    """Weighted reconstruction energy of the new codes and the residual at the momentum point.

    X, R_new, R_old, E_y: float (N, M); w: float (M,); partials: float64 (N,), written with
    ½ Σ_m w_m (X − R_new)² per row; E_y written with w ∘ (R_new + β (R_new − R_old) − X).
    `plan` is for the GPU twin; unused here.
    """
    _recon_step(X, R_new, R_old, w, beta, E_y, partials)


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _recon_step(X, R_new, R_old, w, beta, E_y, row_energy):
    N, M = X.shape
    for n in prange(N):
        acc = 0.0
        for m in range(M):
            rn = R_new[n, m]
            x = X[n, m]
            e = x - rn
            acc += w[m] * e * e
            E_y[n, m] = w[m] * (rn + beta * (rn - R_old[n, m]) - x)
        row_energy[n] = 0.5 * acc


#: rows per task of `anchored_step` (a task allocates its row buffers once)
_ANCHORED_ROWS = 16


def anchored_step(Y, G, anchor, X_old, X_new, Y_new, tau: float, beta: float, lam: float,
                  sigma: float, kappa: float, sparsity: int, slowness: int,
                  plan: dict | None = None) -> None:
    """One causal FISTA step on single-frame rows: gradient step, the anchored prox, momentum.

    P = Y − τG; X_new = prox_{τ(S_p + S_l(· − c))}(P) with c = anchor, phases kept (a zero P
    gives phase 0); Y_new = X_new + β(X_new − X_old). The anchored prox is that of
    `csc.core.causal_inference`: with l2 slowness the sparse prox at the magnitude
    (r + τκc)/(1 + τκ) with weight τλ/(1 + τκ); with TV slowness (l1 sparsity) its closed form;
    with slowness "none" or anchor None, the sparse prox alone.

    Y, G, X_old, X_new, Y_new: float32 or float64 (N, 2K) C-contiguous, one dtype; Y_new may be
    G's buffer (a row is read whole before it is written); anchor: (N, K) of the same dtype, or
    None. sigma is widened as in `code_step`. `plan` is for the GPU twin; unused here.
    """
    dt = Y.dtype.type
    if anchor is None:
        anchor, slowness = np.zeros((0, 0), dtype=Y.dtype), SLOW_NONE
    _anchored_step(Y, G, anchor, X_old, X_new, Y_new, dt(tau), dt(beta), dt(lam),
                   float(dt(sigma)), dt(kappa), sparsity, slowness)


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _anchored_step(Y, G, anchor, X_old, X_new, Y_new, tau, beta, lam, sigma, kappa, sparsity,
                   slowness):
    N, K2 = Y.shape
    K = K2 // 2
    rows = _ANCHORED_ROWS
    t_sparse = tau * lam
    k_tau = tau * kappa
    shrink = 1.0 / (1.0 + k_tau)
    for task in prange((N + rows - 1) // rows):
        pu = np.empty(K, dtype=Y.dtype)
        pv = np.empty(K, dtype=Y.dtype)
        r = np.empty(K, dtype=Y.dtype)
        q = np.empty(K, dtype=Y.dtype)
        s = np.empty(K, dtype=Y.dtype)
        for n in range(task * rows, min(N, (task + 1) * rows)):
            for k in range(K):
                pu[k] = Y[n, k] - tau * G[n, k]
                pv[k] = Y[n, K + k] - tau * G[n, K + k]
                r[k] = math.sqrt(pu[k] * pu[k] + pv[k] * pv[k])
            if slowness == SLOW_L1:  # l1 sparsity: the three-case closed form
                for k in range(K):
                    c = anchor[n, k]
                    above = r[k] - tau * (lam + kappa)
                    below = r[k] - tau * (lam - kappa)
                    a = above if above > c else (below if below < c else c)
                    s[k] = max(a, 0.0)
            else:
                t_eff = t_sparse
                if slowness == SLOW_L2:
                    t_eff = t_sparse * shrink
                    for k in range(K):
                        q[k] = (r[k] + k_tau * anchor[n, k]) * shrink
                else:
                    for k in range(K):
                        q[k] = r[k]
                _sparse_amplitudes(q, s, K, t_eff, sigma, sparsity)
            for k in range(K):
                if r[k] > 0.0:
                    scale = s[k] / max(r[k], _TINY)
                    xu = scale * pu[k]
                    xv = scale * pv[k]
                else:
                    xu = s[k]
                    xv = 0.0
                X_new[n, k] = xu
                X_new[n, K + k] = xv
                Y_new[n, k] = xu + beta * (xu - X_old[n, k])
                Y_new[n, K + k] = xv + beta * (xv - X_old[n, K + k])
