"""Per-element and per-chain amplitude proxes, compiled with Numba (docs/design.md §2).

Every prior depends on the codes only through amplitudes, so its prox keeps each code's phase and
solves a problem on magnitudes r = |y| ≥ 0. These are the magnitude solvers; `kernels/` holds the
same math in CUDA C.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from csc.priors import SPARSE_GAUSS, SPARSE_L1


@njit(cache=True, inline="always")
def soft_amplitude(r: float, t: float) -> float:
    """argmin_s≥0 ½(r − s)² + t·s  =  max(r − t, 0)."""
    return r - t if r > t else 0.0


@njit(cache=True, inline="always")
def gauss_amplitude(r: float, t: float) -> float:
    """argmin_s≥0 ½(r − s)² + (t/2)·s²  =  r / (1 + t)  (r ≥ 0, t ≥ 0)."""
    return r / (1.0 + t)


@njit(cache=True)
def _cauchy_objective(s, r, t, sigma2):
    return 0.5 * (r - s) ** 2 + t * math.log1p(s * s / sigma2)


@njit(cache=True)
def _cubic_root(lo, hi, s, r, c, rs2):
    """Root of the cubic p(s) = s³ − r s² + c s − rσ² in [lo, hi], where p(lo) ≤ 0 ≤ p(hi), by
    Newton's method from s, falling back to bisection whenever a step leaves the bracket."""
    for _ in range(60):
        f = ((s - r) * s + c) * s - rs2
        if f > 0.0:
            hi = s
        else:
            lo = s
        df = (3.0 * s - 2.0 * r) * s + c
        s_new = s - f / df if df > 0.0 else 0.5 * (lo + hi)
        if not (lo <= s_new <= hi):
            s_new = 0.5 * (lo + hi)
        if abs(s_new - s) <= 1e-9 * r:  # Newton's error is then ~1e-18 r
            return s_new
        s = s_new
    return s


@njit(cache=True)
def cauchy_amplitude(r: float, t: float, sigma: float) -> float:
    """argmin_s≥0 ½(r − s)² + t·log(1 + s²/σ²), in float64.

    Stationary points solve p(s) = s³ − r s² + (σ² + 2t) s − r σ² = 0, and p(0) < 0 < p(r) for
    r > 0, so the minimiser is a root in (0, r). p' = 0 at s± = (r ± √(r² − 3c))/3 (if real)
    splits [0, r] into monotone pieces; each root is found by safeguarded Newton in its piece, and
    when there are two candidate minima (three real roots) the lower objective wins.
    Float32 arguments are widened first (as the CUDA twin's double parameters do), so r², rσ²
    and σ² cannot overflow or underflow for any finite float32 r and σ in `make_prior`'s range.
    """
    r = float(r)
    t = float(t)
    sigma = float(sigma)
    if r <= 0.0:
        return 0.0
    if t <= 0.0:
        return r
    sigma2 = sigma * sigma
    c = sigma2 + 2.0 * t
    rs2 = r * sigma2
    disc = r * r - 3.0 * c
    # one fixed-point step s = r − 2ts/(σ² + s²) from s = r: close to the root when t ≪ σ²
    guess = r - 2.0 * t * r / (sigma2 + r * r)
    if disc <= 0.0:  # p increasing on [0, r]: one root
        # Newton is monotone from the left where p is concave (left of s = r/3) and from the right
        # where it is convex. From the right of a root in the concave part, rounding throws it out
        # of the bracket and bisection stops ~1e-9 r away: for σ ≪ 1e-9 r that root (≈ rσ²/c) came
        # out as ~1e-9 r, with a prior energy of t·2 log(1e-9 r/σ) instead of ~0.
        s_infl = r / 3.0
        if ((s_infl - r) * s_infl + c) * s_infl - rs2 >= 0.0:
            return _cubic_root(0.0, s_infl, 0.0, r, c, rs2)
        return _cubic_root(s_infl, r, max(guess, s_infl), r, c, rs2)
    sq = math.sqrt(disc)
    s_max = (r - sq) / 3.0  # local maximum of p
    s_min = (r + sq) / 3.0  # local minimum of p
    p_max = ((s_max - r) * s_max + c) * s_max - rs2
    p_min = ((s_min - r) * s_min + c) * s_min - rs2
    if p_max < 0.0:  # the only root is right of the local minimum, where p is convex
        return _cubic_root(s_min, r, max(guess, s_min), r, c, rs2)
    low = _cubic_root(0.0, s_max, 0.0, r, c, rs2)  # p concave increasing here: start left
    if p_min > 0.0:
        return low
    high = _cubic_root(s_min, r, r, r, c, rs2)
    if _cauchy_objective(high, r, t, sigma2) <= _cauchy_objective(low, r, t, sigma2):
        return high
    return low


#: Newton steps of the vectorised Cauchy pass (`cauchy_amplitudes`): first in float32, whose
#: division costs a third of float64's, then in float64. From the start it picks, Newton is
#: monotone; 5 + 2 steps met the 1e-9 tolerance for every element of the benchmark's problems
#: and of the regimes of the tests (σ from 1e-6 to 30), as 8 float64 steps did, and an element
#: that does not is solved again by `cauchy_amplitude`.
CAUCHY_NEWTON_STEPS_F32 = 5
CAUCHY_NEWTON_STEPS_F64 = 2
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
_THREE32 = np.float32(3.0)
_TWO32 = np.float32(2.0)


@njit(cache=True, inline="always", fastmath=_FASTMATH, error_model="numpy")
def cauchy_amplitudes(r, out, n, t, sigma):
    """out[:n] = cauchy_amplitude(r[i], t, sigma) for i < n, the same roots 4–6 times faster.

    Three branch-free loops that LLVM vectorises (a closed form would call cbrt, acos and cos,
    which Numba cannot vectorise here; error_model "numpy" keeps divisions free of Python's
    zero check, which would stop it). The first locates the root as `cauchy_amplitude` does:
    Newton is monotone from 0 where p is concave and increasing up to the root (the iterates
    rise to it) and from r where p is convex down to it (they fall to it). The second takes
    CAUCHY_NEWTON_STEPS_F32 steps in float32, a loop of its own so that it runs twice as many
    elements a vector as float64 does; that brings the root within float32's precision. The
    third takes CAUCHY_NEWTON_STEPS_F64 steps in float64, which square the error. The elements
    it cannot settle (two candidate minima, the last step above 1e-9 r, or a float32 overflow,
    which leaves NaN) go to the scalar solver.
    """
    t = float(t)
    sigma = float(sigma)
    sigma2 = sigma * sigma
    c = sigma2 + 2.0 * t
    c32 = np.float32(c)
    s32 = np.empty(n, dtype=np.float32)
    r32 = np.empty(n, dtype=np.float32)
    rs2_32 = np.empty(n, dtype=np.float32)
    for i in range(n):
        ri = float(r[i])
        rs2 = ri * sigma2
        disc = ri * ri - 3.0 * c
        sq = math.sqrt(max(disc, 0.0))
        s_max = (ri - sq) * (1.0 / 3.0)  # local maximum of p (both r/3 when disc <= 0)
        s_min = (ri + sq) * (1.0 / 3.0)  # local minimum of p
        p_max = ((s_max - ri) * s_max + c) * s_max - rs2
        p_min = ((s_min - ri) * s_min + c) * s_min - rs2
        two_minima = (disc > 0.0) & (p_max >= 0.0) & (p_min <= 0.0)
        r32[i] = np.float32(ri)
        rs2_32[i] = np.float32(rs2)
        s32[i] = np.float32(ri) if p_min < 0.0 else np.float32(0.0)
        out[i] = -1.0 if two_minima | (ri <= 0.0) | (t <= 0.0) else 1.0  # -1: the scalar solver
    for i in range(n):
        s = s32[i]
        ri = r32[i]
        for _ in range(CAUCHY_NEWTON_STEPS_F32):
            s -= (((s - ri) * s + c32) * s - rs2_32[i]) / ((_THREE32 * s - _TWO32 * ri) * s + c32)
        s32[i] = s
    left = 0
    for i in range(n):
        ri = float(r[i])
        rs2 = ri * sigma2
        s = float(s32[i])
        step = 0.0
        for _ in range(CAUCHY_NEWTON_STEPS_F64):
            step = (((s - ri) * s + c) * s - rs2) / ((3.0 * s - 2.0 * ri) * s + c)
            s -= step
        settled = (abs(step) <= 1e-9 * ri) & (out[i] > 0.0)
        out[i] = s if settled else -1.0
        left += 0 if settled else 1
    if left:
        for i in range(n):
            if out[i] < 0.0:
                out[i] = cauchy_amplitude(r[i], t, sigma)


@njit(cache=True, inline="always")
def cauchy_energy_row(s, n, sigma2):
    """Σ_{i<n} log(1 + s_i²/σ²) with one log per run of factors rather than one per term.

    The factors 1 + a²/σ² are multiplied while the product stays below 1e280 (a factor above
    1e16 takes its own log); each term's rounding error is then ~1e-16 absolute, against log1p's
    ~1e-16 relative: an energy of Σ terms is off by at most ~1e-16 · n.
    """
    total = 0.0
    prod = 1.0
    for i in range(n):
        a = float(s[i])
        q = 1.0 + a * a / sigma2
        if q > 1e16:
            total += math.log(q)
        else:
            prod *= q
            if prod > 1e280:
                total += math.log(prod)
                prod = 1.0
    return total + math.log(prod)


@njit(cache=True, inline="always")
def sparse_amplitude(r: float, t: float, sigma: float, sparsity: int) -> float:
    """Magnitude prox of the sparse prior with weight t = τλ (sparsity code from priors.py)."""
    if sparsity == SPARSE_L1:
        return soft_amplitude(r, t)
    if sparsity == SPARSE_GAUSS:
        return gauss_amplitude(r, t)
    return cauchy_amplitude(r, t, sigma)


@njit(cache=True, inline="always")
def sparse_value(a: float, lam: float, sigma: float, sparsity: int) -> float:
    """S_p(a): λa (l1), (λ/2) a² (gauss) or λ log(1 + a²/σ²) (cauchy)."""
    if sparsity == SPARSE_L1:
        return lam * a
    if sparsity == SPARSE_GAUSS:
        return 0.5 * lam * a * a
    return lam * math.log1p(a * a / (sigma * sigma))


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def fused_lasso_amplitude(r, out, n, t_sparse, t_tv):
    """argmin_s≥0 ½Σ(s − r)² + t_sparse Σ s + t_tv Σ|Δs| for r ≥ 0: soft(TV(r), t_sparse).

    Exact by Friedman et al. (2007); TV of a non-negative signal stays non-negative.
    """
    tv_denoise(r, out, n, t_tv)
    for i in range(n):
        out[i] = soft_amplitude(out[i], t_sparse)
