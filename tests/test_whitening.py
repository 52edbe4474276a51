"""Whitening: identity covariance, dewhiten ∘ whiten = projection, weights, persistence."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from csc.video.whitening import (
    OFWhitener,
    PCAWhitener,
    make_whitener,
    raised_cosine_rolloff,
    whitener_from_arrays,
)


@pytest.fixture(scope="module")
def patches():
    """Correlated 8×8 patches (smoothed noise: a 1/f-like spectrum) plus a little white noise."""
    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.standard_normal((400, 400)), 1.5)
    img += 0.02 * rng.standard_normal(img.shape)
    ys, xs = rng.integers(0, 392, (2, 20000))
    return np.stack([img[y:y + 8, x:x + 8] for y, x in zip(ys, xs)]).astype(np.float32)


def test_pca_whitened_patches_have_identity_covariance(patches):
    w = PCAWhitener(8).fit(patches)
    X = w.transform(patches)
    assert X.shape == (len(patches), w.n_features)
    np.testing.assert_allclose(np.cov(X, rowvar=False), np.eye(w.n_features), atol=0.05)


def test_pca_noise_cutoff_drops_the_noise_floor(patches):
    w = PCAWhitener(8).fit(patches)
    assert 5 < w.n_features < 64
    pixel_variance = np.mean(np.var(patches.reshape(len(patches), -1), axis=0))
    assert np.all(w.variances_ > 1.25 * 0.01 * pixel_variance * 0.999)


def test_dewhiten_after_whiten_is_the_projection(patches):
    w = PCAWhitener(8).fit(patches)
    P = patches[:50]
    E = w.components_.astype(np.float64)
    centred = P.reshape(50, -1) - w.mean_
    expected = centred @ E @ E.T + w.mean_
    np.testing.assert_allclose(w.inverse_transform(w.transform(P)).reshape(50, -1), expected,
                               atol=1e-4)
    # a projection: applying it twice changes nothing
    twice = w.inverse_transform(w.transform(w.inverse_transform(w.transform(P))))
    np.testing.assert_allclose(twice, w.inverse_transform(w.transform(P)), atol=1e-4)


def test_weights_roll_off_as_a_raised_cosine():
    rho = raised_cosine_rolloff(100, 0.1)
    assert np.all(rho[:90] == 1) and np.all(np.diff(rho[89:]) < 0) and 0 < rho[-1] < 0.1
    assert np.all(raised_cosine_rolloff(7, 0.0) == 1)


def test_of_whitener_flattens_the_spectrum_and_inverts():
    """Below its peak (≈ 0.28 Nyquist) the filter R(f) = f·exp(−(f/f₀)⁴) lifts high frequencies
    against low ones, flattening a falling spectrum."""
    rng = np.random.default_rng(1)
    img = gaussian_filter(rng.standard_normal((300, 300)), 1.5)
    ys, xs = rng.integers(0, 284, (2, 4000))
    P = np.stack([img[y:y + 16, x:x + 16] for y, x in zip(ys, xs)]).astype(np.float32)
    w = OFWhitener(16).fit(P)
    F = w.transform(P)
    assert F.shape == (len(P), 256)
    assert np.var(F) == pytest.approx(1.0, rel=1e-3)
    spec_in = np.mean(np.abs(np.fft.fft2(P)) ** 2, axis=0)
    spec_out = np.mean(np.abs(np.fft.fft2(F.reshape(-1, 16, 16))) ** 2, axis=0)
    low, mid = (0, 1), (0, 2)  # 0.125 and 0.25 of Nyquist
    assert spec_out[mid] / spec_out[low] > 3 * spec_in[mid] / spec_in[low]
    # the inverse recovers the band the filter keeps: filter ∘ inverse ∘ filter = filter
    np.testing.assert_allclose(w.transform(w.inverse_transform(F[:10])), F[:10], atol=1e-4)


@pytest.mark.parametrize("kind", ["pca", "of"])
def test_whitener_roundtrips_through_arrays(patches, kind):
    w = make_whitener(kind, 8).fit(patches)
    w2 = whitener_from_arrays(w.to_arrays())
    np.testing.assert_array_equal(w2.transform(patches[:5]), w.transform(patches[:5]))
    np.testing.assert_array_equal(w2.weights_, w.weights_)


def test_constant_patches_are_refused():
    with pytest.raises(ValueError, match="constant"):
        PCAWhitener(4).fit(np.ones((100, 4, 4)))
    with pytest.raises(ValueError, match="unknown whitening"):
        make_whitener("zca", 4)


def test_paper_weighting_is_flat_above_eight_times_the_cutoff(patches):
    """Weights 1/noise_variance on every component whose variance exceeds 8 × the cutoff, then a
    falling raised cosine down to the cutoff (the authors' learn_whitening); "tail" rolls off only
    the last tenth."""
    paper = PCAWhitener(8).fit(patches)
    tail = PCAWhitener(8, weighting="tail").fit(patches)
    pixel_variance = np.mean(np.var(patches.reshape(len(patches), -1), axis=0))
    flat = paper.variances_ > 8 * 1.25 * 0.01 * pixel_variance
    assert 0 < flat.sum() < paper.n_features
    np.testing.assert_allclose(paper.weights_[flat], 100.0)
    rolled = paper.weights_[~flat]
    assert np.all(np.diff(rolled) < 0) and 0 < rolled[-1] < 100 * 0.1
    np.testing.assert_allclose(rolled * 0.01, raised_cosine_rolloff(len(rolled), 1.0), rtol=1e-6)
    np.testing.assert_allclose(tail.weights_ * 0.01,
                               raised_cosine_rolloff(tail.n_features, 0.1), rtol=1e-6)
    back = whitener_from_arrays(paper.to_arrays())
    assert back.weighting == "paper"
    np.testing.assert_array_equal(back.weights_, paper.weights_)
    with pytest.raises(ValueError, match="weighting"):
        PCAWhitener(8, weighting="flat")
