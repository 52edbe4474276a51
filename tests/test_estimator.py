"""ComplexSparseCoding: the estimator API, validation, and save/load."""
import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

import csc
from csc import io as csc_io
from csc.testing.planted import planted_data


@pytest.fixture(scope="module")
def data():
    X, D, _ = planted_data(n_components=6, n_features=20, n_sequences=60, n_frames=8,
                           random_state=7)
    return X, D


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    return csc.ComplexSparseCoding(6, lam=0.1, slowness="l1", kappa=0.2, n_updates=20,
                                   batch_size=8, random_state=0).fit(X)


def test_fit_transform_inverse_transform_score(data, fitted):
    X, _ = data
    assert fitted.components_.shape == (6, 20) and fitted.components_.dtype == np.complex64
    assert fitted.n_updates_ == 20 and len(fitted.history_["energy"]) == 20
    Z = fitted.transform(X)
    assert Z.shape == (60, 8, 6) and Z.dtype == np.complex64
    Xh = fitted.inverse_transform(Z)
    assert Xh.shape == X.shape
    np.testing.assert_allclose(Xh, csc.reconstruct(Z, fitted.components_), rtol=1e-5, atol=1e-6)
    s = fitted.score(X)
    e = csc.energy(X, Z, fitted.components_, lam=0.1, slowness="l1", kappa=0.2)
    assert s == pytest.approx(-e["total"] / (60 * 8), rel=1e-6)
    # reconstructions explain most of the signal
    assert np.sum((X - Xh) ** 2) < 0.2 * np.sum(X**2)


def test_partial_fit_continues_fit(data):
    X, _ = data
    m = csc.ComplexSparseCoding(6, lam=0.1, n_updates=3, batch_size=8, random_state=0)
    m.partial_fit(X[:8])
    m.partial_fit(X[8:16])
    assert m.n_updates_ == 2
    with pytest.raises(ValueError, match="features"):
        m.partial_fit(X[:, :, :10])


def test_save_load_roundtrip_and_resume(tmp_path, data, fitted):
    X, _ = data
    path = tmp_path / "model.npz"
    fitted.save(path)
    loaded = csc.load(path)
    assert loaded.get_params() == fitted.get_params()
    assert np.array_equal(loaded.components_, fitted.components_)
    assert loaded.n_updates_ == fitted.n_updates_
    assert loaded.history_ == fitted.history_
    np.testing.assert_array_equal(loaded.transform(X[:4]), fitted.transform(X[:4]))
    # learning continues identically from the file as from memory
    for learning in ("sgd", "online"):
        a = csc.ComplexSparseCoding(6, lam=0.1, learning=learning, n_updates=10, batch_size=8,
                                    random_state=2).fit(X)
        a.save(tmp_path / "a.npz")
        b = csc.load(tmp_path / "a.npz")
        for _ in range(3):
            a.partial_fit(a.sample_batch(X))
            b.partial_fit(b.sample_batch(X))
        assert np.array_equal(a.components_, b.components_)


def test_load_rejects_other_files(tmp_path, fitted):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a csc model"):
        csc.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(ValueError, match="not a csc model"):
        csc.load(other)
    with pytest.raises(FileNotFoundError):
        csc.load(tmp_path / "missing.npz")
    newer = tmp_path / "newer.npz"
    fitted.save(newer)
    with np.load(newer) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["version"] = np.array(99)
    np.savez(newer, **arrays)
    with pytest.raises(ValueError, match="newer csc"):
        csc.load(newer)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, fitted):
    path = tmp_path / "m.npz"
    fitted.save(path)
    fitted.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    with np.load(path) as f:
        assert str(f["format"]) == "csc-model"
        json.loads(str(f["params"]))


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_components=0), "n_components"),
    (dict(n_components=2.5), "n_components"),
    (dict(learning="adam"), "learning"),
    (dict(normalize="l2"), "normalize"),
    (dict(init="zeros"), "init"),
    (dict(sparsity="l0"), "sparsity"),
    (dict(batch_size=0), "batch_size"),
    (dict(n_updates=-1), "n_updates"),
    (dict(backend="tpu"), "backend"),
])
def test_bad_parameters_raise_value_error(data, kwargs, match):
    X, _ = data
    params = dict(n_components=4, n_updates=1)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        csc.ComplexSparseCoding(**params).fit(X)


def test_bad_data_raise_value_error(data):
    X, _ = data
    m = csc.ComplexSparseCoding(4, n_updates=1)
    with pytest.raises(ValueError, match="^Complex data not supported: X must be real-valued"):
        m.fit(X.astype(np.complex64))
    bad = X.copy()
    bad[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        m.fit(bad)
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        m.fit(bad)
    with pytest.raises(ValueError, match="shape"):
        m.fit(X[0, 0])
    with pytest.raises(ValueError, match="not fitted"):
        csc.ComplexSparseCoding(4).transform(X)


def test_paper_preset_runs(data):
    X, _ = data
    m = csc.ComplexSparseCoding(6, n_updates=3, batch_size=8, random_state=0, **csc.PAPER_PRIOR)
    m.fit(X)
    assert np.all(np.isfinite(m.components_))
    assert m.prior().sparsity == "cauchy" and m.prior().slowness == "l2"


# ----------------------------------------------------------------------------- scikit-learn API
def test_clone_repr_and_set_params(data, fitted):
    X, _ = data
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "components_")  # an unfitted copy
    # scikit-learn shows the parameters that differ from their defaults
    assert repr(copy).startswith("ComplexSparseCoding(") and "kappa=0.2" in repr(copy)
    assert "lam=" not in repr(copy)
    assert copy.set_params(lam=0.3, n_updates=2) is copy and copy.lam == 0.3
    copy.fit(X)
    assert copy.n_updates_ == 2 and copy.prior().lam == 0.3
    assert fitted.get_params(deep=True)["lam"] == 0.1


def test_grid_search_over_lam_uses_score(data):
    """GridSearchCV splits the sequences, fits one model per λ and fold, and ranks them by
    `score` (the negative energy per frame of held-out sequences)."""
    X, _ = data
    base = csc.ComplexSparseCoding(6, n_updates=3, batch_size=8, transform_max_iter=30,
                                   random_state=0)
    search = GridSearchCV(base, {"lam": [0.05, 0.5]}, cv=2).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and search.best_params_["lam"] in (0.05, 0.5)
    # the search's score of each candidate is the estimator's own score on held-out data
    m = clone(base).set_params(lam=0.5).fit(X[30:])
    assert search.cv_results_["split0_test_score"][1] == pytest.approx(m.score(X[:30]), rel=1e-6)
    assert search.best_estimator_.n_features_in_ == 20


def test_load_dispatches_on_the_stored_kind(tmp_path, data, fitted):
    """A "coder" file loads as ComplexSparseCoding; an unknown kind is refused by name; a
    version-1 file (no kind) still loads."""
    path = tmp_path / "m.npz"
    fitted.save(path)
    kind, arrays = csc_io.read(path)
    assert kind == "coder" and isinstance(csc.load(path), csc.ComplexSparseCoding)
    csc_io.save(tmp_path / "odd.npz", "hologram", arrays)
    with pytest.raises(ValueError, match="'hologram'"):
        csc.load(tmp_path / "odd.npz")
    np.savez(tmp_path / "v1.npz", format=np.array("csc-model"), version=np.array(1), **arrays)
    old = csc.load(tmp_path / "v1.npz")
    assert isinstance(old, csc.ComplexSparseCoding)
    np.testing.assert_array_equal(old.components_, fitted.components_)


def test_frames_without_time_are_sequences_of_one_frame(data):
    """2-D X (n_samples, n_features), as scikit-learn passes it, is n_samples one-frame
    sequences: the same model and codes as X[:, None], with the frame axis dropped."""
    X, _ = data
    F = X.reshape(-1, X.shape[-1])
    kw = dict(n_components=6, lam=0.1, n_updates=3, batch_size=8, random_state=0)
    flat = csc.ComplexSparseCoding(**kw).fit(F)
    movie = csc.ComplexSparseCoding(**kw).fit(F[:, None])
    np.testing.assert_array_equal(flat.components_, movie.components_)
    Z = flat.transform(F)
    assert Z.shape == (len(F), 6) and Z.dtype == np.complex64
    np.testing.assert_array_equal(Z, movie.transform(F[:, None])[:, 0])
    np.testing.assert_array_equal(flat.inverse_transform(Z),
                                  movie.inverse_transform(Z[:, None])[:, 0])
    assert flat.n_features_in_ == X.shape[-1]


def test_prior_overrides_are_a_call_of_encode_not_of_transform(data):
    X, _ = data
    m = csc.ComplexSparseCoding(6, lam=0.1, n_updates=3, batch_size=8, random_state=0).fit(X)
    gauss = m.encode(X, prior={"sparsity": "gauss", "lam": 8.0})
    np.testing.assert_array_equal(
        gauss, csc.encode(X, m.components_, sparsity="gauss", lam=8.0,
                          max_iter=m.transform_max_iter, tol=m.transform_tol))
    np.testing.assert_array_equal(m.transform(X), m.encode(X))
    with pytest.raises(TypeError):
        m.transform(X, lam=8.0)


@parametrize_with_checks([csc.ComplexSparseCoding(n_components=3, n_updates=3, batch_size=4,
                                                  max_iter=10, transform_max_iter=20,
                                                  random_state=0, backend="cpu")])
def test_scikit_learn_estimator_checks(estimator, check):
    """scikit-learn's own checks of an estimator, on 2-D data (one-frame sequences): every one
    applies and passes (none is listed as expected to fail)."""
    check(estimator)
