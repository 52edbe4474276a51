"""The measures of a learned first layer: does it reproduce the paper's units?

Cadieu & Olshausen's first layer learns localised, oriented, band-pass units whose real and
imaginary parts are quadrature pairs, whose amplitudes are slow and whose phases carry the motion.
These functions measure that on a `PixelModel` (anything with `components_`, `whitener` and
`bases_pixels()`), next to random units drawn through the same whitener (so that what the
whitening alone gives is not credited to learning):

- `basis_measures`: share of quadrature pairs (`geometry.quadrature_pairs`) and median
  localisation (`geometry.localisation`: share of |B_k|² within p/4 of its centre);
- `model_measures`: both, for the learned and for random units, with units drawn in whitened
  pixel space (E·d_k for a PCA whitener: where codes are inferred) and in pixel space
  (dewhitened: what decoding paints);
- `heldout_measures`: on pixel sequences the model never saw, the variance explained by
  encode → decode (pooled over all pixels) and the lag-1 autocorrelation of amplitudes minus that
  of the real parts (median over units, `factorization.factorization_stats`).
docs/design.md §9 gives the goals these are held to and the figures measured.
"""
from __future__ import annotations

import numpy as np

from csc.analysis.factorization import factorization_stats
from csc.analysis.geometry import localisation, quadrature_pairs
from csc.video.whitening import SPACES, draw_units


def whitened_bases(model, space: str = "whitened") -> np.ndarray:
    """complex (K, p, p): each unit of a `PixelModel` drawn in `space` (see `draw_units`).

    For images with a natural 1/f spectrum whitened input is white, so a unit's phase turns at
    the whitened view's frequency; dewhitened bases carry a low-frequency tilt (× √variance) and
    their spectral peak underestimates that frequency.
    """
    return draw_units(model.components_, model.whitener, space)


def random_units(model, seed: int = 0) -> np.ndarray:
    """complex128 (K, n_features): as many complex Gaussian units as the model has, in its
    whitened feature space (the chance level of every measure)."""
    rng = np.random.default_rng(seed)
    shape = np.shape(model.components_)
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def basis_measures(B: np.ndarray) -> dict[str, float]:
    """Units B complex (K, p, p) → {"quadrature": share of quadrature pairs,
    "localisation": median share of |B|² within p/4 of the centre}."""
    return {"quadrature": float(np.mean(quadrature_pairs(B)[2])),
            "localisation": float(np.median(localisation(B)))}


def model_measures(model, seed: int = 0) -> dict[str, dict[str, float]]:
    """`basis_measures` of the learned and of random units (`random_units(model, seed)`), drawn in
    both spaces: {"learned whitened", "random whitened", "learned pixels", "random pixels"}."""
    noise = random_units(model, seed)
    out = {}
    for space in SPACES:
        out[f"learned {space}"] = basis_measures(whitened_bases(model, space))
        out[f"random {space}"] = basis_measures(draw_units(noise, model.whitener, space))
    return out


def variance_explained(P: np.ndarray, P_hat: np.ndarray) -> float:
    """1 − Σ(P − P̂)² / Σ(P − mean P)² of pixels P and their reconstruction P̂ (same shape), the
    mean over every pixel: the share of the pixels' variance the codes account for."""
    P = np.asarray(P, dtype=np.float64)
    return float(1 - np.sum((P - P_hat) ** 2) / np.sum((P - P.mean()) ** 2))


def heldout_measures(model, P: np.ndarray) -> dict[str, float]:
    """Pixel sequences P float (n_sequences, n_frames, p, p) the model never saw → floats:
    "variance explained" (1 − Σ(P − P̂)² / Σ(P − mean P)², P̂ = decode(encode(P))),
    "amplitude persistence", "real persistence" (median lag-1 autocorrelations) and their
    difference "persistence gain", "phase share" (of the code changes) and "change ratio"
    (`change_ratio`: how much amplitudes change from frame to frame, relative to real parts)."""
    P = np.asarray(P, dtype=np.float64)
    Z = model.encode_patches(P)
    P_hat = model.decode_patches(Z)
    stats = factorization_stats(Z)
    return {
        "variance explained": variance_explained(P, P_hat),
        "amplitude persistence": stats["persistence_amplitude"],
        "real persistence": stats["persistence_real"],
        "persistence gain": stats["persistence_amplitude"] - stats["persistence_real"],
        "phase share": stats["phase_share"],
        "change ratio": change_ratio(Z),
    }


def change_ratio(Z) -> float:
    """The frame-to-frame relative change of the amplitudes over that of the real parts, of codes
    Z complex (n_sequences, n_frames, K): r(a) / r(Re z), r(S) = ‖S_t − S_{t−1}‖ / ‖S_t‖ summed
    over units, frames t ≥ 1 and sequences. 1: amplitudes change as fast as real parts; the
    paper's factorisation makes it small (amplitudes slow, phases carrying the change)."""
    Z = np.asarray(Z)

    def relative(S):
        return np.sqrt(np.sum(np.diff(S, axis=1) ** 2) / max(np.sum(S[:, 1:] ** 2), 1e-300))

    return float(relative(np.abs(Z)) / max(relative(Z.real), 1e-300))


__all__ = ["SPACES", "draw_units", "whitened_bases", "random_units", "basis_measures",
           "model_measures", "heldout_measures", "change_ratio"]
