"""Unit normalisations of a real-form dictionary W = [R; I] (2K, M), in place.

"pair" (the paper's): orthogonalise one part of each unit against the other, then scale R_k and
I_k to unit norm each. The paper orthogonalises I against R and swaps the parts after every
update; alternating which part is orthogonalised (`flip`) has the same symmetric effect without
flipping the unit's handedness, so codes stay meaningful across updates.
"complex": ‖A_k‖² = ‖R_k‖² + ‖I_k‖² = 1.

The per-unit work is a Numba function (`normalize_unit`) so that the online rule's sweep, which
normalises each unit right after updating it, can call it from compiled code. Dictionaries are
learned on the host in float64 whatever the backend, so there is no GPU twin.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

NORMALIZATIONS = ("pair", "complex")
NORMALIZE_PAIR, NORMALIZE_COMPLEX = NORMALIZATIONS.index("pair"), NORMALIZATIONS.index("complex")
NORMALIZE_NONE = -1
"""Codes of the normalisations in compiled code: a name's index in NORMALIZATIONS, and NONE to
leave the unit as it is."""
_TINY = 1e-12


def normalization_code(kind: str) -> int:
    """The compiled code of a normalisation name; ValueError if unknown."""
    if kind not in NORMALIZATIONS:
        raise ValueError(f"unknown normalize {kind!r}; choose one of {NORMALIZATIONS}")
    return NORMALIZATIONS.index(kind)


@njit(cache=True)
def _dot(W, i, j):
    s = 0.0
    for m in range(W.shape[1]):
        s += W[i, m] * W[j, m]
    return s


@njit(cache=True)
def _scale_row(W, i, norm):
    d = max(norm, _TINY)
    for m in range(W.shape[1]):
        W[i, m] /= d


@njit(cache=True)
def normalize_unit(W, k, code, flip):
    """Normalise unit k of W float64 (2K, M) in place: rows k (real part) and K + k (imaginary)."""
    K = W.shape[0] // 2
    r, i = k, K + k
    if code == NORMALIZE_PAIR:
        a, b = (i, r) if flip else (r, i)
        coef = _dot(W, a, b) / max(_dot(W, a, a), _TINY)
        for m in range(W.shape[1]):
            W[b, m] -= coef * W[a, m]
        _scale_row(W, r, math.sqrt(_dot(W, r, r)))
        _scale_row(W, i, math.sqrt(_dot(W, i, i)))
    elif code == NORMALIZE_COMPLEX:
        norm = math.sqrt(_dot(W, r, r) + _dot(W, i, i))
        _scale_row(W, r, norm)
        _scale_row(W, i, norm)


@njit(cache=True)
def _normalize_rows(W, units, code, flip):
    for k in units:
        normalize_unit(W, k, code, flip)


def normalize_units(W: np.ndarray, kind: str, flip: bool = False,
                    units: np.ndarray | slice = slice(None)) -> None:
    """Normalise the selected units of W float (2K, M) in place; `flip` orthogonalises R against I.
    `units` selects among the K units (a slice, integer indices or a boolean mask)."""
    code = normalization_code(kind)
    K = W.shape[0] // 2
    selected = np.arange(K)[units]
    if W.dtype == np.float64 and W.flags.c_contiguous:
        _normalize_rows(W, selected, code, bool(flip))
        return
    work = np.ascontiguousarray(W, dtype=np.float64)
    _normalize_rows(work, selected, code, bool(flip))
    W[...] = work
