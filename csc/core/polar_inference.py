"""The authors' first-layer inference: truncated Barzilai–Borwein descent over amplitudes and
phases from a random start (docs/design.md §9).

csc's own solver (`csc.core.fista.fista`) minimises the energy over the codes' real and
imaginary parts to convergence from zero. The authors' code (`infer_Z.m` with `minFunc_ind`,
method "bb", at most 15 iterations and 20 function evaluations) does something else, and the
codes their learning sees are the codes this procedure stops at:

- the variables are the amplitudes a and phases φ of z = a e^{iφ}, started at the polar form of
  0.2 (g + i g'), g and g' standard normal (`random_start`);
- the direction is the gradient with respect to (a, φ), where the phase part is the "natural"
  one: ∂E/∂φ divided by a (their `natural_gradient = 1`);
- the step is Barzilai–Borwein's α = sᵀy / yᵀy (minFunc's bbType 0) over the whole batch, the
  first one t = min(1, 1/‖g‖₁), then a non-monotone Armijo backtracking against the largest of
  the last 20 energies with cubic interpolation (minFunc's LS 2, Fref 20, c₁ 1e-4);
- it stops at `max_iter` iterations, after more than `max_evals` energy evaluations, or at
  minFunc's tolerances (‖g‖₁ ≤ 1e-5, ‖t d‖₁ ≤ 1e-9, |ΔE| < 1e-9).

As in their code, an amplitude may cross zero during the solve (the priors are even in a). The
returned codes are the same complex numbers with the sign moved into the phase, so every
amplitude is ≥ 0; that leaves the reconstruction and sparsity terms as they are and can only
lower the slowness term. The energy reported is that of the returned codes (`csc.core.energy`).

Smooth priors only: "cauchy" or "gauss" sparsity with "l2" or no slowness (the authors' slow
priors). The arrays are NumPy or CuPy (`xp`), so the same code runs on both backends; every
energy evaluation reads one number on the host (the line search decides on it).
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from csc.backends.backend import to_numpy
from csc.core.fista import EncodeInfo
from csc.priors import Prior

#: the authors' caps (init.m: minFunc_ind_Opts.MaxIter 15, MaxFunEvals 20)
PAPER_MAX_ITER = 15
PAPER_MAX_EVALS = 20
#: the scale of the random start: Z = 0.2 (randn + i randn) (infer_Z.m)
START_SCALE = 0.2
# minFunc's defaults for method "bb"
_C1, _FREF, _TOL_FUN, _TOL_X = 1e-4, 20, 1e-5, 1e-9


def check_smooth_prior(prior: Prior) -> None:
    """ValueError unless the prior is one the polar descent can differentiate."""
    if prior.sparsity not in ("cauchy", "gauss") or prior.slowness not in ("l2", "none"):
        raise ValueError(f"the paper's inference needs a smooth prior (cauchy or gauss sparsity, "
                         f"l2 or no slowness), got {prior.sparsity} sparsity with "
                         f"{prior.slowness} slowness")


def random_start(n_rows: int, n_components: int, seed) -> np.ndarray:
    """Real-form starting codes float64 (n_rows, 2K): [Re z, Im z] of z = 0.2 (g + i g') with
    g, g' standard normal from `np.random.default_rng(seed)`."""
    rng = np.random.default_rng(seed)
    return START_SCALE * rng.standard_normal((n_rows, 2 * n_components))


def _sum(xp, a):
    """Σ a in float64, left on the device."""
    return xp.sum(a, dtype=np.float64)


def _read(xp, *values) -> list[float]:
    """Device scalars as host floats, in one transfer (one synchronisation on the GPU)."""
    return [float(v) for v in to_numpy(xp.stack(values))]


class _PolarEnergy:
    """The energy of real frames Xf (N, M) over x = [a, φ] (N, 2K), and its polar gradient."""

    def __init__(self, Xf, W, w, prior: Prior, n_frames: int, xp, natural_gradient: bool):
        self.Xf, self.W, self.w, self.prior, self.xp = Xf, W, w, prior, xp
        self.T, self.K, self.natural = n_frames, W.shape[0] // 2, natural_gradient

    def _slowness(self, a) -> tuple[object, object]:
        """(κ/2) Σ_t (a_t − a_{t−1})² (a device scalar) and its gradient, over the frames of each
        sequence."""
        p, xp = self.prior, self.xp
        if p.slowness == "none" or self.T < 2:
            return xp.zeros((), np.float64), 0.0
        A = a.reshape(-1, self.T, self.K)
        d = A[:, 1:] - A[:, :-1]
        g = xp.zeros_like(A)
        g[:, 1:] += d
        g[:, :-1] -= d
        return 0.5 * p.kappa * _sum(xp, d * d), p.kappa * g.reshape(a.shape)

    def slowness(self, a) -> float:
        return _read(self.xp, self._slowness(a)[0])[0]

    def __call__(self, x) -> tuple[float, object]:
        """(energy, gradient (N, 2K): [∂E/∂a, ∂E/∂φ], the latter divided by a if natural)."""
        xp, p, K = self.xp, self.prior, self.K
        a, phi = x[:, :K], x[:, K:]
        c, s = xp.cos(phi), xp.sin(phi)
        C = xp.concatenate([a * c, a * s], axis=1)
        E = self.Xf - C @ self.W
        wE = E * self.w
        G = -(wE @ self.W.T)  # ∂E/∂[Re z, Im z]
        Gu, Gv = G[:, :K], G[:, K:]
        recon = 0.5 * _sum(xp, wE * E)
        if p.sparsity == "cauchy":
            sparse = p.lam * _sum(xp, xp.log1p((a / p.sigma) ** 2))
            d_sparse = 2 * p.lam * a / (p.sigma ** 2 + a * a)
        else:
            sparse = 0.5 * p.lam * _sum(xp, a * a)
            d_sparse = p.lam * a
        slow, d_slow = self._slowness(a)
        g_a = Gu * c + Gv * s + d_sparse + d_slow
        g_phi = Gv * c - Gu * s
        if not self.natural:
            g_phi = a * g_phi
        f, = _read(xp, recon + sparse + slow)
        return f, xp.concatenate([g_a, g_phi], axis=1)


def _cubic_step(f0: float, g0: float, t: float, f1: float, g1: float) -> float:
    """minFunc's polyinterp for two points with values and slopes: the minimiser of the cubic
    through (0, f0, g0) and (t, f1, g1), kept between them."""
    (x_min, f_min, g_min), (x_not, f_not, g_not) = sorted([(0.0, f0, g0), (t, f1, g1)],
                                                          key=lambda q: q[1])
    d1 = g_min + g_not - 3 * (f_min - f_not) / (x_min - x_not)
    d2_sq = d1 * d1 - g_min * g_not
    if not d2_sq >= 0:
        return 0.5 * t
    d2 = math.sqrt(d2_sq)
    denominator = g_not - g_min + 2 * d2
    if denominator == 0:  # no finite minimiser: the midpoint, as when the cubic has none
        return 0.5 * t
    step = x_not - (x_not - x_min) * ((g_not + d2 - d1) / denominator)
    return min(max(step, x_min), x_not)


def polar_bb(Xf, W, w, prior: Prior, n_frames: int, C0, *, max_iter: int = PAPER_MAX_ITER,
             max_evals: int = PAPER_MAX_EVALS, xp=np, natural_gradient: bool = True
             ) -> tuple[object, EncodeInfo]:
    """Barzilai–Borwein descent over amplitudes and phases (the module docstring).

    Xf: float (N, M) frames, N = n_sequences · n_frames; W: (2K, M) real-form dictionary, same
    dtype; w: (M,) weights; C0: (N, 2K) real-form starting codes (`random_start`), all arrays of
    `xp`. Returns (C (N, 2K) of xp, every amplitude ≥ 0; EncodeInfo: n_iter, energies (the
    start, then after each iteration, the last the returned codes' energy), converged (stopped at
    a tolerance rather than a cap), n_restarts (backtracking steps)).
    """
    check_smooth_prior(prior)
    K = W.shape[0] // 2
    energy = _PolarEnergy(Xf, W, w, prior, n_frames, xp, natural_gradient)
    u, v = C0[:, :K], C0[:, K:]
    x = xp.concatenate([xp.hypot(u, v), xp.arctan2(v, u)], axis=1).astype(Xf.dtype)
    f, g = energy(x)
    info, n_evals = EncodeInfo(energies=[f]), 1
    if not math.isfinite(f):
        raise ValueError(f"the starting energy {f:.3g} is not finite")
    recent: deque[float] = deque(maxlen=_FREF)
    d = t = g_old = None
    for i in range(1, max_iter + 1):
        if i == 1:
            d = -g
        else:
            y, s = g - g_old, t * d
            sy, yy = _read(xp, _sum(xp, s * y), _sum(xp, y * y))
            alpha = sy / max(yy, 1e-300)
            if not 1e-10 < alpha <= 1e10:
                alpha = 1.0
            d = -alpha * g
        g_old = g
        gtd, g_l1, d_l1 = _read(xp, _sum(xp, g * d), _sum(xp, xp.abs(g)), _sum(xp, xp.abs(d)))
        if gtd > -_TOL_X:
            info.converged = True
            break
        t = min(1.0, 1.0 / g_l1) if i == 1 else 1.0
        recent.append(f)
        f_ref, f_old = max(recent), f
        f_new, g_new = energy(x + t * d)
        n_evals += 1
        while not (math.isfinite(f_new) and f_new <= f_ref + _C1 * t * gtd):
            previous = t
            gd_new = _read(xp, _sum(xp, g_new * d))[0] if math.isfinite(f_new) else math.nan
            t = _cubic_step(f, gtd, t, f_new, gd_new) if math.isfinite(gd_new) else 0.5 * t
            t = min(max(t, 1e-3 * previous), 0.6 * previous)
            f_new, g_new = energy(x + t * d)
            n_evals += 1
            info.n_restarts += 1
            if t * d_l1 <= _TOL_X:  # the line search failed: stay
                t, f_new, g_new = 0.0, f, g
                break
        x, f, g = x + t * d, f_new, g_new
        info.n_iter = i
        info.energies.append(f)
        if (_read(xp, _sum(xp, xp.abs(g)))[0] <= _TOL_FUN or t * d_l1 <= _TOL_X
                or abs(f - f_old) < _TOL_X):
            info.converged = True
            break
        if n_evals > max_evals:
            break
    a, phi = x[:, :K], x[:, K:]
    slow_signed = energy.slowness(a)
    phi = phi + np.pi * (a < 0)
    a = xp.abs(a)
    info.energies[-1] = f - slow_signed + energy.slowness(a)
    return xp.concatenate([a * xp.cos(phi), a * xp.sin(phi)], axis=1), info
