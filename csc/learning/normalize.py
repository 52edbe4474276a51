"""Unit normalisations of a real-form dictionary W = [R; I] (2K, M), in place.

"pair" (the paper's): orthogonalise one part of each unit against the other, then scale R_k and
I_k to unit norm each. The paper orthogonalises I against R and swaps the parts after every
update; alternating which part is orthogonalised (`flip`) has the same symmetric effect without
flipping the unit's handedness, so codes stay meaningful across updates.
"complex": ‖A_k‖² = ‖R_k‖² + ‖I_k‖² = 1.
"""
from __future__ import annotations

import numpy as np

NORMALIZATIONS = ("pair", "complex")
_TINY = 1e-12


def normalize_units(W: np.ndarray, kind: str, flip: bool = False,
                    units: np.ndarray | slice = slice(None)) -> None:
    """Normalise the selected units of W (2K, M) in place; `flip` orthogonalises R against I."""
    K = W.shape[0] // 2
    R = W[:K][units]
    I = W[K:][units]
    if kind == "pair":
        a, b = (I, R) if flip else (R, I)
        coef = np.sum(a * b, axis=-1, keepdims=True) / np.maximum(
            np.sum(a * a, axis=-1, keepdims=True), _TINY)
        b -= coef * a
        R /= np.maximum(np.linalg.norm(R, axis=-1, keepdims=True), _TINY)
        I /= np.maximum(np.linalg.norm(I, axis=-1, keepdims=True), _TINY)
    elif kind == "complex":
        norm = np.sqrt(np.sum(R * R, axis=-1, keepdims=True) + np.sum(I * I, axis=-1,
                                                                      keepdims=True))
        R /= np.maximum(norm, _TINY)
        I /= np.maximum(norm, _TINY)
    else:
        raise ValueError(f"unknown normalize {kind!r}; choose one of {NORMALIZATIONS}")
    W[:K][units] = R
    W[K:][units] = I
