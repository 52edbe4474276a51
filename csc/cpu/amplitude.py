"""Per-element and per-chain amplitude proxes, compiled with Numba (DESIGN.md §2).

Every prior depends on the codes only through amplitudes, so its prox keeps each code's phase and
solves a problem on magnitudes r = |y| ≥ 0. These are the magnitude solvers; `kernels/` holds the
same math in CUDA C.
"""
from __future__ import annotations

import math

from numba import njit

SPARSE_L1 = 0
SPARSE_CAUCHY = 1


@njit(cache=True, inline="always")
def soft_amplitude(r: float, t: float) -> float:
    """argmin_s≥0 ½(r − s)² + t·s  =  max(r − t, 0)."""
    return r - t if r > t else 0.0


@njit(cache=True)
def _cauchy_objective(s, r, t, sigma2):
    return 0.5 * (r - s) ** 2 + t * math.log1p(s * s / sigma2)


@njit(cache=True)
def cauchy_amplitude(r: float, t: float, sigma: float) -> float:
    """argmin_s≥0 ½(r − s)² + t·log(1 + s²/σ²), in float64.

    Stationary points solve s³ − r s² + (σ² + 2t) s − r σ² = 0. For r > 0 the objective decreases
    at s = 0 and increases at s = r, so the minimiser is the best real root in (0, r): solved in
    closed form (Cardano / trigonometric) and polished by a guarded Newton step.
    """
    if r <= 0.0:
        return 0.0
    if t <= 0.0:
        return r
    sigma2 = sigma * sigma
    c = sigma2 + 2.0 * t
    # depressed cubic y³ + p y + q with s = y + r/3
    p = c - r * r / 3.0
    q = -2.0 * r * r * r / 27.0 + r * c / 3.0 - r * sigma2
    disc = 0.25 * q * q + p * p * p / 27.0
    shift = r / 3.0
    best = r
    best_val = _cauchy_objective(r, r, t, sigma2)
    n_roots = 0
    roots = (0.0, 0.0, 0.0)
    if disc > 0.0:
        sq = math.sqrt(disc)
        y = math.copysign(abs(-0.5 * q + sq) ** (1.0 / 3.0), -0.5 * q + sq) + math.copysign(
            abs(-0.5 * q - sq) ** (1.0 / 3.0), -0.5 * q - sq)
        roots = (y + shift, 0.0, 0.0)
        n_roots = 1
    else:
        m = 2.0 * math.sqrt(max(-p / 3.0, 0.0))
        arg = 0.0
        if p < 0.0:
            arg = 3.0 * q / (p * m)  # = (3q / 2p)·sqrt(−3/p)
        arg = min(1.0, max(-1.0, arg))
        theta = math.acos(arg) / 3.0
        roots = (m * math.cos(theta) + shift,
                 m * math.cos(theta - 2.0 * math.pi / 3.0) + shift,
                 m * math.cos(theta - 4.0 * math.pi / 3.0) + shift)
        n_roots = 3
    for i in range(n_roots):
        s = min(max(roots[i], 0.0), r)
        # one guarded Newton polish on the cubic
        f = ((s - r) * s + c) * s - r * sigma2
        df = (3.0 * s - 2.0 * r) * s + c
        if df != 0.0:
            s_new = s - f / df
            if 0.0 <= s_new <= r:
                s = s_new
        val = _cauchy_objective(s, r, t, sigma2)
        if val < best_val:
            best, best_val = s, val
    return best


@njit(cache=True, inline="always")
def sparse_amplitude(r: float, t: float, sigma: float, sparsity: int) -> float:
    """Magnitude prox of the sparse prior with weight t = τλ (sparsity code from priors.py)."""
    if sparsity == SPARSE_L1:
        return soft_amplitude(r, t)
    return cauchy_amplitude(r, t, sigma)


@njit(cache=True, inline="always")
def sparse_value(a: float, lam: float, sigma: float, sparsity: int) -> float:
    """S_p(a): λa (l1) or λ log(1 + a²/σ²) (cauchy)."""
    if sparsity == SPARSE_L1:
        return lam * a
    return lam * math.log1p(a * a / (sigma * sigma))


@njit(cache=True)
def tv_denoise(y, out, n, lam):
    """Exact 1-D total-variation denoising (Condat 2013, "A direct algorithm for 1D TV denoising").

    out[:n] = argmin_x ½ Σ (x − y)² + lam Σ |x_{i+1} − x_i|. O(n) typical, no extra memory.
    """
    if n <= 0:
        return
    if lam <= 0.0:
        for i in range(n):
            out[i] = y[i]
        return
    k = 0
    k0 = 0
    kplus = 0
    kminus = 0
    umin = lam
    umax = -lam
    vmin = y[0] - lam
    vmax = y[0] + lam
    twolam = 2.0 * lam
    minlam = -lam
    while True:
        while k == n - 1:
            if umin < 0.0:
                while True:
                    out[k0] = vmin
                    k0 += 1
                    if k0 > kminus:
                        break
                k = k0
                kminus = k0
                vmin = y[k0]
                umin = lam
                umax = vmin + umin - vmax
            elif umax > 0.0:
                while True:
                    out[k0] = vmax
                    k0 += 1
                    if k0 > kplus:
                        break
                k = k0
                kplus = k0
                vmax = y[k0]
                umax = minlam
                umin = vmax + umax - vmin
            else:
                vmin += umin / (k - k0 + 1)
                while True:
                    out[k0] = vmin
                    k0 += 1
                    if k0 > k:
                        break
                return
        umin += y[k + 1] - vmin
        if umin < minlam:
            while True:
                out[k0] = vmin
                k0 += 1
                if k0 > kminus:
                    break
            k = k0
            kminus = k0
            kplus = k0
            vmin = y[k0]
            vmax = vmin + twolam
            umin = lam
            umax = minlam
        else:
            umax += y[k + 1] - vmax
            if umax > lam:
                while True:
                    out[k0] = vmax
                    k0 += 1
                    if k0 > kplus:
                        break
                k = k0
                kminus = k0
                kplus = k0
                vmax = y[k0]
                vmin = vmax - twolam
                umin = lam
                umax = minlam
            else:
                k += 1
                if umin >= lam:
                    kminus = k
                    vmin += (umin - lam) / (kminus - k0 + 1)
                    umin = lam
                if umax <= minlam:
                    kplus = k
                    vmax += (umax + lam) / (kplus - k0 + 1)
                    umax = minlam


@njit(cache=True)
def fused_lasso_amplitude(r, out, n, t_sparse, t_tv):
    """argmin_s≥0 ½Σ(s − r)² + t_sparse Σ s + t_tv Σ|Δs| for r ≥ 0: soft(TV(r), t_sparse).

    Exact by Friedman et al. (2007); TV of a non-negative signal stays non-negative.
    """
    tv_denoise(r, out, n, t_tv)
    for i in range(n):
        out[i] = soft_amplitude(out[i], t_sparse)
