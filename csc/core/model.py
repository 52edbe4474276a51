"""The generative model and its real form (docs/design.md §1).

A frame is explained as x̂ = Re(Σ_k conj(z_k) A_k) = (Z.conj() @ D).real. In real form the
dictionary is W = [Re D; Im D] (2K, M) and the codes of N frames are C = [Re Z | Im Z] (N, 2K),
so that x̂ = C @ W: the unit index is the fastest-varying one in C (coalesced kernels, BLAS GEMMs).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import issparse
from sklearn.utils.validation import check_array

from csc.backends.backend import array_module


def reconstruct(Z: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Frames explained by codes.

    Z: complex (n_sequences, n_frames, n_components); D: complex (n_components, n_features).
    Returns float (n_sequences, n_frames, n_features) = (Z.conj() @ D).real.
    """
    return Z.real @ D.real + Z.imag @ D.imag


def dictionary_to_real(D: np.ndarray, dtype=None) -> np.ndarray:
    """Complex (K, M) → real W = [Re D; Im D], C-contiguous (2K, M)."""
    W = np.concatenate([D.real, D.imag], axis=0)
    return np.ascontiguousarray(W, dtype=dtype or W.dtype)


def dictionary_from_real(W: np.ndarray) -> np.ndarray:
    """Real W (2K, M) → complex D (K, M), complex64 for float32 W."""
    K = W.shape[0] // 2
    return (W[:K] + 1j * W[K:]).astype(np.result_type(W.dtype, np.complex64))


def codes_to_real(Z: np.ndarray, dtype) -> np.ndarray:
    """Complex (B, T, K) → real C (B·T, 2K), C-contiguous of `dtype`."""
    B, T, K = Z.shape
    C = np.empty((B * T, 2 * K), dtype=dtype)
    C[:, :K] = Z.real.reshape(B * T, K)
    C[:, K:] = Z.imag.reshape(B * T, K)
    return C


def codes_from_real(C: np.ndarray, n_sequences: int, n_frames: int,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Real C (B·T, 2K) → complex (B, T, K), complex64 for float32 C, written into `out` (a
    complex (B, T, K) array, e.g. a slice of a larger result) when given; no temporaries."""
    K = C.shape[1] // 2
    if out is None:
        out = np.empty((n_sequences, n_frames, K), dtype=np.result_type(C.dtype, np.complex64))
    out.real = C[:, :K].reshape(n_sequences, n_frames, K)
    out.imag = C[:, K:].reshape(n_sequences, n_frames, K)
    return out


def _check_numeric(A, name: str, kinds: str, what: str) -> None:
    """ValueError unless the array A has a dtype of one of the NumPy `kinds` ("i", "u", "f",
    "c"): object, string and bool arrays are refused before any arithmetic touches them."""
    if A.dtype.kind not in kinds:
        raise ValueError(f"{name} must be {what}, got dtype {A.dtype}")


def check_data(X, name: str = "X") -> np.ndarray:
    """Validate movie data: real, finite, float (n_sequences, n_frames, n_features).

    Returns a C-contiguous float32 or float64 array (float64 kept; everything else → float32),
    of NumPy, or of CuPy when X is a CuPy array (it stays on its device). Integer data is
    accepted; complex, bool, object and string arrays are refused (ValueError).
    """
    xp = array_module(X)
    X = xp.asarray(X)
    if np.iscomplexobj(X):
        raise ValueError(f"{name} must be real-valued, got dtype {X.dtype}")
    _check_numeric(X, name, "iuf", "real numbers (integer or float)")
    if X.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n_sequences, n_frames, n_features), got shape {X.shape}"
        )
    if min(X.shape) < 1:
        raise ValueError(f"{name} is empty: shape {X.shape}")
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    X = xp.ascontiguousarray(X, dtype=dtype)
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"{name} contains NaN or Inf")
    return X


def check_sequences(X, name: str = "X") -> tuple[np.ndarray, bool]:
    """(sequences, flat) for an estimator's input: X float (n_sequences, n_frames, n_features),
    or X (n_samples, n_features) as n_samples sequences of one frame (frames without time; flat
    is then True), checked: scikit-learn's `check_array` for host data (its messages, sparse
    input refused), then `check_data`, which also keeps a CuPy array on its device."""
    if array_module(X) is np:
        if not issparse(X):  # (check_array refuses sparse input in its words)
            X = np.asarray(X)  # scikit-learn's own messages for these would print the array
            if np.iscomplexobj(X):
                raise ValueError(f"Complex data not supported: {name} must be real-valued, "
                                 f"got dtype {X.dtype}")
            if X.ndim < 2:
                raise ValueError(f"{name} must have shape (n_sequences, n_frames, n_features) or "
                                 f"(n_samples, n_features), got shape {X.shape}: Reshape your "
                                 f"data")
        X = check_array(X, allow_nd=True, dtype=[np.float32, np.float64], input_name=name)
    flat = X.ndim == 2
    return check_data(X[:, None] if flat else X, name), flat


def check_dictionary(D, n_features: int | None = None) -> np.ndarray:
    """Validate a complex dictionary (n_components, n_features) with finite entries: numeric
    (integer, float or complex dtype), at least one component and one feature."""
    D = np.asarray(D)
    _check_numeric(D, "D", "iufc", "numeric (complex, float or integer)")
    if D.ndim != 2:
        raise ValueError(f"D must have shape (n_components, n_features), got shape {D.shape}")
    if min(D.shape) < 1:
        raise ValueError(f"D is empty: shape {D.shape} (n_components and n_features must be "
                         f">= 1)")
    if n_features is not None and D.shape[1] != n_features:
        raise ValueError(
            f"D has {D.shape[1]} features but the data has {n_features} (shape mismatch)"
        )
    if not np.all(np.isfinite(D)):
        raise ValueError("D contains NaN or Inf")
    return D


def check_codes(Z, shape_prefix: tuple[int, int] | None, n_components: int) -> np.ndarray:
    """Validate complex codes (n_sequences, n_frames, n_components), of a numeric dtype."""
    Z = np.asarray(Z)
    _check_numeric(Z, "Z", "iufc", "numeric (complex, float or integer)")
    if Z.ndim != 3 or Z.shape[2] != n_components:
        raise ValueError(
            f"Z must have shape (n_sequences, n_frames, {n_components}), got shape {Z.shape}"
        )
    if shape_prefix is not None and Z.shape[:2] != tuple(shape_prefix):
        raise ValueError(f"Z has shape {Z.shape}, expected {tuple(shape_prefix)} in its first axes")
    if not np.all(np.isfinite(Z)):
        raise ValueError("Z contains NaN or Inf")
    return Z
