"""Each prox against numerical minimisation of its defining problem (scipy.optimize)."""
import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from csc.backends.cpu.amplitude import (
    cauchy_amplitude,
    cauchy_amplitudes,
    cauchy_energy_row,
    fused_lasso_amplitude,
    gauss_amplitude,
    soft_amplitude,
    sparse_amplitude,
    sparse_value,
    tv_denoise,
)
from csc.core.proxes import prox_codes
from csc.priors import SPARSE_CAUCHY, SPARSE_GAUSS, SPARSE_L1


def _scalar_min(f, r):
    """Global minimiser of f on [0, r]: a fine grid, then bounded refinement around the best."""
    grid = np.linspace(0, r, 2001)
    i = int(np.argmin([f(s) for s in grid]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    return min((res.x, grid[i]), key=f)


def test_soft_amplitude_matches_minimisation(rng):
    for r, t in rng.uniform(0, 3, (50, 2)):
        f = lambda s: 0.5 * (r - s) ** 2 + t * s
        assert soft_amplitude(r, t) == pytest.approx(_scalar_min(f, r), abs=1e-7)


def test_gauss_amplitude_matches_minimisation(rng):
    for r, t in np.concatenate([rng.uniform(0, 3, (50, 2)), [[0.0, 0.7], [1.3, 0.0]]]):
        f = lambda s: 0.5 * (r - s) ** 2 + 0.5 * t * s * s
        s = gauss_amplitude(r, t)
        assert f(s) <= f(_scalar_min(f, r)) + 1e-14
        assert s == pytest.approx(_scalar_min(f, r), abs=1e-7)


def test_sparse_dispatch_matches_each_prior(rng):
    """sparse_amplitude / sparse_value pick the prox and S_p of every sparsity code."""
    for r, t, sigma in rng.uniform(0.05, 3, (20, 3)):
        assert sparse_amplitude(r, t, sigma, SPARSE_L1) == soft_amplitude(r, t)
        assert sparse_amplitude(r, t, sigma, SPARSE_GAUSS) == gauss_amplitude(r, t)
        assert sparse_amplitude(r, t, sigma, SPARSE_CAUCHY) == cauchy_amplitude(r, t, sigma)
        assert sparse_value(r, t, sigma, SPARSE_L1) == pytest.approx(t * r)
        assert sparse_value(r, t, sigma, SPARSE_GAUSS) == pytest.approx(0.5 * t * r * r)
        assert sparse_value(r, t, sigma, SPARSE_CAUCHY) == pytest.approx(
            t * np.log1p(r * r / sigma**2))


@pytest.mark.parametrize("regime", ["random", "three_roots"])
def test_cauchy_amplitude_matches_minimisation(rng, regime):
    """Includes the non-convex regime (small σ, large τλ) where the cubic has three real roots and
    the objective two local minima."""
    for _ in range(80):
        if regime == "random":
            r, t, sigma = rng.uniform(0, 4), rng.uniform(0, 2), rng.uniform(0.05, 2)
        else:
            sigma = rng.uniform(0.05, 0.2)
            t = rng.uniform(0.05, 0.6)
            r = rng.uniform(0.5, 2.0)
        f = lambda s: 0.5 * (r - s) ** 2 + t * np.log1p(s * s / sigma**2)
        s = cauchy_amplitude(r, t, sigma)
        ref = _scalar_min(f, r)
        assert f(s) <= f(ref) + 1e-12
        assert s == pytest.approx(ref, abs=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cauchy_rows_equal_the_scalar_prox(rng, dtype):
    """The vectorised row pass (Newton from a monotone start, the hard cases handed to the scalar
    solver) gives cauchy_amplitude's roots: random, two-minima and tiny-σ regimes, r = 0, t = 0."""
    for sigma, t_scale in ((0.4, 0.1), (0.1, 0.5), (1e-6, 1e-3), (30.0, 1e3), (0.4, 0.0)):
        r = (sigma * 10 ** rng.uniform(-3, 3, 999)).astype(dtype)
        r[:3] = 0.0
        t = dtype(t_scale * rng.uniform(0.5, 2))
        out = np.empty(r.size)
        cauchy_amplitudes(r, out, r.size, t, sigma)
        want = np.array([cauchy_amplitude(x, t, sigma) for x in r])
        np.testing.assert_allclose(out, want, rtol=1e-8, atol=0)
        assert np.all(out[:3] == 0.0)


def test_cauchy_energy_row_is_the_sum_of_logs(rng):
    """One log per run of factors, against Σ log1p term by term: within 1e-16 · n absolute, also
    with factors too large to multiply (tiny σ)."""
    for sigma in (0.4, 1e-3, 1e-30):
        a = np.abs(rng.standard_normal(500)) * rng.choice([0.0, 1e-9, 1.0, 1e3], 500)
        want = np.sum(np.log1p(a * a / sigma**2))
        assert cauchy_energy_row(a, a.size, sigma**2) == pytest.approx(want, rel=1e-14,
                                                                       abs=1e-16 * a.size)


def test_chain_step_skips_chains_under_the_threshold_exactly(rng):
    """The chain pass sets chains whose amplitudes all lie below τλ to zero without solving them;
    the codes equal a per-chain reference that solves every chain."""
    from csc.backends.cpu.fused import code_step
    from csc.priors import SLOW_L1

    n_seq, T, K = 6, 9, 24
    tau, beta, lam, kappa = 0.5, 0.3, 0.2, 0.4
    # chain amplitudes near τλ = 0.1: from half of it to three times it, 5% ripple
    level = np.tile(np.linspace(0.05, 0.3, K), 2)
    Y = level * (1 + 0.05 * rng.standard_normal((n_seq * T, 2 * K))) / np.sqrt(2)
    G = np.zeros_like(Y)
    X_old = rng.standard_normal(Y.shape)
    X_new, Y_new = np.empty_like(Y), np.empty_like(Y)
    code_step(Y, G, X_old, X_new, Y_new, T, tau, beta, lam, 0.4, kappa, SPARSE_L1, SLOW_L1,
              np.empty((n_seq, 4)))
    P = Y - tau * G
    Pc = P[:, :K] + 1j * P[:, K:]
    want = np.empty_like(Pc)
    for b in range(n_seq):
        for k in range(K):
            chain = Pc[b * T:(b + 1) * T, k]
            s = np.empty(T)
            fused_lasso_amplitude(np.abs(chain), s, T, tau * lam, tau * kappa)
            want[b * T:(b + 1) * T, k] = s * chain / np.maximum(np.abs(chain), 1e-30)
    quiet = np.abs(Pc).reshape(n_seq, T, K).max(axis=1) <= tau * lam
    assert 0 < quiet.mean() < 1  # both kinds of chain occur, and chains just above τλ
    assert np.any(np.abs(want).reshape(n_seq, T, K).max(axis=1) < 0.5 * tau * lam, where=~quiet)
    np.testing.assert_allclose(X_new[:, :K] + 1j * X_new[:, K:], want, rtol=1e-12, atol=1e-15)


def test_chain_step_finds_the_zero_chains_above_the_threshold_exactly(rng):
    """Chains whose amplitudes rise above τλ but whose fused-lasso answer is still all zero
    (no interval sums r − τλ above τκ, and the chain sums it below 0) are set to zero without
    solving them. Against the per-chain reference: spikes just above τλ, some within τκ of it
    and some beyond, and flat chains just above τλ (all zero by the peak, but not by the mean:
    their answer is not zero)."""
    from csc.backends.cpu.fused import code_step
    from csc.priors import SLOW_L1

    n_seq, T, K = 8, 12, 40
    tau, beta, lam, kappa = 0.5, 0.3, 0.2, 0.1  # τλ = 0.1, τκ = 0.05
    t_s, t_tv = tau * lam, tau * kappa
    amp = np.full((n_seq, T, K), 0.5 * t_s)
    for b in range(n_seq):
        for k in range(K):
            if k % 4 == 3:  # flat, just above τλ: TV keeps the mean, 2% above it
                amp[b, :, k] = 1.02 * t_s
            else:  # one or two spikes whose excess over τλ runs from 0 to 2 τκ
                for t in rng.choice(T, size=1 + k % 2, replace=False):
                    amp[b, t, k] = t_s + rng.uniform(0, 2) * t_tv
    phase = rng.uniform(0, 2 * np.pi, amp.shape)
    z = (amp * np.exp(1j * phase)).reshape(n_seq * T, K)
    Y = np.concatenate([z.real, z.imag], axis=1)
    G = np.zeros_like(Y)
    X_old = rng.standard_normal(Y.shape)
    X_new, Y_new = np.empty_like(Y), np.empty_like(Y)
    code_step(Y, G, X_old, X_new, Y_new, T, tau, beta, lam, 0.4, kappa, SPARSE_L1, SLOW_L1,
              np.empty((n_seq, 4)))
    want = np.empty_like(z)
    for b in range(n_seq):
        for k in range(K):
            chain = z[b * T:(b + 1) * T, k]
            s = np.empty(T)
            fused_lasso_amplitude(np.abs(chain), s, T, t_s, t_tv)
            want[b * T:(b + 1) * T, k] = s * chain / np.abs(chain)
    zero = np.abs(want).reshape(n_seq, T, K).max(axis=1) == 0
    above = amp.max(axis=1) > t_s
    assert 0.2 < (zero & above).mean() and (~zero & above).mean() > 0.2  # both occur
    np.testing.assert_allclose(X_new[:, :K] + 1j * X_new[:, K:], want, rtol=1e-12, atol=1e-15)


def _tv_reference(y, lam):
    """TV denoising as a smooth QP (x, d⁺, d⁻ ≥ 0 with Δx = d⁺ − d⁻) solved by SLSQP."""
    n = len(y)
    f = lambda v: 0.5 * np.sum((v[:n] - y) ** 2) + lam * np.sum(v[n:])
    grad = lambda v: np.concatenate([v[:n] - y, lam * np.ones(2 * (n - 1))])
    A = np.zeros((n - 1, 3 * n - 2))
    for i in range(n - 1):
        A[i, i + 1], A[i, i] = 1, -1
        A[i, n + i], A[i, 2 * n - 1 + i] = -1, 1
    bounds = [(None, None)] * n + [(0, None)] * (2 * (n - 1))
    v0 = np.concatenate([y, np.maximum(np.diff(y), 0), np.maximum(-np.diff(y), 0)])
    res = minimize(f, v0, jac=grad, bounds=bounds, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda v: A @ v, "jac": lambda v: A}],
                   options={"ftol": 1e-14, "maxiter": 1000})
    return res.x[:n]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20])
def test_tv_denoise_matches_qp(rng, n):
    for lam in (0.0, 0.05, 0.3, 1.0, 10.0):
        y = rng.standard_normal(n) + np.repeat(rng.standard_normal(3), (n + 2) // 3)[:n]
        out = np.empty(n)
        tv_denoise(y, out, n, lam)
        obj = lambda x: 0.5 * np.sum((x - y) ** 2) + lam * np.sum(np.abs(np.diff(x)))
        if n == 1:
            np.testing.assert_allclose(out, y)
            continue
        ref = _tv_reference(y, lam)
        assert obj(out) <= obj(ref) + 1e-9
        np.testing.assert_allclose(out, ref, atol=1e-5)


def _sparse_sum(a, sparsity, sigma):
    """Σ S_p(a) / λ for amplitudes a."""
    if sparsity == "l1":
        return a.sum()
    if sparsity == "gauss":
        return 0.5 * np.sum(a**2)
    return np.log1p(a**2 / sigma**2).sum()


def _complex_objective(z, y, tau, lam, sigma, kappa, sparsity, slowness):
    a = np.abs(z)
    g = lam * _sparse_sum(a, sparsity, sigma)
    if slowness == "l1":
        g += kappa * np.abs(np.diff(a)).sum()
    return 0.5 * np.sum(np.abs(z - y) ** 2) + tau * g


@pytest.mark.parametrize("sparsity,slowness", [("l1", "none"), ("cauchy", "none"),
                                               ("gauss", "none"), ("l1", "l1")])
def test_complex_prox_matches_minimisation(rng, sparsity, slowness):
    """The prox on complex chains (B sequences × T frames × K units) minimises its defining
    problem: no better point is found by Powell's method started from it or from Y itself."""
    B, T, K = 2, 5, 3
    tau, lam, sigma, kappa = 0.5, 0.8, 0.5, 0.6
    Y = rng.standard_normal((B, T, K)) + 1j * rng.standard_normal((B, T, K))
    P = prox_codes(Y, tau, sparsity=sparsity, lam=lam, sigma=sigma, slowness=slowness,
                   kappa=kappa)
    for b in range(B):
        for k in range(K):
            y, p = Y[b, :, k], P[b, :, k]
            f = lambda v: _complex_objective(v[:T] + 1j * v[T:], y, tau, lam, sigma, kappa,
                                             sparsity, slowness)
            best = f(np.concatenate([p.real, p.imag]))
            for start in (np.concatenate([y.real, y.imag]),
                          np.concatenate([p.real, p.imag]) + 0.01 * rng.standard_normal(2 * T)):
                res = minimize(f, start, method="Powell",
                               options={"xtol": 1e-10, "ftol": 1e-13, "maxfev": 200000})
                assert best <= res.fun + 1e-8


def test_prox_keeps_phase(rng):
    Y = rng.standard_normal((2, 4, 3)) + 1j * rng.standard_normal((2, 4, 3))
    for kw in (dict(lam=0.3), dict(sparsity="cauchy", lam=0.3), dict(sparsity="gauss", lam=0.3),
               dict(lam=0.3, slowness="l1", kappa=0.5)):
        P = prox_codes(Y, 1.0, **kw)
        nz = np.abs(P) > 0
        np.testing.assert_allclose(np.angle(P[nz]), np.angle(Y[nz]), atol=1e-12)
        if kw.get("slowness") != "l1":  # pointwise priors only shrink (TV may raise a dip)
            assert np.all(np.abs(P) <= np.abs(Y) + 1e-12)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_gauss_prox_codes_is_uniform_shrinkage(rng, dtype):
    """prox_codes with sparsity="gauss" is Y/(1 + τλ), with or without l2 slowness (smooth, so
    not part of the prox): the minimiser of ½|z − y|² + τ(λ/2)|z|² on each code."""
    Y = (rng.standard_normal((2, 5, 3)) + 1j * rng.standard_normal((2, 5, 3))).astype(dtype)
    tau, lam = 0.4, 1.7
    rtol = 1e-6 if dtype == np.complex64 else 1e-13
    for slowness in ("none", "l2"):
        P = prox_codes(Y, tau, sparsity="gauss", lam=lam, slowness=slowness, kappa=0.5)
        assert P.dtype == dtype
        np.testing.assert_allclose(P, Y / (1 + tau * lam), rtol=rtol)
    y = complex(Y[0, 0, 0])
    f = lambda v: 0.5 * abs(v[0] + 1j * v[1] - y) ** 2 + tau * lam / 2 * abs(v[0] + 1j * v[1]) ** 2
    res = minimize(f, [y.real, y.imag], method="BFGS", options={"gtol": 1e-12})
    assert complex(P[0, 0, 0]) == pytest.approx(res.x[0] + 1j * res.x[1], abs=1e-6)
