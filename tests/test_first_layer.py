"""The paper's first-layer measures on a planted model whose truth is known, against chance."""
import numpy as np
import pytest

from csc.analysis import first_layer
from csc.testing.planted import gabor_bank, planted_gabor_model


@pytest.fixture(scope="module")
def model():
    return planted_gabor_model(p=16, lam=1.0)


def test_planted_gabor_pairs_measure_as_quadrature_pairs_and_random_units_do_not(model):
    m = first_layer.model_measures(model, seed=0)
    # the planted units are Gabor quadrature pairs drawn in whitened pixel space
    assert m["learned whitened"]["quadrature"] == 1.0
    assert m["random whitened"]["quadrature"] < 0.1
    assert m["learned whitened"]["localisation"] > m["random whitened"]["localisation"] + 0.2
    # in whitened space the units are the planted Gabors, up to the whitener's projection
    B = first_layer.whitened_bases(model)
    G, _ = gabor_bank(16)
    cos = np.abs(np.sum(np.conj(B) * G, axis=(1, 2))) / (
        np.linalg.norm(B.reshape(len(B), -1), axis=1) * np.linalg.norm(G.reshape(len(G), -1),
                                                                      axis=1))
    assert np.median(cos) > 0.95
    with pytest.raises(ValueError, match="space"):
        first_layer.whitened_bases(model, "fourier")


def test_heldout_measures_see_slow_amplitudes_and_turning_phases(model):
    """Sequences made of a few planted units each, with steady amplitudes and phases turning
    0.9 rad/frame: encode → decode explains them, and amplitudes persist (lag-1 autocorrelation
    ≈ 1) where real parts do not (≈ cos 0.9 ≈ 0.62)."""
    rng = np.random.default_rng(0)
    K = model.components_.shape[0]
    n, T = 150, 8
    Z = np.zeros((n, T, K), np.complex64)
    for s in range(n):
        units = rng.choice(K, 3, replace=False)
        a = rng.uniform(2, 4, 3)
        phi = rng.uniform(0, 2 * np.pi, 3)[None] + 0.9 * np.arange(T)[:, None]
        Z[s, :, units] = (a * np.exp(1j * phi)).T
    P = model.decode_patches(Z)
    h = first_layer.heldout_measures(model, P)
    assert h["variance explained"] > 0.9
    assert h["amplitude persistence"] > 0.9
    assert h["real persistence"] < 0.8
    assert h["persistence gain"] == pytest.approx(h["amplitude persistence"]
                                                  - h["real persistence"])
    # steady amplitudes, turning phases: the amplitudes change far less than the real parts
    assert h["change ratio"] < 0.3


def test_change_ratio_against_codes_built_to_know_it():
    rng = np.random.default_rng(1)
    n, T, K = 20, 10, 5
    a = rng.uniform(1, 2, (n, 1, K)) * np.ones((1, T, 1))
    turning = a * np.exp(1j * (rng.uniform(0, 6, (n, 1, K)) + 0.5 * np.arange(T)[None, :, None]))
    assert first_layer.change_ratio(turning) == pytest.approx(0.0, abs=1e-12)
    # real, positive codes: amplitudes are the real parts, so they change exactly alike
    growing = rng.uniform(1, 2, (n, T, K)) + 0j
    assert first_layer.change_ratio(growing) == pytest.approx(1.0)
    # by hand: unit 1 goes from 1 to 2i, unit 2 stays at 1: Δa = (1, 0) against a₁ = (2, 1),
    # ΔRe z = (−1, 0) against Re z₁ = (0, 1)
    Z = np.array([[[1.0, 1.0], [2j, 1.0]]])
    assert first_layer.change_ratio(Z) == pytest.approx(np.sqrt(1 / 5) / np.sqrt(1 / 1))
