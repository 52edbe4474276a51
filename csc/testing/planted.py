"""Planted ground truth: data generated from a known complex dictionary, and how to compare units.

Used by the tests (learning must recover the planted dictionary) and useful to check a setting.
"""
from __future__ import annotations

import numpy as np

from csc.core.model import dictionary_from_real, dictionary_to_real, reconstruct
from csc.learning import normalize_units
from csc.learning.estimator import ComplexSparseCoding
from csc.testing.movies import pink_noise
from csc.video.pixel_model import PixelModel
from csc.video.whitening import PCAWhitener


def random_dictionary(n_components: int, n_features: int, rng: np.random.Generator,
                      normalize: str = "pair") -> np.ndarray:
    """A random complex dictionary (n_components, n_features), complex128, normalised."""
    W = rng.standard_normal((2 * n_components, n_features))
    normalize_units(W, normalize)
    return dictionary_from_real(W)


def planted_data(n_components: int = 8, n_features: int = 32, n_sequences: int = 200,
                 n_frames: int = 16, p_active: float = 0.25, noise: float = 0.01,
                 random_state: int | None = 0, normalize: str = "pair"):
    """Movies from a planted dictionary with sparse, slowly varying amplitudes and drifting phases.

    Each (sequence, unit) is active with probability `p_active`; an active unit's amplitude is a
    smooth bump over the sequence (0.5 to 1.5), its phase drifts at a random rate in ±0.6 rad/frame.
    `noise` is the standard deviation of the white Gaussian noise added to every pixel; the
    dictionary is normalised by `normalize` (see `csc.learning.normalize_units`: "pair" makes
    R_k ⟂ I_k with unit norms, "complex" makes ‖R_k‖² + ‖I_k‖² = 1).
    Returns X float32 (n_sequences, n_frames, n_features), D complex128 (n_components,
    n_features), Z complex128 (n_sequences, n_frames, n_components).
    """
    rng = np.random.default_rng(random_state)
    D = random_dictionary(n_components, n_features, rng, normalize)
    shape = (n_sequences, 1, n_components)
    active = rng.random(shape) < p_active
    t = np.arange(n_frames)[None, :, None]
    level = rng.uniform(0.5, 1.5, shape)
    wobble = 0.2 * np.sin(2 * np.pi * t / n_frames * rng.uniform(0.3, 1.0, shape)
                          + rng.uniform(0, 2 * np.pi, shape))
    amplitude = active * np.clip(level + wobble, 0.05, None)
    phase = rng.uniform(0, 2 * np.pi, shape) + rng.uniform(-0.6, 0.6, shape) * t
    Z = amplitude * np.exp(1j * phase)
    X = reconstruct(Z, D) + noise * rng.standard_normal((n_sequences, n_frames, n_features))
    return X.astype(np.float32), D, Z


def subspace_similarity(D_true: np.ndarray, D_learned: np.ndarray) -> np.ndarray:
    """Best-match similarity of each true unit's plane span{R_k, I_k} with the learned units'.

    A unit is defined only up to rotation (and reflection) inside its plane, so units are compared
    as 2-D subspaces: sim(k, j) = ‖Q_kᵀ Q'_j‖_F² / 2 ∈ [0, 1] (mean squared cosine of the principal
    angles). Returns (n_true,) the best sim over learned units for each true unit.
    """

    def bases(D):
        planes = np.stack([D.real, D.imag], axis=-1)  # (K, M, 2)
        return np.linalg.qr(planes)[0]  # (K, M, 2) orthonormal

    Qt, Ql = bases(np.asarray(D_true)), bases(np.asarray(D_learned))
    overlap = np.einsum("kmi,jmn->kjin", Qt, Ql)
    sim = np.sum(overlap**2, axis=(2, 3)) / 2
    return sim.max(axis=1)


def gabor_bank(p: int = 16, wavelengths=(4, 8), n_orient=8, centres=(3.5, 7.5, 11.5), sigma=2.5):
    """Complex Gabors g(x) e^{i⟨ω, x − c⟩}, R ⟂ I, both unit norm: complex (K, p, p), and their
    frequency vectors ω (K, 2) in rad/px (row, col)."""
    r, c = np.mgrid[0:p, 0:p].astype(float)
    bases, omegas = [], []
    for lam in wavelengths:
        for th in np.arange(n_orient) * np.pi / n_orient:
            w = 2 * np.pi / lam * np.array([np.sin(th), np.cos(th)])
            for cr in centres:
                for cc in centres:
                    g = np.exp(-((r - cr) ** 2 + (c - cc) ** 2) / (2 * (sigma * lam / 4) ** 2))
                    b = g * np.exp(1j * (w[0] * (r - cr) + w[1] * (c - cc)))
                    R, I = b.real / np.linalg.norm(b.real), b.imag
                    I = I - (I * R).sum() * R
                    bases.append(R + 1j * I / np.linalg.norm(I))
                    omegas.append(w)
    return np.array(bases), np.array(omegas)


def planted_gabor_model(p: int = 16, lam: float = 40.0):
    """A `PixelModel` with a planted dictionary of known frequencies: a PCA whitener fitted on 1/f
    noise patches (so natural-like images come out white, as for a learned model) and the complex
    Gabor quadrature pairs of `gabor_bank` (2 wavelengths × 8 orientations × 3 × 3 positions)
    drawn in whitened pixel space. For testing transform transfer where the truth is known."""
    P = p
    rng = np.random.default_rng(0)
    image = pink_noise((256, 256), rng)
    corners = rng.integers(0, 256 - P, (4000, 2))
    patches = np.stack([image[a:a + P, b:b + P] for a, b in corners])
    whitener = PCAWhitener(P, cutoff=1e-6).fit(patches)
    B, _ = gabor_bank(p)
    D = B.reshape(len(B), -1) @ whitener.components_.astype(np.float64)
    R, I = D.real, D.imag
    R = R / np.linalg.norm(R, axis=1, keepdims=True)
    I = I - (I * R).sum(1, keepdims=True) * R
    D = R + 1j * I / np.linalg.norm(I, axis=1, keepdims=True)
    coder = ComplexSparseCoding(len(D), lam=lam, weights=whitener.weights_,
                                transform_max_iter=200, random_state=0, backend="cpu")
    coder._reset_state()
    coder._set_dictionary(dictionary_to_real(D).astype(np.float64))
    return PixelModel(coder, whitener)
