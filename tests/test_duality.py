"""csc.core.duality: λ_max, the dual bound and the duality gap of the convex case (l1, no
slowness), against encode, csc.energy and an independent conic solver (cvxpy)."""
import numpy as np
import pytest
from conftest import group_lasso_cvxpy, random_problem

import csc
from csc.core.duality import dual_bound, duality_gap, lam_max


def problem(rng):
    """X float64 (3, 4, 12), D complex (5, 12) with ‖A_k‖ = 1, weights (12,) in [0.5, 2]."""
    X, D, _, w = random_problem(rng, B=3, T=4, K=5, M=12)
    return X, D, w


def convex_encode(X, D, lam, w, **kw):
    return csc.encode(X, D, sparsity="l1", lam=lam, slowness="none", weights=w, backend="cpu",
                      **kw)


def primal(X, Z, D, lam, w):
    return csc.energy(X, Z, D, sparsity="l1", lam=lam, slowness="none", weights=w)["total"]


def test_lam_max_is_where_the_codes_become_zero(rng):
    X, D, w = problem(rng)
    lm = lam_max(X, D, w)
    for lam in (lm * (1 + 1e-9), 2 * lm):
        Z = convex_encode(X, D, lam, w, max_iter=100, tol=0.0)
        assert not np.any(Z), lam / lm
    Z = convex_encode(X, D, lm * (1 - 1e-3), w, max_iter=100, tol=0.0)
    # only the frame and unit reaching λ_max can be active 0.1% below it
    G = np.abs((X * w) @ D.T)
    assert np.count_nonzero(Z) >= 1
    assert np.all(G[Z != 0] >= (1 - 1e-3) * lm)


def test_lam_max_weights_default_to_ones(rng):
    X, D, _ = problem(rng)
    assert lam_max(X, D) == lam_max(X, D, 1.0) == lam_max(X, D, np.ones(X.shape[-1]))
    assert lam_max(X, D, 4.0) == pytest.approx(4 * lam_max(X, D), rel=1e-12)


def test_dual_bound_is_below_the_energy_of_any_codes(rng):
    X, D, w = problem(rng)
    lam = 0.3 * lam_max(X, D, w)
    K = D.shape[0]
    candidates = [np.zeros(X.shape[:2] + (K,), complex)]
    for scale in (0.01, 0.3, 3.0):
        candidates.append(scale * (rng.standard_normal(candidates[0].shape)
                                   + 1j * rng.standard_normal(candidates[0].shape)))
    candidates += [convex_encode(X, D, lam, w, max_iter=n, tol=0.0) for n in (1, 3, 10)]
    Z_opt = convex_encode(X, D, lam, w, max_iter=3000, tol=1e-12)
    best = primal(X, Z_opt, D, lam, w)
    for Z in candidates:
        bound = dual_bound(X, Z, D, lam, w)
        assert bound <= best + 1e-12 * best  # rounding only
        E = primal(X, Z, D, lam, w)
        assert duality_gap(X, Z, D, lam, w) == pytest.approx(E - bound, rel=1e-12, abs=1e-12)
        assert duality_gap(X, Z, D, lam, w) >= -1e-12 * E


@pytest.mark.parametrize("ratio", [0.05, 0.3, 1.5])
def test_gap_vanishes_at_the_optimum_of_a_long_encode(rng, ratio):
    X, D, w = problem(rng)
    lam = ratio * lam_max(X, D, w)
    Z, info = convex_encode(X, D, lam, w, max_iter=5000, tol=1e-13, return_info=True)
    E = primal(X, Z, D, lam, w)
    # measured: relative gap 2e-13, 4e-14 and -2e-16 (rounding) for the three λ
    assert duality_gap(X, Z, D, lam, w) <= 1e-10 * E
    Z_short = convex_encode(X, D, lam, w, max_iter=2, tol=0.0)
    if ratio < 1:  # two iterations are not optimal: the gap says so
        assert duality_gap(X, Z_short, D, lam, w) > 1e-6 * E


def test_matches_an_independent_conic_solver(rng):
    """cvxpy (Clarabel) solves the group lasso in real form: its optimum lies between the dual
    bound and the energy of encode's codes, and both are tight; the dual bound at cvxpy's own
    codes is tight too."""
    X, D, _, w = random_problem(rng, B=2, T=3, K=4, M=10)
    lam = 0.2 * lam_max(X, D, w)
    value, Z_cvx = group_lasso_cvxpy(X, D, w, lam)
    Z = convex_encode(X, D, lam, w, max_iter=5000, tol=1e-13)
    bound = dual_bound(X, Z, D, lam, w)
    # measured (4 seeds): all three within 4e-11 of the cvxpy optimum (its tolerance 1e-10)
    assert bound <= value * (1 + 1e-9)
    assert primal(X, Z, D, lam, w) == pytest.approx(value, rel=1e-9)
    assert bound == pytest.approx(value, rel=1e-9)
    assert dual_bound(X, Z_cvx, D, lam, w) == pytest.approx(value, rel=1e-9)


def test_bad_input_names_the_problem(rng):
    X, D, w = problem(rng)
    Z = np.zeros(X.shape[:2] + (D.shape[0],), complex)
    with pytest.raises(ValueError, match="lam"):
        dual_bound(X, Z, D, -1.0)
    with pytest.raises(ValueError, match="weights"):
        lam_max(X, D, np.ones(3))
    with pytest.raises(ValueError, match="Z must have shape"):
        duality_gap(X, Z[..., :2], D, 1.0)
