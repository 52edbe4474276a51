"""Second layer: motion units (phase velocities) and form units (log-amplitudes)."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from csc.analysis.geometry import unit_frequency
from csc.core.params import InvalidParameterError
from csc.core.phases import phase_velocity, wrap
from csc.plotting.second_layer import match_columns, save_recovery_png, save_second_layer_png
from csc.second_layer import (
    FormUnits,
    MotionUnits,
    energy_form,
    energy_motion,
    form_prox_residual,
    infer_form,
    infer_motion,
    log_amplitude_features,
)


def _unit_columns(rng, K, L):
    D = rng.standard_normal((K, L))
    return D / np.linalg.norm(D, axis=0)


def planted_motion(rng, K=20, L=3, n=100, T=12):
    """δ = wrap(W D_mᵀ + von Mises noise (κ=8)) with sparse (each unit on in 40% of sequences),
    slowly drifting W and a random 80% mask."""
    D = _unit_columns(rng, K, L)
    active = rng.random((n, 1, L)) < 0.4
    amp = rng.choice([-1, 1], (n, 1, L)) * rng.uniform(1.5, 4.0, (n, 1, L))
    W = active * (amp + 0.1 * rng.standard_normal((n, T - 1, L)).cumsum(1))
    delta = wrap(W @ D.T + rng.vonmises(0, 8.0, (n, T - 1, K)))
    mask = rng.random((n, T - 1, K)) < 0.8
    return D, W, delta, mask


def planted_form(rng, K=20, L=3, n=100, T=12):
    """ℓ = V Bᵀ + N(0, 0.3²) with sparse, slowly drifting V."""
    B = _unit_columns(rng, K, L)
    active = rng.random((n, 1, L)) < 0.4
    amp = rng.choice([-1, 1], (n, 1, L)) * rng.uniform(2.0, 5.0, (n, 1, L))
    V = active * (amp + 0.1 * rng.standard_normal((n, T, L)).cumsum(1))
    ell = V @ B.T + 0.3 * rng.standard_normal((n, T, K))
    return B, V, ell


def _fd_check(f, x, g, rng, n_dirs=5, eps=1e-6):
    for _ in range(n_dirs):
        d = rng.standard_normal(x.shape)
        fd = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
        assert fd == pytest.approx(float(np.sum(g * d)), rel=1e-5, abs=1e-6)


# ----------------------------------------------------------------------------- features
def test_phase_velocity_and_mask(rng):
    a = rng.uniform(0.5, 2.0, (2, 5, 3))
    phi = rng.uniform(-np.pi, np.pi, (2, 5, 3))
    a[0, 2, 1] = 0.01
    Z = a * np.exp(1j * phi)
    delta, mask = phase_velocity(Z, threshold=0.1)
    assert delta.shape == mask.shape == (2, 4, 3) and delta.dtype == np.float64
    np.testing.assert_allclose(np.exp(1j * delta), np.exp(1j * (phi[:, 1:] - phi[:, :-1])),
                               atol=1e-12)
    assert np.all((delta > -np.pi) & (delta <= np.pi))
    assert not mask[0, 1, 1] and not mask[0, 2, 1] and mask.sum() == mask.size - 2


def test_log_amplitude_features(rng):
    Z = rng.standard_normal((3, 6, 4)) + 1j * rng.standard_normal((3, 6, 4))
    Z[0, 0, 0] = 0
    ell, stats = log_amplitude_features(Z)
    assert ell.shape == Z.shape and np.all(np.isfinite(ell))
    np.testing.assert_allclose(ell.reshape(-1, 4).mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(ell.reshape(-1, 4).std(0), 1, atol=1e-12)
    ell2, _ = log_amplitude_features(Z[:1], stats=stats)     # new data, training stats
    np.testing.assert_allclose(ell2, ell[:1])
    expected = (np.log(np.exp(-4.0)) - stats["mean"][0]) * stats["scale"][0]
    assert ell[0, 0, 0] == pytest.approx(expected)


def test_log_amplitude_features_as_the_paper(rng):
    """Variance 0.1 per unit, then the mean over units removed at every frame: the same as
    doing it by hand from the logs."""
    Z = rng.standard_normal((5, 6, 4)) + 1j * rng.standard_normal((5, 6, 4))
    ell, stats = log_amplitude_features(Z, variance=0.1, center_units=True)
    logs = np.log(np.abs(Z)).reshape(-1, 4)
    by_hand = (logs - logs.mean(0)) / logs.std(0) * np.sqrt(0.1)
    by_hand -= by_hand.mean(1, keepdims=True)
    np.testing.assert_allclose(ell.reshape(-1, 4), by_hand, atol=1e-12)
    np.testing.assert_allclose(ell.sum(-1), 0, atol=1e-12)
    np.testing.assert_allclose(log_amplitude_features(Z[2:], stats)[0], ell[2:], atol=1e-12)


# ----------------------------------------------------------------------------- energies
def test_motion_energy_gradient(rng):
    K, L = 7, 3
    D = _unit_columns(rng, K, L)
    delta = rng.uniform(-np.pi, np.pi, (2, 5, K))
    mask = rng.uniform(0, 1, delta.shape)
    W = rng.standard_normal((2, 5, L))
    E, terms, g = energy_motion(delta, mask, W, D, grad=True)
    assert E == pytest.approx(terms["data"] + terms["sparse"] + terms["slow"])
    _fd_check(lambda x: energy_motion(delta, mask, x, D)[0], W, g, rng)


def test_form_energy_gradient(rng):
    K, L = 7, 3
    B = _unit_columns(rng, K, L)
    ell = rng.standard_normal((2, 6, K))
    V = rng.standard_normal((2, 6, L))
    E, terms, g = energy_form(ell, V, B, grad=True)
    smooth = lambda x: (energy_form(ell, x, B)[1]["data"] + energy_form(ell, x, B)[1]["slow"])
    _fd_check(smooth, V, g, rng)
    # the slowness term is 5 Σ_t ‖v_t − v_{t−1}‖² (a sum of squared differences times 5)
    assert terms["slow"] == pytest.approx(5.0 * np.sum(np.diff(V, axis=1) ** 2))


# ----------------------------------------------------------------------------- inference
def test_motion_inference_reaches_stationary_point(rng):
    D, _, delta, mask = planted_motion(rng, n=8)
    E0 = energy_motion(delta, mask, np.zeros(delta.shape[:2] + (3,)), D)[0]
    W, info = infer_motion(delta, mask, D, max_iter=500, tol=1e-8)
    E1, _, g = energy_motion(delta, mask, W, D, grad=True)
    assert E1 < E0 and E1 == pytest.approx(info["energy"])
    assert np.sqrt(np.mean(g ** 2)) < 1e-4


def test_form_inference_reaches_minimum(rng):
    B, _, ell = planted_form(rng, n=8)
    E0 = energy_form(ell, np.zeros(ell.shape[:2] + (3,)), B)[0]
    V, info = infer_form(ell, B, max_iter=3000, tol=1e-12)
    assert info["energy"] < E0
    assert info["residual"] < 1e-6
    assert form_prox_residual(ell, np.zeros_like(V), B) > 1e-2      # 0 is not a minimiser
    assert np.mean(V != 0) < 0.9                     # the l1 term makes exact zeros
    # a minimiser: no perturbation lowers the (convex) energy
    for _ in range(5):
        d = 1e-3 * rng.standard_normal(V.shape)
        assert energy_form(ell, V + d, B)[0] >= info["energy"] - 1e-9


# ----------------------------------------------------------------------------- learning
@pytest.mark.parametrize("step", [dict(step="adaptive", step_targets=(0.1, 0.1, 0.03)),
                                  dict(step="adaptive-unit", step_targets=(0.1, 0.1, 0.03)),
                                  dict(step="adaptive", step_targets=(0.1, 0.1, 0.03),
                                       init="data"),
                                  dict(step="linear", n_updates=40)])
def test_motion_units_recover_planted_columns(rng, step):
    D, _, delta, mask = planted_motion(rng)
    m = MotionUnits(3, **{"n_updates": 100, **step}, batch_size=32, max_iter=20, random_state=0)
    m.fit(delta, mask)
    assert m.components_.shape == (20, 3) and m.n_updates_ == m.n_updates
    np.testing.assert_allclose(np.linalg.norm(m.components_, axis=0), 1.0)
    _, _, cos = match_columns(D, m.components_)
    assert np.all(cos >= 0.9), cos
    assert m.history_["energy"][-1] < m.history_["energy"][0]
    W = m.transform(delta[:4], mask[:4])
    assert W.shape == (4, 11, 3)
    assert m.predict_velocity(W).shape == (4, 11, 20)


@pytest.mark.parametrize("cls", [MotionUnits, FormUnits])
def test_data_init_starts_from_training_frames(cls, rng):
    data = _fit_data(cls, rng)
    model = cls(5, init="data", n_updates=0, random_state=3).fit(*data)
    frames = (data[0] * data[1] if cls is MotionUnits else data[0]).reshape(-1, 20)
    frames = frames / np.linalg.norm(frames, axis=1, keepdims=True)
    for column in model.components_.T:  # each column is one frame of the data, normalised
        assert np.min(np.linalg.norm(frames - column, axis=1)) < 1e-12
    assert len({tuple(c) for c in model.components_.T.round(12)}) == 5
    # data with nothing in them (every phase velocity masked) leave the random start
    empty = [np.zeros_like(d) for d in data]
    again = cls(5, init="data", step="adaptive-unit", n_updates=1, random_state=3).fit(*empty)
    random = cls(5, n_updates=0, random_state=3).fit(*empty)
    assert np.all(np.isfinite(again.history_["change"]))
    np.testing.assert_allclose(again.components_, random.components_, rtol=1e-12)


def test_adaptive_unit_step_moves_every_unit_at_its_target(rng):
    """With one step per unit, a unit whose gradient is 100 times smaller than another's moves
    as far as that one (its largest element changes by the target); the global step moves it
    about 100 times less."""
    D = _unit_columns(rng, 20, 2)
    G = rng.standard_normal((20, 2)) * [1.0, 0.01]
    moved = {}
    for step in ("adaptive", "adaptive-unit"):
        m = MotionUnits(2, step=step, step_targets=(0.01, 0.01, 0.01), n_updates=10)
        m._init_components(20)
        m.components_ = D.copy()
        m._step(G, 0.0, 1)
        moved[step] = np.linalg.norm(m.components_ - D, axis=0)
    # to first order a column moves by η ‖G_⊥‖, G_⊥ the part of its gradient off the column
    perp = np.linalg.norm(G - D * np.sum(D * G, axis=0), axis=0)
    np.testing.assert_allclose(moved["adaptive-unit"], 0.01 * perp / np.abs(G).max(axis=0),
                               rtol=0.02)
    np.testing.assert_allclose(moved["adaptive"], 0.01 * perp / np.abs(G).max(), rtol=0.02)
    assert moved["adaptive"][1] < 0.02 * moved["adaptive-unit"][1]


def test_form_units_recover_planted_columns(rng):
    B, _, ell = planted_form(rng)
    f = FormUnits(3, n_updates=60, step="linear", batch_size=32, random_state=0)
    f.fit(ell)
    np.testing.assert_allclose(np.linalg.norm(f.components_, axis=0), 1.0)
    _, _, cos = match_columns(B, f.components_)
    assert np.all(cos >= 0.9), cos
    V = f.transform(ell[:4])
    assert V.shape == (4, 12, 3)
    assert f.inverse_transform(V).shape == (4, 12, 20)


def test_form_units_adaptive_step_recovers_planted_columns():
    """Learning is non-convex: from random columns it may settle in a local minimum, so the
    claim is over several planted problems: all columns found in at least 4 of 5."""
    found = 0
    for seed in range(5):
        B, _, ell = planted_form(np.random.default_rng(seed))
        f = FormUnits(3, n_updates=100, step_targets=(0.1, 0.1, 0.03), batch_size=32,
                      random_state=0).fit(ell)
        found += bool(np.all(match_columns(B, f.components_)[2] >= 0.9))
    assert found >= 4


def test_partial_fit_and_validation(rng):
    _, _, delta, mask = planted_motion(rng, n=6)
    m = MotionUnits(2, random_state=0).partial_fit(delta, mask).partial_fit(delta)
    assert m.n_updates_ == 2
    with pytest.raises(ValueError, match="X has 5 features, but MotionUnits is expecting 20"):
        m.transform(delta[..., :5])
    with pytest.raises(ValueError, match="not fitted"):
        FormUnits(2).transform(np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="kappa_vm"):
        MotionUnits(2, kappa_vm=-1.0).fit(delta, mask)
    with pytest.raises(ValueError, match="n_components"):
        FormUnits(0).fit(np.zeros((1, 3, 4)))


# ----------------------------------------------------------------------------- scikit-learn API
def _fit_data(cls, rng, n=10):
    if cls is MotionUnits:
        _, _, delta, mask = planted_motion(rng, n=n)
        return delta, mask
    return (planted_form(rng, n=n)[2],)


@pytest.mark.parametrize("cls", [MotionUnits, FormUnits])
def test_clone_repr_and_set_params(cls, rng):
    data = _fit_data(cls, rng)
    model = cls(3, slowness=1.5, n_updates=2, batch_size=4, random_state=5).fit(*data)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "components_") and not hasattr(copy, "n_updates_")
    with pytest.raises(ValueError, match="not fitted"):
        copy.transform(*data)
    # the repr shows the parameters that differ from their defaults (n_components has none)
    assert " ".join(repr(model).split()) == (f"{cls.__name__}(batch_size=4, n_components=3, "
                                            "n_updates=2, random_state=5, slowness=1.5)")
    # set_params then fit learns with the new values, exactly as if they had been given at first
    model.set_params(n_updates=3, slowness=0.5)
    model.fit(*data)
    direct = cls(3, slowness=0.5, n_updates=3, batch_size=4, random_state=5).fit(*data)
    assert model.n_updates_ == 3
    np.testing.assert_array_equal(model.components_, direct.components_)
    assert not np.array_equal(model.components_, clone(copy).fit(*data).components_)


def test_form_units_fit_transform(rng):
    _, _, ell = planted_form(rng, n=10)
    params = dict(n_updates=3, batch_size=4, random_state=2)
    np.testing.assert_array_equal(FormUnits(3, **params).fit_transform(ell),
                                  FormUnits(3, **params).fit(ell).transform(ell))


@pytest.mark.parametrize("name, value", [("n_components", 2.5), ("n_components", True),
                                         ("batch_size", 0), ("learning_rate", 0.0),
                                         ("learning_rate", float("nan")), ("tol", -1e-3),
                                         ("slowness", float("inf")), ("random_state", -1),
                                         ("kappa_vm", "4")])
def test_bad_parameters_are_refused_at_fit(rng, name, value):
    delta, mask = _fit_data(MotionUnits, rng, n=4)
    model = MotionUnits(2, n_updates=1).set_params(**{name: value})  # accepted until fit
    for fit in (model.fit, model.partial_fit):
        with pytest.raises(InvalidParameterError, match=name):
            fit(delta, mask)
    assert issubclass(InvalidParameterError, ValueError)


# ----------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("step", ["adaptive", "adaptive-unit"])
def test_round_trip_through_arrays(rng, tmp_path, step):
    _, _, delta, mask = planted_motion(rng, n=10)
    _, _, ell = planted_form(rng, n=10)
    m = MotionUnits(3, n_updates=3, batch_size=4, step=step, random_state=1).fit(delta, mask)
    f = FormUnits(3, n_updates=3, batch_size=4, lam=1.5, step=step, init="data",
                  random_state=1).fit(ell)
    for model, args in ((m, (delta, mask)), (f, (ell,))):
        arrays = model.to_arrays()
        assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
        np.savez(tmp_path / "m.npz", **arrays)
        with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
            loaded = type(model).from_arrays({k: z[k] for k in z.files})
        assert loaded.get_params() == model.get_params()
        assert loaded.n_updates_ == model.n_updates_
        np.testing.assert_array_equal(loaded.components_, model.components_)
        np.testing.assert_array_equal(loaded.transform(*args), model.transform(*args))
        # learning continues identically (same RNG state)
        model.partial_fit(*args)
        loaded.partial_fit(*args)
        np.testing.assert_allclose(loaded.components_, model.components_)
        if step == "adaptive-unit":
            np.testing.assert_array_equal(loaded._unit_eta, model._unit_eta)
    with pytest.raises(ValueError, match="form_units"):
        MotionUnits.from_arrays(f.to_arrays())


# ----------------------------------------------------------------------------- figures
def test_figures(rng, tmp_path):
    D, _, _, _ = planted_motion(rng, n=2)
    centres = rng.uniform(0, 16, (20, 2))
    freqs = rng.uniform(-0.5, 0.5, (20, 2))
    save_second_layer_png(D, centres, freqs, tmp_path / "units.png", patch_size=16)
    save_second_layer_png(D, centres, freqs, tmp_path / "form.png", n_show=2, mirror="even")
    with pytest.raises(ValueError, match="mirror"):
        save_second_layer_png(D, centres, freqs, tmp_path / "x.png", mirror="both")
    save_recovery_png(D, -D[:, ::-1], tmp_path / "rec.png", history={"energy": [3, 2, 1]})
    for name in ("units.png", "form.png", "rec.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    perm, signs, cos = match_columns(D, -D[:, ::-1])
    np.testing.assert_array_equal(perm, [2, 1, 0])
    np.testing.assert_array_equal(signs, [-1, -1, -1])
    np.testing.assert_allclose(cos, 1.0)


def test_signed_unit_frequency():
    p = 16
    r, c = np.mgrid[0:p, 0:p]
    f = np.array([[2 / p, 3 / p], [-1 / p, 4 / p]])
    B = np.stack([np.exp(2j * np.pi * (fr * r + fc * c)) for fr, fc in f])
    np.testing.assert_allclose(unit_frequency(B), f)
    np.testing.assert_allclose(unit_frequency(np.conj(B)), -f)


# ----------------------------------------------------------------------------- joint inference
def _joint_problem(rng, n=2, T=5, K=6, M=10, L=3):
    D = rng.standard_normal((K, M)) + 1j * rng.standard_normal((K, M))
    X = rng.standard_normal((n, T, M))
    Z = rng.standard_normal((n, T, K)) + 1j * rng.standard_normal((n, T, K))
    mu = MotionUnits(L)
    mu.components_ = _unit_columns(rng, K, L)
    W = rng.standard_normal((n, T - 1, L))
    mask = (rng.random((n, T - 1, K)) < 0.7).astype(float)
    return X, Z, W, D, mu, mask


@pytest.mark.parametrize("prior", [dict(sparsity="cauchy", lam=0.3, sigma=0.5, slowness="l2",
                                        kappa=2.0, weights=1.5),
                                   dict(sparsity="gauss", lam=8.0, slowness="l2", kappa=0.5)])
def test_joint_energy_gradient(rng, prior):
    """Codes (u, v) and activities W against finite differences of the joint energy."""
    from csc.priors import make_prior
    from csc.second_layer import joint_energy
    X, Z, W, D, mu, mask = _joint_problem(rng)
    prior = make_prior(**prior)
    E, gZ, gW = joint_energy(X, Z, W, D, mu, mask, prior, feedback=0.7, grad=True)
    assert E == pytest.approx(joint_energy(X, Z, W, D, mu, mask, prior, feedback=0.7))
    _fd_check(lambda x: joint_energy(X, x + 1j * Z.imag, W, D, mu, mask, prior, 0.7), Z.real,
              gZ.real, rng)
    _fd_check(lambda y: joint_energy(X, Z.real + 1j * y, W, D, mu, mask, prior, 0.7), Z.imag,
              gZ.imag, rng)
    _fd_check(lambda x: joint_energy(X, Z, x, D, mu, mask, prior, 0.7), W, gW, rng)


def test_joint_inference_lowers_the_joint_energy_from_the_layer_by_layer_solution(rng):
    """On a planted Gabor model with motion units: the joint solution starts at the
    layer-by-layer one and ends at a lower joint energy. With no feedback the joint energy is
    the first layer's own (`csc.energy`), and L-BFGS on it lands within 5% of a long FISTA run
    (`encode`, an independent solver; measured 2.7% above it)."""
    from csc.core.energy import energy
    from csc.core.inference import encode
    from csc.second_layer import infer_joint
    from csc.testing.movies import pink_noise, transformed_movie
    from csc.testing.planted import planted_gabor_model
    model = planted_gabor_model()
    model.second_layer_prior = dict(sparsity="cauchy", lam=2.0, sigma=0.4, slowness="l2",
                                    kappa=0.5)
    image = pink_noise((64, 64), rng)
    P = np.stack([transformed_movie(image, 5, 16, shift=(0.5 * np.sin(a), 0.5 * np.cos(a)))
                  for a in (0.0, 2.0)])
    mu = MotionUnits(4, threshold=None, random_state=0)
    mu.components_ = _unit_columns(rng, model.components_.shape[0], 4)
    model.motion_units = mu
    Z, W, info = infer_joint(model, P, max_iter=300)
    assert Z.shape == (2, 5, model.components_.shape[0]) and W.shape == (2, 4, 4)
    assert info["energy"] < info["energy_start"] - 1e-6

    prior = {**model.coder._prior_kwargs(), **model.second_layer_prior}
    X = model.whitener.transform(P).astype(np.float64)
    Z0, _, info0 = infer_joint(model, P, feedback=0.0, max_iter=300)
    assert info0["energy"] == pytest.approx(energy(X, Z0, model.components_, **prior)["total"])
    long = encode(X, model.components_, max_iter=5000, tol=1e-10, backend="cpu", **prior)
    best = energy(X, long, model.components_, **prior)["total"]
    assert abs(info0["energy"] - best) < 0.05 * best


def test_on_fraction_threshold_keeps_that_share_of_amplitudes(rng):
    from csc.second_layer import on_fraction_threshold

    Z = rng.standard_normal((7, 9, 11)) + 1j * rng.standard_normal((7, 9, 11))
    for fraction in (0.25, 0.5, 1.0):
        threshold = on_fraction_threshold(Z, fraction)
        assert np.mean(np.abs(Z) > threshold) == pytest.approx(fraction, abs=1.5 / Z.size)
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="fraction"):
            on_fraction_threshold(Z, bad)


@parametrize_with_checks([FormUnits(n_components=3, n_updates=3, batch_size=4, max_iter=20,
                                    transform_max_iter=50, random_state=0)])
def test_form_units_pass_scikit_learns_estimator_checks(estimator, check):
    """scikit-learn's own checks, on 2-D data (ℓ of one-frame sequences): every one passes.
    MotionUnits are not checked so: they take (δ, mask) pairs, which no check passes."""
    check(estimator)
