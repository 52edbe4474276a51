"""Form-unit measures (csc.analysis.form_measures) on columns whose inputs are known."""
import numpy as np
import pytest

from csc.analysis import form_measures as fm


def _units():
    """16 first-layer units: orientations 0 or π/2 (alternating), centres on a 4 × 4 grid with
    4-px spacing, frequencies 1/8 or 1/4 cycles/pixel (first or second half)."""
    orientation = np.tile([0.0, np.pi / 2], 8)
    centres = np.stack(np.meshgrid(np.arange(4) * 4.0, np.arange(4) * 4.0, indexing="ij"),
                       -1).reshape(-1, 2)
    radius = np.repeat([0.125, 0.25], 8)
    frequency = np.stack([radius * np.sin(orientation), radius * np.cos(orientation)], 1)
    return orientation, centres, frequency


def test_inputs_sharing_an_orientation_place_and_band():
    orientation, centres, frequency = _units()
    B = np.zeros((16, 3))
    B[[0, 2], 0] = [1.0, -1.0]  # two horizontal-frequency units, 8 px apart, one band
    B[[0, 1], 1] = 1.0  # orthogonal orientations: concentration 0
    B[[0, 8], 2] = 1.0  # the same orientation an octave apart
    m = fm.input_measures(B, orientation, centres, frequency, n_inputs=2)
    np.testing.assert_allclose(m["orientation_concentration"], [1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(m["spatial_spread"][0], 4.0)  # each 4 px from their mean
    np.testing.assert_allclose(m["octave_spread"], [0.0, 0.0, 0.5])  # ±½ octave about the mean


def test_unoriented_inputs_have_no_orientation():
    """A unit peaking at zero frequency (a blob) is skipped for the orientation concentration,
    the next strongest oriented one taken instead; it still counts for place and band."""
    orientation, centres, frequency = _units()
    frequency[1] = 0.0  # unit 1 (orientation "π/2" by the table) becomes a blob
    B = np.zeros((16, 1))
    B[[0, 1, 2], 0] = [1.0, 0.9, 0.5]  # 0 and 2 horizontal; 1 the blob
    m = fm.input_measures(B, orientation, centres, frequency, n_inputs=2)
    np.testing.assert_allclose(m["orientation_concentration"], [1.0], atol=1e-12)
    with_blob = fm.input_measures(B, orientation, centres, _units()[2], n_inputs=2)
    np.testing.assert_allclose(with_blob["orientation_concentration"], [0.1 / 1.9], atol=1e-12)
    # spread over units 0 and 1 (4 px apart, weights 1 and 0.9), not over 0 and 2
    np.testing.assert_allclose(m["spatial_spread"], with_blob["spatial_spread"])
    np.testing.assert_allclose(m["spatial_spread"], [4 * np.sqrt(0.9) / 1.9])
    with pytest.raises(ValueError, match="oriented"):
        fm.input_measures(B, orientation, centres, np.zeros((16, 2)), n_inputs=1)


def test_random_columns_are_less_concentrated_than_one_orientation():
    orientation, centres, frequency = _units()
    rng = np.random.default_rng(0)
    m = fm.input_measures(rng.standard_normal((16, 500)), orientation, centres, frequency)
    # two orientations: |Σ ±w| / Σ w over 8 random inputs, measured median 0.20
    assert np.median(m["orientation_concentration"]) < 0.35


def test_active_units_and_bad_input():
    V = np.zeros((10, 5, 3))
    V[0, 0, 0] = 1.0  # 1 frame in 50: 2%
    V[:, :, 1] = 0.5
    assert list(fm.active_units(V)) == [True, True, False]
    with pytest.raises(ValueError, match="n_inputs"):
        fm.input_measures(np.ones((4, 2)), *(np.zeros(4), np.zeros((4, 2)), np.ones((4, 2))),
                          n_inputs=5)
