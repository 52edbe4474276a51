"""Dictionary learning: planted recovery, the rules' steps, normalisations, reproducibility."""
import numpy as np
import pytest
from conftest import random_problem

import csc
from csc.core.energy import recon_gradient_dictionary
from csc.core.model import codes_to_real, dictionary_from_real, dictionary_to_real
from csc.learning import OnlineRule, SGDRule, normalize_units
from csc.testing.planted import planted_data, random_dictionary, subspace_similarity


@pytest.fixture(scope="module")
def planted():
    return planted_data(n_components=8, n_features=32, n_sequences=300, n_frames=16,
                        random_state=0)


SLOW_PRIORS = [dict(lam=0.1, slowness="l1", kappa=0.3), dict(lam=0.1, slowness="l2", kappa=3.0),
               dict(sparsity="cauchy", lam=0.05, sigma=0.3, slowness="l2", kappa=3.0)]


@pytest.mark.parametrize("learning", ["sgd", "online"])
@pytest.mark.parametrize("prior", SLOW_PRIORS, ids=["l1-tv", "l1-l2slow", "cauchy-l2slow"])
def test_planted_dictionary_is_recovered(planted, learning, prior):
    """From a data-drawn start (not the truth: the planted generator and the model use different
    seeds), learning recovers the planted planes span{R_k, I_k}."""
    X, D, _ = planted
    model = csc.ComplexSparseCoding(8, learning=learning, n_updates=300, batch_size=16,
                                    random_state=1, **prior).fit(X)
    start = csc.ComplexSparseCoding(8, n_updates=0, random_state=1, **prior).fit(X)
    assert subspace_similarity(D, start.components_).mean() < 0.6
    sim = subspace_similarity(D, model.components_)
    assert sim.mean() >= 0.9, sim
    # and a random dictionary is far from it: the measure can fail
    baseline = subspace_similarity(D, random_dictionary(8, 32, np.random.default_rng(5)))
    assert baseline.mean() < 0.5


def test_subspace_similarity_is_rotation_invariant(rng):
    D = random_dictionary(5, 12, rng)
    rotated = D * np.exp(1j * rng.uniform(0, 2 * np.pi, (5, 1)))
    np.testing.assert_allclose(subspace_similarity(D, rotated), 1.0, atol=1e-12)
    np.testing.assert_allclose(subspace_similarity(D, D.conj()), 1.0, atol=1e-12)  # reflection


def test_sgd_step_is_the_negative_energy_gradient(rng):
    X, D, Z, w = random_problem(rng, B=2, T=5, K=4, M=9)
    W = dictionary_to_real(D).astype(np.float64)
    C = codes_to_real(Z, np.float64)
    Xf = X.reshape(-1, 9)
    rule = SGDRule()
    W_before = W.copy()
    rule.update(W, C.T @ ((Xf - C @ W) * w) / len(C), progress=0.0)
    step = dictionary_from_real(W - W_before)
    grad = recon_gradient_dictionary(X, Z, D, w)
    cos = np.vdot(step, -grad).real / (np.linalg.norm(step) * np.linalg.norm(grad))
    assert cos == pytest.approx(1.0, abs=1e-12)
    # the first step's largest element change is the target (the authors' rule)
    assert np.abs(W - W_before).max() == pytest.approx(rule.targets[0], rel=1e-10)


def test_sgd_unit_measure_targets_the_relative_unit_change(rng):
    X, D, Z, w = random_problem(rng, B=2, T=5, K=4, M=9)
    W = dictionary_to_real(D).astype(np.float64)
    C = codes_to_real(Z, np.float64)
    Xf = X.reshape(-1, 9)
    rule = SGDRule(measure="unit")
    W_before = W.copy()
    rule.update(W, C.T @ ((Xf - C @ W) * w) / len(C), progress=0.0)
    step = dictionary_from_real(W - W_before)
    unit = np.linalg.norm(np.concatenate([D.real, D.imag], 1), axis=1)
    change = np.linalg.norm(np.concatenate([step.real, step.imag], 1), axis=1) / unit
    assert change.max() == pytest.approx(rule.targets[0], rel=1e-10)


def test_sgd_target_switches_for_the_last_fifth_and_adapts_eta():
    """targets[0] until 80% of the planned updates, targets[1] after; η × 0.95 after a change
    above the target, × 1.02 after one below."""
    rule = SGDRule()
    W = np.zeros((2, 3))
    dW = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    assert rule.update(W, dW, progress=0.0) == pytest.approx(0.05)  # η starts at 0.05 / 2
    assert rule.eta == pytest.approx(0.025 * 1.02)  # not above the target: × 1.02
    assert rule.update(W, dW, progress=0.79) == pytest.approx(0.051)  # above 0.05: × 0.95
    assert rule.eta == pytest.approx(0.025 * 1.02 * 0.95)
    assert rule.update(W, dW, progress=0.8) > rule.targets[1]  # now above 0.0125: × 0.95
    assert rule.eta == pytest.approx(0.025 * 1.02 * 0.95**2)
    with pytest.raises(ValueError, match="measure"):
        SGDRule(measure="row")


def test_online_block_update_is_the_exact_block_minimiser(rng):
    """Without normalisation, one unit's 2×2 block update minimises the quadratic surrogate
    ½ tr(Wᵀ A W) − tr(Wᵀ B) over that unit (checked against a least-squares solve)."""
    X, D, Z, _ = random_problem(rng, B=3, T=6, K=4, M=9)
    W = dictionary_to_real(D).astype(np.float64)
    C = codes_to_real(Z, np.float64)
    Xf = X.reshape(-1, 9)
    rule = OnlineRule()
    W_new = W.copy()
    rule.update(W_new, C.T @ C / len(C), C.T @ Xf / len(C), None, False)
    # sequential exact minimisation of ‖X − C W‖² over each unit's two rows, in order
    W_ref = W.copy()
    K = 4
    for k in range(K):
        idx = [k, K + k]
        others = [j for j in range(2 * K) if j not in idx]
        target = Xf - C[:, others] @ W_ref[others]
        W_ref[idx] = np.linalg.lstsq(C[:, idx], target, rcond=None)[0]
    np.testing.assert_allclose(W_new, W_ref, rtol=1e-7, atol=1e-9)


def _numpy_block_sweep(A, B, W, normalize, flip):
    """The sweep written with NumPy, unit by unit (the rule's code before it was compiled)."""
    K = W.shape[0] // 2
    scale = np.trace(A) / (2 * K)
    for k in range(K):
        idx = [k, K + k]
        Abb = A[np.ix_(idx, idx)]
        if np.trace(Abb) <= 1e-10 * scale:
            continue
        rhs = B[idx] - A[idx] @ W + Abb @ W[idx]
        W[idx] = np.linalg.solve(Abb + 1e-10 * scale * np.eye(2), rhs)
        R, I = W[k], W[K + k]
        if normalize == "pair":
            a, b = (I, R) if flip else (R, I)
            b -= (a @ b) / max(a @ a, 1e-12) * a
            R /= max(np.linalg.norm(R), 1e-12)
            I /= max(np.linalg.norm(I), 1e-12)
        else:
            norm = max(np.sqrt(R @ R + I @ I), 1e-12)
            R /= norm
            I /= norm


@pytest.mark.parametrize("normalize,flip", [("pair", False), ("pair", True), ("complex", False)])
def test_online_sweep_equals_the_numpy_sweep(rng, normalize, flip):
    """The compiled sweep against the same sweep in NumPy, over three updates, with one unit
    unused (its statistics zero: it must be left as it is)."""
    K, M, N = 6, 11, 200
    W = rng.standard_normal((2 * K, M))
    normalize_units(W, normalize)
    W_ref, W_start = W.copy(), W.copy()
    rule, A, B = OnlineRule(memory=2), np.zeros((2 * K, 2 * K)), np.zeros((2 * K, M))
    for t in range(3):
        C = rng.standard_normal((N, 2 * K))
        C[:, [2, K + 2]] = 0.0
        X = rng.standard_normal((N, M))
        rule.update(W, C.T @ C / N, C.T @ X / N, normalize, flip)
        beta = 1.0 - 1.0 / min(t + 1, 2)
        A, B = beta * A + C.T @ C / N, beta * B + C.T @ X / N
        _numpy_block_sweep(A, B, W_ref, normalize, flip)
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(W[[2, K + 2]], W_start[[2, K + 2]])
    assert not np.allclose(W, W_start)


def test_pair_and_complex_normalisations(rng):
    W = rng.standard_normal((10, 7))
    normalize_units(W, "pair")
    R, I = W[:5], W[5:]
    np.testing.assert_allclose(np.sum(R * I, 1), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(R, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(I, axis=1), 1, atol=1e-12)
    W = rng.standard_normal((10, 7))
    normalize_units(W, "complex")
    np.testing.assert_allclose(np.linalg.norm(W[:5], axis=1) ** 2
                               + np.linalg.norm(W[5:], axis=1) ** 2, 1, atol=1e-12)


@pytest.mark.parametrize("learning", ["sgd", "online"])
@pytest.mark.parametrize("normalize", ["pair", "complex"])
def test_learning_keeps_the_constraint_and_lowers_the_energy(planted, learning, normalize):
    X, _, _ = planted
    model = csc.ComplexSparseCoding(8, lam=0.1, learning=learning, normalize=normalize,
                                    n_updates=60, batch_size=16, random_state=0).fit(X)
    D = model.components_
    if normalize == "pair":
        np.testing.assert_allclose(np.linalg.norm(D.real, axis=1), 1, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(D.imag, axis=1), 1, atol=1e-5)
        # exact in float64 (measured 6e-17); components_ is float32 (measured 2e-8)
        np.testing.assert_allclose(np.sum(D.real * D.imag, 1), 0, atol=1e-6)
    else:
        np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1, atol=1e-5)
    e = model.history_["energy"]
    assert np.mean(e[-10:]) < 0.8 * np.mean(e[:3])


@pytest.mark.parametrize("learning", ["sgd", "online"])
def test_same_seed_same_dictionary(planted, learning):
    X, _, _ = planted
    kw = dict(lam=0.1, learning=learning, n_updates=15, batch_size=8)
    a = csc.ComplexSparseCoding(8, random_state=3, **kw).fit(X).components_
    b = csc.ComplexSparseCoding(8, random_state=3, **kw).fit(X).components_
    c = csc.ComplexSparseCoding(8, random_state=4, **kw).fit(X).components_
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
