"""Geometry of complex bases in pixel space: where, at what frequency, and how well in quadrature.

All functions take complex bases B = R + iI of shape (K, p, p) (e.g. `PixelModel.bases_pixels()`)
and return one value per unit, shape (K,) (or (K, 2) for positions and frequencies).
"""
from __future__ import annotations

import numpy as np


def _spectra(B: np.ndarray):
    """FFTs of the real and imaginary parts (K, p, p) and the frequency grids (cycles/pixel)."""
    p = B.shape[-1]
    FR = np.fft.fft2(B.real, axes=(-2, -1))
    FI = np.fft.fft2(B.imag, axes=(-2, -1))
    fy = np.fft.fftfreq(p)[:, None] * np.ones((1, p))
    fx = np.fft.fftfreq(p)[None, :] * np.ones((p, 1))
    return FR, FI, fy, fx


def envelope_centre(B: np.ndarray) -> np.ndarray:
    """(K, 2) centroid (row, col) of the amplitude envelope |B|²."""
    e = np.abs(B) ** 2
    p = B.shape[-1]
    r, c = np.mgrid[0:p, 0:p]
    total = e.sum(axis=(1, 2))
    return np.stack([(e * r).sum(axis=(1, 2)) / total, (e * c).sum(axis=(1, 2)) / total], 1)


def localisation(B: np.ndarray, radius_fraction: float = 0.25) -> np.ndarray:
    """Fraction of the envelope energy |B|² within radius_fraction·p of its centroid.

    A spatially uniform envelope scores the disc's area share (π/16 ≈ 0.20 for 0.25, less at the
    patch's edges); a localised unit scores near 1.
    """
    e = np.abs(B) ** 2
    p = B.shape[-1]
    r, c = np.mgrid[0:p, 0:p]
    centre = envelope_centre(B)
    d2 = (r[None] - centre[:, 0, None, None]) ** 2 + (c[None] - centre[:, 1, None, None]) ** 2
    inside = d2 <= (radius_fraction * p) ** 2
    return (e * inside).sum(axis=(1, 2)) / e.sum(axis=(1, 2))


def envelope_width(B: np.ndarray) -> np.ndarray:
    """Standard deviation (pixels) of the envelope |B|² around its centroid (radial, per axis)."""
    e = np.abs(B) ** 2
    p = B.shape[-1]
    r, c = np.mgrid[0:p, 0:p]
    centre = envelope_centre(B)
    d2 = (r[None] - centre[:, 0, None, None]) ** 2 + (c[None] - centre[:, 1, None, None]) ** 2
    return np.sqrt((e * d2).sum(axis=(1, 2)) / e.sum(axis=(1, 2)) / 2)


def unit_frequency(B: np.ndarray, *, pad: int = 1, signed: bool = True) -> np.ndarray:
    """Spatial frequency of each unit: float64 (K, 2), (f_row, f_col) in cycles/pixel.

    B: complex (K, p, p) bases R + iI; the spectrum is B̂ = FFT(B) zero-padded to (pad·p)²
    (NumPy's forward convention, so B ≈ g e^{2πi⟨f, x⟩} peaks at +f).
    signed=True: the peak of |B̂(f)|². Its sign says which way the unit's phase turns under a
      translation: a shift of v pixels/frame turns it by about +2π⟨f, v⟩ (docs/design.md §5,
      `csc.analysis.transfer`).
    signed=False: the peak of the symmetric power |B̂(f)|² + |B̂(−f)|² = 2(|R̂(f)|² + |Î(f)|²),
      folded to the half plane f_col > 0 or (f_col = 0, f_row ≥ 0): the frequency of the real
      patterns R and I, whose spectra cannot tell f from −f.
    Frequencies lie on NumPy's `fftfreq` grid of pad·p points: for even pad·p the Nyquist
    frequency appears as −0.5 (or +0.5 where folded), the two being aliases. Multiply by 2π for
    radians/pixel.
    """
    B = np.asarray(B)
    if B.ndim != 3 or B.shape[1] != B.shape[2]:
        raise ValueError(f"bases must be (K, p, p), got shape {B.shape}")
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 1:
        raise ValueError(f"pad must be an integer >= 1, got {pad!r}")
    K, p, _ = B.shape
    n = pad * p
    power = np.abs(np.fft.fft2(B.astype(np.complex128), s=(n, n), axes=(-2, -1))) ** 2
    if not signed:  # add the power at −f (index −i mod n on each axis)
        power = power + np.roll(np.flip(power, axis=(-2, -1)), 1, axis=(-2, -1))
    freq = np.fft.fftfreq(n)
    rows, cols = np.unravel_index(power.reshape(K, -1).argmax(axis=1), (n, n))
    f = np.stack([freq[rows], freq[cols]], 1)
    if not signed:
        flip = (f[:, 1] < 0) | ((f[:, 1] == 0) & (f[:, 0] < 0))
        f[flip] *= -1
    return f


def dc_fraction(B: np.ndarray) -> np.ndarray:
    """Share of the spectral power at zero frequency: 0 for a band-pass unit, 1 for a flat blob."""
    FR, FI, _, _ = _spectra(B)
    power = np.abs(FR) ** 2 + np.abs(FI) ** 2
    return power[:, 0, 0] / power.sum(axis=(1, 2))


def orientation_selectivity(B: np.ndarray) -> np.ndarray:
    """|Σ P e^{2iθ}| / Σ P over the non-DC spectrum (θ the frequency's angle): 1 for a single
    orientation, ~0 for an isotropic pattern."""
    FR, FI, fy, fx = _spectra(B)
    power = np.abs(FR) ** 2 + np.abs(FI) ** 2
    power[:, 0, 0] = 0
    theta = np.arctan2(fy, fx)
    return np.abs((power * np.exp(2j * theta)).sum(axis=(1, 2))) / power.sum(axis=(1, 2))


def orientation(B: np.ndarray) -> np.ndarray:
    """Preferred orientation (radians, in [0, π)) of the frequency vector at the spectral peak."""
    f = unit_frequency(B, signed=False)
    return np.mod(np.arctan2(f[:, 0], f[:, 1]), np.pi)


def quadrature(B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How well I is R shifted by a quarter period, from their spectra.

    Returns (spectrum_similarity, phase_offset): the cosine similarity of the amplitude spectra
    |R̂| and |Î| (1 = same frequencies at the same strengths), and the power-weighted mean of
    |sin(∠Î − ∠R̂)| expressed as an angle in degrees (90 = perfect quadrature, 0 = in phase).
    """
    FR, FI, _, _ = _spectra(B)
    aR, aI = np.abs(FR), np.abs(FI)
    sim = (aR * aI).sum(axis=(1, 2)) / np.sqrt((aR**2).sum(axis=(1, 2)) * (aI**2).sum(axis=(1, 2)))
    weight = aR * aI
    weight[:, 0, 0] = 0
    sin = np.abs(np.sin(np.angle(FI) - np.angle(FR)))
    mean_sin = (weight * sin).sum(axis=(1, 2)) / np.maximum(weight.sum(axis=(1, 2)), 1e-30)
    return sim, np.degrees(np.arcsin(np.clip(mean_sin, 0, 1)))


def quadrature_pairs(B: np.ndarray, *, min_correlation: float = 0.8,
                     tolerance_deg: float = 30.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which units are quadrature pairs: I is R shifted by a quarter period.

    B: complex (K, p, p). Returns float64 (K,) `correlation`, float64 (K,) `offset` (degrees, in
    [0, 180]) and bool (K,) `is_pair`:
    - correlation: Pearson correlation of the amplitude spectra |FFT(R)| and |FFT(I)| over the
      non-DC frequencies (1 = same frequencies at the same strengths);
    - offset: |∠(FFT(I) / FFT(R))| at the spectral peak of |FFT(R)| + |FFT(I)| off DC (the sign
      flips between f and −f for real R and I, so only its size is kept);
    - is_pair: correlation ≥ `min_correlation` and |offset − 90| ≤ `tolerance_deg`.
    A Gabor pair (cosine and sine under one envelope) scores (≈1, 90, True); two unrelated
    patterns score a low correlation, a pattern and a scaled copy an offset of 0 or 180.
    """
    B = np.asarray(B)
    K = B.shape[0]
    FR, FI, _, _ = _spectra(B)
    aR = np.abs(FR).reshape(K, -1)[:, 1:]
    aI = np.abs(FI).reshape(K, -1)[:, 1:]
    aR = aR - aR.mean(axis=1, keepdims=True)
    aI = aI - aI.mean(axis=1, keepdims=True)
    correlation = (aR * aI).sum(1) / np.maximum(
        np.sqrt((aR**2).sum(1) * (aI**2).sum(1)), 1e-300)
    power = (np.abs(FR) + np.abs(FI)).reshape(K, -1)
    power[:, 0] = -1.0  # off DC
    peak = power.argmax(axis=1)
    rows = np.arange(K)
    ratio = FI.reshape(K, -1)[rows, peak] * np.conj(FR.reshape(K, -1)[rows, peak])
    offset = np.abs(np.degrees(np.angle(ratio)))
    is_pair = (correlation >= min_correlation) & (np.abs(offset - 90.0) <= tolerance_deg)
    return correlation, offset, is_pair
