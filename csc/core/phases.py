"""Amplitudes, phases and phase changes of complex codes: the one place that defines them.

Codes are z = a e^{iφ} (complex, e.g. (n_sequences, n_frames, K) from `csc.encode` or
`PixelModel.encode_patches`). Angles are wrapped to (−π, π], the range of `np.angle`, so a
wrapped difference and arg(z_t conj z_{t−1}) agree everywhere, at the cut included.

NumPy only (CuPy arrays are not accepted; call `.get()` first).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from csc.core.model import check_codes

__all__ = ["amplitude", "phase", "wrap", "phase_velocity", "DEFAULT_REL_THRESHOLD"]

DEFAULT_REL_THRESHOLD = 0.1


def amplitude(Z: ArrayLike) -> np.ndarray:
    """|z|: float (same shape as Z; float32 for complex64, float64 for complex128)."""
    return np.abs(np.asarray(Z))


def phase(Z: ArrayLike) -> np.ndarray:
    """arg z in (−π, π]: float, same shape as Z (0 where z = 0, where the phase is undefined)."""
    return np.angle(np.asarray(Z))


def wrap(d: ArrayLike) -> np.ndarray:
    """Angles wrapped to (−π, π] (as `np.angle`): float, same shape as d (float64 for integer
    input, the input's dtype for float input); −π maps to +π."""
    d = np.asarray(d)
    w = np.mod(d + np.pi, 2 * np.pi) - np.pi  # in [−π, π)
    return np.where(w == -np.pi, np.pi, w).astype(d.dtype if d.dtype.kind == "f" else float,
                                                   copy=False)


def check_code_sequences(Z: ArrayLike) -> np.ndarray:
    """Z as codes (n_sequences, n_frames ≥ 2, K) with finite values (`csc.core.model.check_codes`
    and at least two frames), else ValueError."""
    Z = np.asarray(Z)
    Z = check_codes(Z, None, Z.shape[-1] if Z.ndim else 0)
    if Z.shape[1] < 2:
        raise ValueError(f"codes need at least 2 frames, got {Z.shape[1]}")
    return Z


def _threshold(A: np.ndarray, threshold: ArrayLike | None, rel_threshold: float) -> np.ndarray:
    """Per-unit absolute thresholds float (K,)."""
    K = A.shape[-1]
    if threshold is None:
        return rel_threshold * A.reshape(-1, K).max(axis=0)
    t = np.asarray(threshold, dtype=float)
    if t.ndim == 0:
        return np.full(K, float(t))
    if t.shape != (K,):
        raise ValueError(f"threshold must be a scalar or shape ({K},), got {t.shape}")
    return t


def phase_velocity(Z: ArrayLike, threshold: ArrayLike | None = None, *,
                   rel_threshold: float = DEFAULT_REL_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Wrapped phase change of every unit between consecutive frames, and where it is meaningful.

    Z: complex (n_seq, T, K). Returns
      delta float (n_seq, T−1, K) (float32 for complex64 codes, float64 for complex128):
        wrap(φ_t − φ_{t−1}) in (−π, π], computed as arg(z_t · conj(z_{t−1})), exact across the
        ±π cut; 0 where either code is 0;
      mask bool (n_seq, T−1, K): True where a_t > thr_k and a_{t−1} > thr_k (strictly).
    threshold: None → per unit, `rel_threshold` (default 0.1) × that unit's largest amplitude in
      Z (a unit that is never active gets an all-False mask); a float → one absolute threshold
      for every unit; an array (K,) → absolute per-unit thresholds.
    Per-unit relative thresholds are the default because units' amplitude scales differ widely
    (a global maximum would mask out the weaker units entirely).
    """
    Z = check_code_sequences(Z)
    A = np.abs(Z)
    thr = _threshold(A, threshold, rel_threshold)
    delta = np.angle(Z[:, 1:] * np.conj(Z[:, :-1]))
    delta = np.where(delta == -np.pi, np.pi, delta)
    mask = (A[:, 1:] > thr) & (A[:, :-1] > thr)
    return delta, mask
