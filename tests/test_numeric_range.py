"""Extreme values (issue 11): the Cauchy scale, dictionaries and data beyond the float type, and
dictionary learning that overflows. Each case is refused with a clear ValueError or computed
right; nothing non-finite is accepted or reported converged."""
import numpy as np
import pytest
from conftest import random_problem
from sklearn.exceptions import NotFittedError

import csc
from csc.backends.backend import get_backend
from csc.core.fista import NumericRangeError, fista, lipschitz_constant
from csc.core.model import dictionary_to_real
from csc.core.proxes import prox_codes
from csc.learning import TrainingDiverged
from csc.learning.estimator import ComplexSparseCoding
from csc.priors import SIGMA_RANGE, make_prior

# ------------------------------------------------------------------------------------------------
# Cauchy scale σ

@pytest.mark.parametrize("sigma", [1e-39, 1e-46, 5e38, 1e39])
def test_sigma_outside_the_normal_float32_range_is_refused(sigma):
    with pytest.raises(ValueError, match="sigma must lie in"):
        make_prior(sparsity="cauchy", sigma=sigma)


def _cauchy_objective(s, r, t, sigma):
    """½(r − s)² + t log(1 + s²/σ²) in float64, written so that s/σ cannot overflow."""
    q = s / sigma
    return 0.5 * (r - s) ** 2 + t * np.log1p(q * q)


@pytest.mark.parametrize("sigma", [SIGMA_RANGE[0], 1e-23, 1e-20, 1e20, SIGMA_RANGE[1]])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_cauchy_prox_is_the_minimiser_at_extreme_sigma(rng, sigma, dtype):
    """Within the allowed range the prox is the global minimiser of its 1-D problem in both
    precisions (float32 used to underflow σ² below ~1e-19: SystemError or zero codes)."""
    Y = (rng.standard_normal((2, 3, 40)) + 1j * rng.standard_normal((2, 3, 40))) * 10
    Y = Y.astype(dtype)
    tau, lam = 0.7, 0.5
    a = np.abs(prox_codes(Y, tau, sparsity="cauchy", lam=lam, sigma=sigma)).astype(np.float64)
    r = np.abs(Y).astype(np.float64)
    t = tau * lam
    grid = np.linspace(0.0, 1.0, 4001)[:, None] * r.ravel()[None, :]
    best = np.minimum(_cauchy_objective(grid, r.ravel(), t, sigma).min(axis=0),
                      _cauchy_objective(0.0, r.ravel(), t, sigma))
    got = _cauchy_objective(a.ravel(), r.ravel(), t, sigma)
    tol = 1e-5 if dtype == np.complex64 else 1e-9
    assert np.all(np.isfinite(a)) and np.all(a <= r * (1 + 1e-6))
    assert np.all(got <= best + tol * (1 + np.abs(best)))


@pytest.mark.parametrize("sigma", [SIGMA_RANGE[0], 1e-23, 1e-20, SIGMA_RANGE[1]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encode_with_extreme_sigma_descends_and_reports_true_energies(rng, sigma, dtype):
    X, D, _, _ = random_problem(rng, B=3, T=4, K=8, M=16)
    X = (10 * X).astype(dtype)
    kw = dict(sparsity="cauchy", lam=0.1, sigma=sigma)
    Z, info = csc.encode(X, D, max_iter=300, tol=1e-5, return_info=True, **kw)
    assert np.all(np.isfinite(Z)) and np.all(np.isfinite(info.energies))
    assert info.energies[-1] < 0.9 * info.energies[0]
    true = csc.energy(X, Z, D, **kw)["total"]
    # The reported energy comes from the reconstruction computed in the data's precision: its
    # rounding, about eps·‖X‖ in the residual, moves ½‖X − X̂‖² by about eps·√(E·E₀) (E₀ the
    # energy at zero codes), which at float32 can exceed 1e-4 of a small final energy.
    e0 = info.energies[0]
    floor = 8 * np.finfo(dtype).eps * np.sqrt(true * e0)
    assert info.energies[-1] == pytest.approx(true, rel=1e-4 if dtype == np.float32 else 1e-9,
                                              abs=floor)


# ------------------------------------------------------------------------------------------------
# Dictionaries and data beyond the float type

@pytest.mark.parametrize("scale", [1e25, 1e-25])
def test_dictionary_beyond_float32_is_refused_and_float64_solves_it(rng, scale):
    """D·s with λ·s has the codes Z/s of D with λ (l1 is 1-homogeneous): float64 gets them."""
    X, D, _, _ = random_problem(rng, B=2, T=4, K=6, M=12)
    with pytest.raises(NumericRangeError, match="beyond float32 range.*pass float64"):
        csc.encode(X.astype(np.float32), D * scale, lam=0.1 * scale)
    Z, info = csc.encode(X, D * scale, max_iter=5000, tol=1e-8, return_info=True,
                         lam=0.1 * scale)
    ref = csc.encode(X, D, max_iter=5000, tol=1e-8, lam=0.1)
    assert info.converged and np.abs(ref).max() > 0
    np.testing.assert_allclose(Z * scale, ref, atol=1e-6 * np.abs(ref).max())


def test_data_beyond_float32_is_refused_and_float64_solves_it(rng):
    X, D, _, _ = random_problem(rng, B=2, T=4, K=6, M=12)
    X = X / np.abs(X).max()
    big = 1.9e19 * X
    with pytest.raises(NumericRangeError, match="overflow: beyond float32 range"):
        csc.encode(big.astype(np.float32), D)
    Z, info = csc.encode(big, D, max_iter=5000, tol=1e-8, return_info=True, lam=1.9e18)
    ref = csc.encode(X, D, max_iter=5000, tol=1e-8, lam=0.1)
    assert info.converged
    np.testing.assert_allclose(Z / 1.9e19, ref, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("prior", [dict(lam=0.3), dict(lam=0.3, slowness="l1", kappa=0.2),
                                   dict(sparsity="gauss", lam=0.3, slowness="l2", kappa=0.5)],
                         ids=["l1", "l1+tv", "gauss+l2"])
@pytest.mark.parametrize("exponent", [40, -40])
def test_normal_scales_are_untouched(rng, prior, exponent):
    """Scaling float32 data (and the homogeneous prior constants) by 2^±40 scales the codes
    exactly: the range checks refuse nothing in the normal range and change no iterate."""
    X, D, _, _ = random_problem(rng, B=3, T=5, K=6, M=12, dtype=np.float32)
    Z = csc.encode(X, D, max_iter=100, tol=0.0, **prior)
    s = 2.0 ** exponent
    scaled = dict(prior)
    if scaled.get("sparsity", "l1") == "l1":  # l1 terms are 1-homogeneous: λ, κ scale with s
        scaled = {k: v * s if k in ("lam", "kappa") else v for k, v in scaled.items()}
    Zs = csc.encode(X * np.float32(s), D, max_iter=100, tol=0.0, **scaled)
    assert np.array_equal(Zs, Z * np.float32(s))


@pytest.mark.parametrize("L", [1e-30, 1e-10])
def test_non_finite_energies_are_never_accepted_by_the_block_path(rng, L):
    """A far too long step overflows the codes (NaN energies). The block-synchronous (GPU)
    schedule must reject such steps as the per-iteration one does: same iterates, finite
    energies, the step shortened by backtracking."""
    X, D, _, _ = random_problem(rng, B=3, T=5, K=6, M=12, dtype=np.float32)
    p = make_prior(lam=0.3)
    W = dictionary_to_real(D, np.float32)
    w = p.weight_vector(12, np.float32)
    Xf = (X * 1e18).reshape(15, 12)
    C0 = np.zeros((15, 12), np.float32)
    be = get_backend("cpu")
    C1, i1 = fista(Xf, W, w, p, 5, C0, L, 40, 1e-6, be, sync_every=1)
    C8, i8 = fista(Xf, W, w, p, 5, C0, L, 40, 1e-6, be, sync_every=8)
    assert np.all(np.isfinite(i8.energies)) and np.all(np.isfinite(C8))
    assert np.array_equal(C1, C8) and i1.energies == i8.energies
    assert i8.lipschitz == i1.lipschitz > L
    assert lipschitz_constant(W, w)[0] < 1e3  # the problem itself is ordinary


# ------------------------------------------------------------------------------------------------
# Dictionary learning that overflows

def _model_state(model: ComplexSparseCoding) -> dict:
    """Everything `to_arrays` saves (dictionary, rule state, power vector, counters, history)."""
    return {key: np.array(value, copy=True) for key, value in model.to_arrays().items()}


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("learning,scale", [("sgd", 1e20), ("online", 1e20), ("sgd", 1.5e19),
                                            ("online", 1e19)])
def test_diverging_update_raises_and_leaves_the_model_unchanged(rng, learning, scale):
    """1e20 is refused by inference; 1.5e19 (sgd) and 1e19 (online) pass inference but overflow
    the float32 code statistics. Either way: TrainingDiverged naming the update, and the model
    (dictionary, rule state, n_updates_, history_) exactly as before that update."""
    X = rng.standard_normal((8, 6, 16)).astype(np.float32)
    X /= np.abs(X).max()
    model = ComplexSparseCoding(6, learning=learning, random_state=0, max_iter=20,
                                backend="cpu")
    model.partial_fit(X)
    big = (X * scale).astype(np.float32)
    for _ in range(3):
        before = _model_state(model)
        try:
            model.partial_fit(big)
        except TrainingDiverged as exc:
            message = str(exc)
            break
    else:
        pytest.fail("no TrainingDiverged")
    assert issubclass(TrainingDiverged, ValueError)
    assert f"dictionary update {model.n_updates_ + 1}:" in message
    assert "non-finite" in message or "beyond float32 range" in message
    _assert_same_state(before, _model_state(model))
    assert np.all(np.isfinite(model.components_))
    model.partial_fit(X)  # the model goes on learning from sensible data
    assert np.all(np.isfinite(model.components_))


def test_first_partial_fit_on_huge_float32_data(rng):
    """1e18: learnable (the data-init noise scale used to overflow a float32 std and make the
    dictionary NaN); 1e20: TrainingDiverged, and the model stays unfitted."""
    X = rng.standard_normal((8, 6, 16)).astype(np.float32)
    model = ComplexSparseCoding(6, random_state=0, max_iter=20, backend="cpu")
    model.partial_fit((X * 1e18).astype(np.float32))
    assert np.all(np.isfinite(model.components_)) and model.n_updates_ == 1
    model = ComplexSparseCoding(6, random_state=0, max_iter=20, backend="cpu")
    with pytest.raises(TrainingDiverged, match="dictionary update 1:"):
        model.partial_fit((X * 1e20).astype(np.float32))
    with pytest.raises(NotFittedError):
        model.transform(X)
    with pytest.raises(TrainingDiverged, match="dictionary update 1:"):
        ComplexSparseCoding(6, random_state=0, n_updates=3, backend="cpu").fit(X * 1e20)
