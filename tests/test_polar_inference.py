"""The authors' inference (`csc.core.polar_inference`): its gradient against finite differences,
its energy against csc's solver and against the closed-form optimum, its caps, and its use in
learning (`inference="paper"`, `--inference paper`)."""
import numpy as np
import pytest

import csc
from csc.cli import learn
from csc.core.energy import energy
from csc.core.inference import encode
from csc.core.model import codes_from_real, dictionary_to_real
from csc.core.polar_inference import (
    PAPER_MAX_ITER,
    _cubic_step,
    _PolarEnergy,
    polar_bb,
    random_start,
)
from csc.learning.shards import INFERENCES, UpdatePlan, shard_statistics
from csc.priors import make_prior

CAUCHY = dict(sparsity="cauchy", lam=1.0, sigma=0.4, slowness="l2", kappa=0.5)


def _problem(seed=0, B=4, T=8, M=30, K=12, scale=0.5):
    rng = np.random.default_rng(seed)
    D = (rng.standard_normal((K, M)) + 1j * rng.standard_normal((K, M))) / np.sqrt(M)
    X = scale * rng.standard_normal((B, T, M))
    return X, D


def _solve(X, D, prior_kw, **kw):
    """polar_bb on (X, D) from the random start of seed 1: (codes complex (B, T, K), info)."""
    B, T, M = X.shape
    prior = make_prior(**prior_kw)
    W = dictionary_to_real(D, np.float64)
    C0 = random_start(B * T, D.shape[0], 1)
    C, info = polar_bb(X.reshape(B * T, M), W, prior.weight_vector(M), prior, T, C0, **kw)
    Z = np.empty((B, T, D.shape[0]), complex)
    codes_from_real(C, B, T, out=Z)
    return Z, info


@pytest.mark.parametrize("prior_kw", [CAUCHY, dict(sparsity="gauss", lam=2.0, slowness="l2",
                                                   kappa=5.0)], ids=["cauchy", "gauss"])
def test_gradient_matches_finite_differences(prior_kw):
    X, D = _problem()
    B, T, M = X.shape
    K = D.shape[0]
    prior = make_prior(**prior_kw)
    args = (X.reshape(B * T, M), dictionary_to_real(D, np.float64), prior.weight_vector(M),
            prior, T, np)
    exact, natural = _PolarEnergy(*args, natural_gradient=False), _PolarEnergy(*args, True)
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(0.05, 1, (B * T, K)), rng.uniform(-np.pi, np.pi, (B * T, K))],
                       axis=1)
    f, g = exact(x)
    f_nat, g_nat = natural(x)
    assert f == f_nat
    h = 1e-6
    for i, j in zip(rng.integers(0, B * T, 40), rng.integers(0, 2 * K, 40)):
        e = np.zeros_like(x)
        e[i, j] = h
        fd = (exact(x + e)[0] - exact(x - e)[0]) / (2 * h)
        assert g[i, j] == pytest.approx(fd, rel=1e-5, abs=1e-6)
        # the natural phase gradient is ∂E/∂φ over the amplitude (the authors' direction)
        expect = g[i, j] / x[i, j - K] if j >= K else g[i, j]
        assert g_nat[i, j] == pytest.approx(expect, rel=1e-9)
    # and the energy is csc's energy of the same codes
    z = x[:, :K] * np.exp(1j * x[:, K:])
    assert f == pytest.approx(energy(X, z.reshape(B, T, K), D, **prior_kw)["total"], rel=1e-12)


def test_with_a_large_cap_it_reaches_the_energy_fista_reaches():
    X, D = _problem()
    Z, info = _solve(X, D, CAUCHY, max_iter=5000, max_evals=20000)
    reference = encode(X, D, max_iter=5000, tol=1e-10, **CAUCHY)
    E, E_ref = (energy(X, z, D, **CAUCHY)["total"] for z in (Z, reference))
    assert info.converged and info.n_iter < 5000
    assert abs(E - E_ref) <= 1e-6 * E_ref
    # and the energy it reports is that of the codes it returns
    assert info.energies[-1] == pytest.approx(E, rel=1e-12)


def test_reaches_the_closed_form_optimum_of_the_gaussian_prior():
    """Gaussian amplitudes, no slowness: E = ½‖x − Wᵀc‖² + (λ/2)‖c‖² is a ridge problem in the
    real-form codes c, whose optimum solves (W Wᵀ + λ I) c = W x."""
    X, D = _problem(seed=2)
    prior_kw = dict(sparsity="gauss", lam=0.5, slowness="none")
    Z, _ = _solve(X, D, prior_kw, max_iter=5000, max_evals=20000)
    W = dictionary_to_real(D, np.float64)
    B, T, M = X.shape
    C = np.linalg.solve(W @ W.T + 0.5 * np.eye(len(W)), W @ X.reshape(-1, M).T).T
    Z_opt = np.empty_like(Z)
    codes_from_real(C, B, T, out=Z_opt)
    E, E_opt = (energy(X, z, D, **prior_kw)["total"] for z in (Z, Z_opt))
    assert 0 <= E - E_opt <= 1e-8 * E_opt
    # λ-strong convexity: ‖c − c*‖² ≤ 2 (E − E*) / λ
    assert np.sum(np.abs(Z - Z_opt) ** 2) <= 2 * (E - E_opt) / 0.5 + 1e-12


def test_the_papers_caps_stop_it_early_with_non_negative_amplitudes():
    X, D = _problem(seed=3)
    Z, info = _solve(X, D, CAUCHY)
    assert info.n_iter <= PAPER_MAX_ITER and not info.converged
    converged = encode(X, D, max_iter=5000, tol=1e-10, **CAUCHY)
    # truncated: well below the start, above the optimum
    E, E_opt = (energy(X, z, D, **CAUCHY)["total"] for z in (Z, converged))
    assert E_opt < E < info.energies[0]
    # the returned codes are the same complex numbers as the polar iterate: amplitudes >= 0 by
    # construction; at most max_evals energy evaluations (here: the iterations plus backtracks)
    assert info.n_iter + info.n_restarts <= 20
    Z1, info1 = _solve(X, D, CAUCHY, max_iter=1)
    assert info1.n_iter == 1 and len(info1.energies) == 2


def test_amplitudes_that_cross_zero_move_their_sign_into_the_phase():
    """A start with a large negative-leaning step: the returned codes' energy is the polar
    iterate's with the slowness of |a| (never more), and reported as such."""
    X, D = _problem(seed=4, scale=3.0)
    prior_kw = dict(CAUCHY, kappa=50.0)
    Z, info = _solve(X, D, prior_kw, max_iter=30, max_evals=60)
    assert info.energies[-1] == pytest.approx(energy(X, Z, D, **prior_kw)["total"], rel=1e-10)


def test_cubic_step_is_the_minimiser_of_the_interpolating_cubic():
    # f(t) = (t − 0.3)² + 1: f(0) = 1.09, f'(0) = −0.6; f(1) = 1.49, f'(1) = 1.4
    assert _cubic_step(1.09, -0.6, 1.0, 1.49, 1.4) == pytest.approx(0.3)
    # f(t) = t³ − t: f'(0) = −1, f(1) = 0, f'(1) = 2; minimum at 1/√3
    assert _cubic_step(0.0, -1.0, 1.0, 0.0, 2.0) == pytest.approx(1 / np.sqrt(3))


@pytest.mark.parametrize("prior_kw", [dict(sparsity="l1", lam=0.1),
                                      dict(sparsity="l1", lam=0.1, slowness="l1", kappa=1.0)])
def test_refuses_priors_it_cannot_differentiate(prior_kw):
    X, D = _problem()
    with pytest.raises(ValueError, match="smooth prior"):
        _solve(X, D, prior_kw)
    with pytest.raises(ValueError, match="smooth prior"):
        csc.ComplexSparseCoding(4, inference="paper", n_updates=1, **prior_kw).fit(X)


def test_unknown_inference_is_refused():
    X, _ = _problem()
    with pytest.raises(ValueError, match="'inference' parameter .* Got 'newton'"):
        csc.ComplexSparseCoding(4, inference="newton", n_updates=1).fit(X)


@pytest.mark.parametrize("inference", INFERENCES)
def test_estimator_learns_with_every_inference_reproducibly(inference):
    X, _ = _problem(B=10, T=6, M=16)
    kw = dict(n_updates=4, batch_size=4, max_iter=15, random_state=0, inference=inference,
              **CAUCHY)
    a = csc.ComplexSparseCoding(6, **kw).fit(X)
    b = csc.ComplexSparseCoding(6, **kw).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert np.isfinite(a.history_["energy"]).all() and a.history_["n_iter"][0] <= 15
    # saved and loaded, it goes on as it would have
    again = csc.ComplexSparseCoding.from_arrays(a.to_arrays())
    assert again.inference == inference
    a.partial_fit(X[:4])
    again.partial_fit(X[:4])
    np.testing.assert_array_equal(a.components_, again.components_)


def test_shards_draw_their_own_random_starts():
    """Each shard's start comes from (start_seed, its index): two shards of the same frames get
    different codes, and the same shard the same codes wherever it runs."""
    X, D = _problem(B=2, T=4, M=16, K=6)
    prior = make_prior(**CAUCHY)
    plan = UpdatePlan(dictionary_to_real(D, np.float64), prior, 1.0, 15, 1e-3, "sgd", "cpu",
                      "paper", start_seed=7)
    first, second, again = (shard_statistics(X, plan, i) for i in (0, 1, 0))
    np.testing.assert_array_equal(first.sums["grad"], again.sums["grad"])
    assert not np.array_equal(first.sums["grad"], second.sums["grad"])
    with pytest.raises(ValueError, match="start_seed"):
        shard_statistics(X, UpdatePlan(plan.W, prior, 1.0, 15, 1e-3, "sgd", "cpu", "paper"))


def test_learn_refuses_paper_inference_with_the_default_prior(tmp_path, capsys):
    """The default prior (l1 + l1) is not smooth: a one-line error and exit status 2."""
    assert learn.main(["--out", str(tmp_path / "run"), "--inference", "paper", "--n-updates",
                       "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--inference paper" in err and "smooth prior" in err
