"""Basis geometry measures on Gabor pairs with known parameters, against noise."""
import numpy as np

from csc.analysis import geometry as bg


def gabor_pair(p=16, centre=(7.0, 9.0), freq=0.2, theta=0.5, width=2.5, phase_offset=np.pi / 2):
    r, c = np.mgrid[0:p, 0:p]
    env = np.exp(-((r - centre[0]) ** 2 + (c - centre[1]) ** 2) / (2 * width**2))
    arg = 2 * np.pi * freq * ((c - centre[1]) * np.cos(theta) + (r - centre[0]) * np.sin(theta))
    return env * np.cos(arg) + 1j * env * np.cos(arg - phase_offset)


def test_gabor_pairs_measure_as_built():
    B = np.stack([gabor_pair(), gabor_pair(theta=2.0, freq=0.25, centre=(5.0, 5.0))])
    np.testing.assert_allclose(bg.envelope_centre(B), [[7, 9], [5, 5]], atol=0.3)
    assert np.all(bg.localisation(B) > 0.8)
    f = bg.unit_frequency(B, signed=False)
    np.testing.assert_allclose(np.hypot(*f.T), [0.2, 0.25], atol=1 / 16)
    np.testing.assert_allclose(bg.orientation(B), [0.5, 2.0], atol=0.25)
    assert np.all(bg.orientation_selectivity(B) > 0.6)
    assert np.all(bg.dc_fraction(B) < 0.05)
    sim, offset = bg.quadrature(B)
    assert np.all(sim > 0.95) and np.all(offset > 80)


def test_in_phase_pair_and_noise_score_low():
    same = gabor_pair(phase_offset=0.0)[None]
    sim, offset = bg.quadrature(same)
    assert sim[0] > 0.99 and offset[0] < 5
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((50, 16, 16)) + 1j * rng.standard_normal((50, 16, 16))
    assert np.median(bg.localisation(noise)) < 0.3
    assert np.median(bg.orientation_selectivity(noise)) < 0.2
    assert np.median(bg.quadrature(noise)[0]) < 0.85
    assert np.median(bg.envelope_width(noise)) > np.median(bg.envelope_width(
        np.stack([gabor_pair()] * 3)))


def _fold(f):
    f = f.copy()
    flip = (f[:, 1] < 0) | ((f[:, 1] == 0) & (f[:, 0] < 0))
    f[flip] *= -1
    return f


def test_unit_frequency_against_the_spectra_of_r_and_i():
    """Unsigned: the folded peak of |R̂|² + |Î|²; signed: the peak of |FFT(R + iI)|², whose fold
    is the unsigned one for a quadrature pair (one-sided spectrum)."""
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((40, 16, 16)) + 1j * rng.standard_normal((40, 16, 16))
    power = (np.abs(np.fft.fft2(noise.real)) ** 2 + np.abs(np.fft.fft2(noise.imag)) ** 2)
    idx = np.unravel_index(power.reshape(40, -1).argmax(1), (16, 16))
    freq = np.fft.fftfreq(16)
    want = _fold(np.stack([freq[idx[0]], freq[idx[1]]], 1))
    # equal up to aliasing: ±0.5 cycles/px (the Nyquist frequency of an even p) are one frequency
    np.testing.assert_array_equal(np.mod(bg.unit_frequency(noise, signed=False) - want, 1.0), 0)
    pairs = np.stack([gabor_pair(theta=t) for t in np.linspace(0, np.pi, 7)])
    np.testing.assert_array_equal(_fold(bg.unit_frequency(pairs)),
                                  bg.unit_frequency(pairs, signed=False))


def test_unit_frequency_padding_resolves_off_grid_frequencies():
    p, f = 16, np.array([0.13, -0.21])          # off the 1/16 grid
    r, c = np.mgrid[0:p, 0:p]
    B = np.exp(2j * np.pi * (f[0] * r + f[1] * c))[None]
    assert np.abs(bg.unit_frequency(B) - f).max() > 1 / (4 * p)
    np.testing.assert_allclose(bg.unit_frequency(B, pad=8)[0], f, atol=1 / (2 * 8 * p))
    np.testing.assert_allclose(bg.unit_frequency(B, pad=8, signed=False)[0], -f,
                               atol=1 / (2 * 8 * p))


def test_quadrature_pairs_by_the_papers_definition():
    """A Gabor quadrature pair passes; the same pair in phase, in antiphase, at 30° and two
    unrelated patterns fail; the offset is read at the spectral peak."""
    rng = np.random.default_rng(1)
    unrelated = gabor_pair().real + 1j * gabor_pair(theta=2.0, freq=0.35, centre=(4.0, 4.0)).real
    B = np.stack([gabor_pair(), gabor_pair(phase_offset=0.0), gabor_pair(phase_offset=np.pi),
                  gabor_pair(phase_offset=np.pi / 6), gabor_pair(phase_offset=-np.pi / 2),
                  unrelated])
    corr, offset, is_pair = bg.quadrature_pairs(B)
    np.testing.assert_allclose(offset[:5], [90, 0, 180, 30, 90], atol=8)
    assert corr[0] > 0.95 and corr[5] < 0.5
    assert is_pair.tolist() == [True, False, False, False, True, False]
    noise = rng.standard_normal((200, 12, 12)) + 1j * rng.standard_normal((200, 12, 12))
    assert np.mean(bg.quadrature_pairs(noise)[2]) < 0.05
