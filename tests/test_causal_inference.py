"""Causal inference (csc.core.causal_inference): one frame's codes with the previous frame's
amplitudes fixed in the slowness term. The anchored prox against a numerical minimisation of
each magnitude problem; the solver against L-BFGS-B on the same energy in polar coordinates
from many starts; no anchor against the batch solver on a single frame."""
import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from csc.backends.backend import get_backend
from csc.core.causal_inference import anchored_energy, causal_fista
from csc.core.fista import lipschitz_constant
from csc.core.inference import encode
from csc.core.model import codes_from_real, dictionary_to_real
from csc.priors import SLOWNESS_CODE, SPARSITY_CODE, make_prior

PRIORS = {
    "l1+l2": dict(sparsity="l1", lam=0.3, slowness="l2", kappa=2.0),
    "cauchy+l2 (the paper's)": dict(sparsity="cauchy", lam=0.4, sigma=0.5, slowness="l2",
                                     kappa=1.5),
    "gauss+l2": dict(sparsity="gauss", lam=0.8, slowness="l2", kappa=0.7),
    "l1+TV": dict(sparsity="l1", lam=0.3, slowness="l1", kappa=0.4),
    "l1, no slowness": dict(sparsity="l1", lam=0.3, slowness="none"),
}


def _sparse(s, prior):
    if prior.sparsity == "l1":
        return prior.lam * s
    if prior.sparsity == "gauss":
        return 0.5 * prior.lam * s * s
    return prior.lam * np.log1p((s / prior.sigma) ** 2)


def _slow(d, prior):
    if prior.slowness == "l2":
        return 0.5 * prior.kappa * d * d
    return prior.kappa * abs(d) if prior.slowness == "l1" else 0.0


@pytest.mark.parametrize("name", PRIORS)
def test_the_anchored_prox_minimises_each_magnitude_problem(name, rng):
    """`ops.anchored_step` with G = 0 is the anchored prox of V (with momentum β = 0)."""
    prior = make_prior(**PRIORS[name])
    N, K, tau = 40, 3, 0.7
    V = rng.standard_normal((N, 2 * K)) * rng.choice([0.05, 0.5, 2.0], (N, 1))
    V[0] = 0.0  # a zero code: its magnitude problem still has an answer
    anchor = np.abs(rng.standard_normal((N, K))) * rng.choice([0.0, 0.3, 1.5], (N, 1))
    out, y_new = np.empty_like(V), np.empty_like(V)
    get_backend("cpu").ops.anchored_step(
        V, np.zeros_like(V), anchor, V, out, y_new, tau, 0.0, prior.lam, prior.sigma,
        prior.kappa, SPARSITY_CODE[prior.sparsity], SLOWNESS_CODE[prior.slowness])
    np.testing.assert_array_equal(y_new, out)
    r = np.hypot(V[:, :K], V[:, K:])
    s = np.hypot(out[:, :K], out[:, K:])
    assert np.all(s >= 0)
    for n in range(N):
        for k in range(K):
            def objective(x, n=n, k=k):
                return (0.5 * (x - r[n, k]) ** 2 + tau * _sparse(x, prior)
                        + tau * _slow(x - anchor[n, k], prior))
            hi = r[n, k] + anchor[n, k] + 1.0
            grid = np.linspace(0, hi, 2001)
            x0 = grid[np.argmin([objective(g) for g in grid])]
            ref = minimize_scalar(objective, bounds=(max(x0 - hi / 1000, 0), x0 + hi / 1000),
                                  method="bounded", options={"xatol": 1e-12})
            best = min(objective(ref.x), objective(x0), objective(0.0))
            assert objective(s[n, k]) <= best + 1e-9, (n, k, s[n, k], ref.x)
            if r[n, k] > 0 and s[n, k] > 0:  # the phase is kept
                assert np.isclose(out[n, k] * V[n, K + k] - out[n, K + k] * V[n, k], 0,
                                  atol=1e-12)
                assert out[n, k] * V[n, k] + out[n, K + k] * V[n, K + k] > 0


def _problem(rng, N=3, K=4, M=12):
    D = rng.standard_normal((K, M)) + 1j * rng.standard_normal((K, M))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((N, M))
    anchor = np.abs(rng.standard_normal((N, K)))
    return X, D, anchor


def _solve(X, D, prior, anchor, max_iter=5000, C0=None, tol=1e-12):
    be = get_backend("cpu")
    W = dictionary_to_real(D, np.float64)
    w = prior.weight_vector(X.shape[1], np.float64)
    L, _ = lipschitz_constant(W, w)
    K = D.shape[0]
    C0 = np.zeros((len(X), 2 * K)) if C0 is None else C0
    C, info = causal_fista(X.copy(), W, w, prior, anchor, C0, L, max_iter, tol, be)
    return codes_from_real(C, len(X), 1)[:, 0], info


@pytest.mark.parametrize("name", ["l1+l2", "cauchy+l2 (the paper's)", "gauss+l2"])
def test_the_solver_reaches_the_minimum_found_by_lbfgs_in_polar_coordinates(name, rng):
    """In amplitudes a ≥ 0 and phases φ, these energies are smooth on a ≥ 0: L-BFGS-B from
    20 starts gives an independent minimum (the Cauchy one is not convex)."""
    prior = make_prior(**PRIORS[name])
    X, D, anchor = _problem(rng)
    Z, info = _solve(X, D, prior, anchor)
    mine = anchored_energy(X, Z, D, prior, anchor)
    N, K = anchor.shape

    def polar_energy(p):
        a, phi = p[:N * K].reshape(N, K), p[N * K:].reshape(N, K)
        return anchored_energy(X, a * np.exp(1j * phi), D, prior, anchor)

    best = np.inf
    for start in range(20):
        g = np.random.default_rng(start)
        p0 = np.concatenate([np.abs(g.standard_normal(N * K)), g.uniform(-np.pi, np.pi, N * K)])
        res = minimize(polar_energy, p0, method="L-BFGS-B",
                       bounds=[(0, None)] * (N * K) + [(None, None)] * (N * K),
                       options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10})
        best = min(best, res.fun)
    assert mine <= best + 1e-6 * max(1.0, abs(best)), (mine, best)


def test_tv_slowness_reaches_the_minimum_found_from_many_starts(rng):
    """l1 + TV: the energy is convex; FISTA from zero and from 10 random starts agree."""
    prior = make_prior(**PRIORS["l1+TV"])
    X, D, anchor = _problem(rng)
    Z, _ = _solve(X, D, prior, anchor, max_iter=20000)
    mine = anchored_energy(X, Z, D, prior, anchor)
    for start in range(10):
        C0 = np.random.default_rng(start).standard_normal((len(X), 2 * D.shape[0]))
        Zs, _ = _solve(X, D, prior, anchor, max_iter=20000, C0=C0)
        assert abs(anchored_energy(X, Zs, D, prior, anchor) - mine) <= 1e-7 * abs(mine)


def test_without_an_anchor_it_is_the_batch_solve_of_one_frame(rng):
    kw = PRIORS["cauchy+l2 (the paper's)"]
    prior = make_prior(**kw)
    X, D, _ = _problem(rng, N=5)
    Z, info = _solve(X, D, prior, None)
    ref = encode(X[:, None, :], D, max_iter=5000, tol=1e-12, backend="cpu", **kw)[:, 0]
    e_mine, e_ref = (anchored_energy(X, z, D, prior, None) for z in (Z, ref))
    assert abs(e_mine - e_ref) <= 1e-8 * abs(e_ref)
    assert info.converged


def test_the_iteration_budget_and_tol_are_kept(rng):
    prior = make_prior(**PRIORS["l1+l2"])
    X, D, anchor = _problem(rng)
    _, info = _solve(X, D, prior, anchor, max_iter=7, tol=0.0)
    assert info.n_iter == 7 and not info.converged
    _, info = _solve(X, D, prior, anchor, max_iter=100000, tol=1e-6)
    assert info.converged and info.n_iter % 4 == 0 and info.n_iter < 100000
