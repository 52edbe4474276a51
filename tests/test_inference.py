"""encode: the convex optimum, monotone descent and stationarity, precision and determinism."""
import numpy as np
import pytest
from conftest import group_lasso_cvxpy, random_problem

import csc
from csc.backends.backend import gpu_status
from csc.core.energy import recon_gradient_codes, slowness_l2_gradient
from csc.core.model import codes_from_real, dictionary_to_real
from csc.core.proxes import prox_codes
from csc.priors import make_prior

ALL_PRIORS = [
    dict(sparsity="l1", lam=0.4),
    dict(sparsity="l1", lam=0.4, slowness="l2", kappa=0.5),
    dict(sparsity="l1", lam=0.4, slowness="l1", kappa=0.5),
    dict(sparsity="cauchy", lam=0.4, sigma=0.4),
    dict(sparsity="cauchy", lam=0.4, sigma=0.4, slowness="l2", kappa=0.5),
    dict(sparsity="gauss", lam=0.4),
    dict(sparsity="gauss", lam=0.4, slowness="l2", kappa=0.5),
]


def test_convex_case_reaches_the_optimum(rng):
    X, D, _, w = random_problem(rng, B=3, T=4, K=6, M=12)
    lam = 0.5
    Z, info = csc.encode(X, D, lam=lam, weights=w, max_iter=20000, tol=1e-10, return_info=True)
    ours = csc.energy(X, Z, D, lam=lam, weights=w)["total"]
    ref, _ = group_lasso_cvxpy(X, D, w, lam)
    assert info.converged
    assert abs(ours - ref) <= 1e-5 * abs(ref)
    assert ours <= ref * (1 + 1e-7)  # never "better than optimal" beyond solver noise


def _ridge_codes(X, D, w, lam):
    """The exact optimum of the gauss prior with no slowness, a weighted ridge regression on the
    real codes: C* = X diag(w) Wᵀ (W diag(w) Wᵀ + λ I)⁻¹, returned complex (B, T, K)."""
    B, T, M = X.shape
    W = dictionary_to_real(D, np.float64)  # (2K, M)
    Xf = X.reshape(B * T, M).astype(np.float64)
    A = (W * w) @ W.T + lam * np.eye(W.shape[0])
    C = np.linalg.solve(A, W @ (Xf * w).T).T  # A symmetric
    return codes_from_real(C, B, T)


@pytest.mark.parametrize("lam", [0.05, 0.5, 8.0])
def test_gauss_reaches_the_ridge_optimum(rng, lam):
    X, D, _, w = random_problem(rng, B=3, T=4, K=6, M=12)
    Z, info = csc.encode(X, D, sparsity="gauss", lam=lam, weights=w, max_iter=20000, tol=1e-12,
                         return_info=True)
    ref = _ridge_codes(X, D, w, lam)
    assert info.converged
    np.testing.assert_allclose(Z, ref, atol=1e-8 * np.abs(ref).max())
    kw = dict(sparsity="gauss", lam=lam, weights=w)
    ours, best = csc.energy(X, Z, D, **kw)["total"], csc.energy(X, ref, D, **kw)["total"]
    assert ours == pytest.approx(best, rel=1e-12)


def test_make_prior_refuses_gauss_with_tv_slowness():
    with pytest.raises(ValueError, match="gauss.*slowness='l1' is not supported"):
        make_prior(sparsity="gauss", slowness="l1", kappa=0.5)
    for slowness in ("none", "l2"):
        assert make_prior(sparsity="gauss", lam=8.0, slowness=slowness).sparsity == "gauss"


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=lambda p: f"{p['sparsity']}-"
                         f"{p.get('slowness', 'none')}")
def test_energy_decreases_monotonically(rng, prior):
    """The energy of the k-th iterate, evaluated independently by `csc.energy`, never rises."""
    X, D, _, w = random_problem(rng, B=2, T=8, K=6, M=10)
    energies = []
    for k in range(1, 31):
        Z = csc.encode(X, D, weights=w, max_iter=k, tol=0.0, **prior)
        energies.append(csc.energy(X, Z, D, weights=w, **prior)["total"])
    energies = np.array(energies)
    assert np.all(np.diff(energies) <= 1e-10 * energies[0])
    assert energies[-1] < energies[0]


def _stationarity_residual(X, Z, D, w, prior, tau):
    """‖z − prox(z − τ∇f(z))‖ / ‖z‖ computed from the NumPy reference gradients."""
    g = recon_gradient_codes(X, Z, D, w)
    if prior.get("slowness") == "l2":
        g = g + slowness_l2_gradient(Z, prior["kappa"])
    P = prox_codes(Z - tau * g, tau, weights=w, **prior)
    return np.linalg.norm(P - Z) / np.linalg.norm(Z)


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=lambda p: f"{p['sparsity']}-"
                         f"{p.get('slowness', 'none')}")
def test_returns_a_stationary_point(rng, prior):
    X, D, _, w = random_problem(rng, B=2, T=8, K=6, M=10)
    Z, info = csc.encode(X, D, weights=w, max_iter=5000, tol=1e-9, return_info=True, **prior)
    tau = 1.0 / info.lipschitz
    assert info.converged
    assert info.residual < 1e-6
    assert _stationarity_residual(X, Z, D, w, prior, tau) < 1e-6
    # the reported final energy is the true energy of the returned codes
    e = csc.energy(X, Z, D, weights=w, **prior)["total"]
    assert info.energies[-1] == pytest.approx(e, rel=1e-9)


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=lambda p: f"{p['sparsity']}-"
                         f"{p.get('slowness', 'none')}")
def test_float32_and_float64_agree(rng, prior):
    X, D, _, w = random_problem(rng, B=2, T=8, K=6, M=10)
    kw = dict(weights=w, max_iter=3000, tol=1e-7, **prior)
    Z64 = csc.encode(X, D, **kw)
    Z32 = csc.encode(X.astype(np.float32), D.astype(np.complex64), **kw)
    assert Z32.dtype == np.complex64 and Z64.dtype == np.complex128
    e64 = csc.energy(X, Z64, D, **{k: v for k, v in kw.items() if k not in ("max_iter", "tol")})
    e32 = csc.energy(X, Z32, D, **{k: v for k, v in kw.items() if k not in ("max_iter", "tol")})
    assert e32["total"] == pytest.approx(e64["total"], rel=1e-4)
    if prior["sparsity"] != "cauchy" and prior.get("slowness", "none") == "none":  # one optimum
        np.testing.assert_allclose(Z32, Z64, atol=2e-3)


def test_same_input_same_result(rng):
    X, D, _, _ = random_problem(rng, B=4, T=16, K=8, M=12, dtype=np.float32)
    for prior in ALL_PRIORS:
        a = csc.encode(X, D, max_iter=50, **prior)
        b = csc.encode(X, D, max_iter=50, **prior)
        assert np.array_equal(a, b)


def test_warm_start_is_used(rng):
    X, D, _, w = random_problem(rng)
    Z, info = csc.encode(X, D, lam=0.3, weights=w, tol=1e-8, max_iter=5000, return_info=True)
    _, info2 = csc.encode(X, D, lam=0.3, weights=w, tol=1e-8, max_iter=5000, init=Z,
                          return_info=True)
    assert info2.n_iter < info.n_iter / 4


@pytest.mark.parametrize("kwargs,match", [
    (dict(sparsity="l0"), "unknown sparsity"),
    (dict(slowness="l3"), "unknown slowness"),
    (dict(sparsity="cauchy", slowness="l1"), "not supported"),
    (dict(sparsity="gauss", slowness="l1"), "not supported"),
    (dict(lam=-1.0), "lam"),
    (dict(sigma=0.0), "sigma"),
    (dict(kappa=np.nan), "kappa"),
    (dict(weights=np.ones(3)), "weights"),
    (dict(weights=-1.0), "weights"),
    (dict(max_iter=0), "max_iter"),
    (dict(max_iter=2.0), "max_iter"),
    (dict(max_iter=True), "max_iter"),
    (dict(tol=-1.0), "tol"),
    (dict(tol=np.nan), "tol"),
    (dict(tol=np.float32(np.inf)), "tol"),
    (dict(tol="1e-3"), "tol"),
    (dict(batch_bytes=0), "batch_bytes"),
    (dict(backend="tpu"), "backend"),
])
def test_bad_arguments_raise_value_error(rng, kwargs, match):
    X, D, _, _ = random_problem(rng)
    with pytest.raises(ValueError, match=match):
        csc.encode(X, D, **kwargs)


def test_numpy_scalars_are_accepted_for_tol_and_max_iter(rng):
    X, D, _, _ = random_problem(rng)
    want = csc.encode(X, D, tol=1e-3, max_iter=40)
    for tol, max_iter in [(np.float32(1e-3), 40), (np.float64(1e-3), np.int64(40)),
                          (1e-3, np.int32(40))]:
        got = csc.encode(X, D, tol=tol, max_iter=max_iter)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)  # float32(1e-3) ≠ 1e-3
    assert csc.encode(X, D, tol=0, max_iter=np.uint8(3)).shape == X.shape[:2] + (D.shape[0],)


@pytest.mark.parametrize("bad", [
    lambda D: D.astype(object), lambda D: D.astype(str), lambda D: np.abs(D) > 0.3,
    lambda D: D[:0],
], ids=["object", "string", "bool", "no-components"])
def test_non_numeric_or_empty_dictionary_raises_value_error(rng, bad):
    X, D, _, _ = random_problem(rng)
    with pytest.raises(ValueError, match="D must be numeric|D is empty"):
        csc.encode(X, bad(D))
    with pytest.raises(ValueError, match="D must be numeric|D is empty"):
        csc.energy(X, np.zeros(X.shape[:2] + (D.shape[0],), complex), bad(D))


@pytest.mark.parametrize("bad", [
    lambda X: X.astype(object), lambda X: X.astype(str), lambda X: X > 0,
], ids=["object", "string", "bool"])
def test_non_numeric_data_raises_value_error(rng, bad):
    X, D, _, _ = random_problem(rng)
    with pytest.raises(ValueError, match="X must be real numbers"):
        csc.encode(bad(X), D)


def test_bad_data_raises_value_error(rng):
    X, D, Z, _ = random_problem(rng)
    with pytest.raises(ValueError, match="real-valued"):
        csc.encode(X + 0j, D)
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        csc.encode(bad, D)
    with pytest.raises(ValueError, match="shape"):
        csc.encode(X[0], D)
    with pytest.raises(ValueError, match="features"):
        csc.encode(X, D[:, :-1])
    with pytest.raises(ValueError, match="Z must have shape"):
        csc.energy(X, Z[..., :-1], D)
    if not gpu_status()[0]:  # where a GPU works, backend="gpu" is no error
        with pytest.raises(ValueError, match="gpu"):
            csc.encode(X, D, backend="gpu")


@pytest.mark.parametrize("prior", ALL_PRIORS, ids=lambda p: f"{p['sparsity']}-"
                         f"{p.get('slowness', 'none')}")
def test_block_synchronous_iterates_equal_per_iteration_ones(rng, prior):
    """The GPU schedule (energies read once per block of iterations, the block replayed when a step
    raised the energy) gives exactly the iterates of reading every iteration."""
    from csc.backends.backend import get_backend
    from csc.core.fista import fista, lipschitz_constant
    from csc.core.model import dictionary_to_real
    from csc.priors import make_prior
    X, D, _, w = random_problem(rng, B=2, T=8, K=6, M=10, dtype=np.float32)
    p = make_prior(weights=w, **prior)
    W = dictionary_to_real(D, np.float32)
    wv = p.weight_vector(10, np.float32)
    L, _ = lipschitz_constant(W, wv)
    L = 0.3 * L  # too long a step: forces rejections, restarts and backtracking
    Xf = X.reshape(16, 10)
    C0 = np.zeros((16, 12), np.float32)
    be = get_backend("cpu")
    C1, i1 = fista(Xf, W, wv, p, 8, C0, L, 60, 1e-6, be, sync_every=1)
    C8, i8 = fista(Xf, W, wv, p, 8, C0, L, 60, 1e-6, be, sync_every=8)
    assert i1.n_restarts > 0
    assert np.array_equal(C1, C8)
    assert i1.energies == i8.energies and i1.lipschitz == i8.lipschitz
    assert i8.n_iter >= i1.n_iter  # a block may run past the converged iterate


def test_after_a_rejected_step_only_the_steps_before_it_are_replayed(rng, monkeypatch):
    """GPU schedule: when a block's read finds a raised energy at step j, the block is restored
    and steps 0..j−1 are replayed without host reads; only from step j on is each step read."""
    from csc.backends.backend import get_backend
    from csc.core import fista as solver
    from csc.core.fista import fista, lipschitz_constant
    from csc.core.model import dictionary_to_real
    from csc.priors import make_prior

    X, D, _, w = random_problem(rng, B=2, T=8, K=6, M=10, dtype=np.float32)
    p = make_prior(weights=w, lam=0.3)
    W = dictionary_to_real(D, np.float32)
    wv = p.weight_vector(10, np.float32)
    L = 0.3 * lipschitz_constant(W, wv)[0]  # forces rejections
    events = []
    state = solver._FistaState
    for name in ("iterate", "_read", "restore"):
        real = getattr(state, name)
        monkeypatch.setattr(state, name, lambda self, *a, _real=real, _name=name, **k: (
            events.append(_name), _real(self, *a, **k))[1])
    _, info = fista(X.reshape(16, 10), W, wv, p, 8, None, L, 60, 1e-6, get_backend("cpu"),
                    sync_every=8)
    assert info.n_restarts > 0
    replays = []  # per restore: the iterations run before the first read
    for i, e in enumerate(events):
        if e == "restore":
            after = events[i + 1:]
            replays.append(after.index("_read") - 1 if "_read" in after else len(after))
    assert replays and max(replays) >= 2  # good steps replayed unread, then one read per step


def test_boosted_first_steps_reach_the_optimum_of_plain_steps(rng):
    """step_boost 2 (the default) and 1 (steps of 1/L throughout) end at the same convex optimum;
    after a boosted step fails, the solve runs at the safe bound (its final L is that bound)."""
    X, D, _, w = random_problem(rng, B=4, T=5, K=6, M=12)
    kw = dict(lam=0.3, weights=w, max_iter=20000, tol=1e-10, return_info=True, backend="cpu")
    Z1, plain = csc.encode(X, D, step_boost=1.0, **kw)
    Z2, boosted = csc.encode(X, D, **kw)
    assert plain.converged and boosted.converged
    e1, e2 = (csc.energy(X, Z, D, lam=0.3, weights=w)["total"] for Z in (Z1, Z2))
    assert e2 == pytest.approx(e1, rel=1e-9)
    assert boosted.lipschitz in (plain.lipschitz / 2, plain.lipschitz)
    with pytest.raises(ValueError, match="step_boost"):
        csc.encode(X, D, step_boost=0.5)
