"""Does a complex code factor a movie into *what* (amplitude) and *where/how it moves* (phase)?

Measures on codes `Z` complex (n_sequences, n_frames, K) as returned by `csc.encode` or
`PixelModel.encode_patches`, z = a e^{iφ}:

- `lag1_autocorrelation`: temporal persistence of a real signal per unit;
- `factorization_stats`: persistence of amplitudes vs real/imaginary parts (vs the codes of an
  ordinary real-valued sparse coding, `real_sparse_codes`), and the share of frame-to-frame code
  change carried by phase vs amplitude.

NumPy only (CuPy arrays are not accepted; call `.get()` first).
"""
from __future__ import annotations

import numpy as np

from csc.core.phases import check_code_sequences, phase_velocity

__all__ = ["lag1_autocorrelation", "change_decomposition", "factorization_stats",
           "real_sparse_codes"]

def lag1_autocorrelation(S, axis: int = 1, *, rtol: float = 1e-10) -> np.ndarray:
    """Per-unit lag-1 autocorrelation over time, pooled over sequences.

    S: real (n_seq, T, K) (any number of leading axes; `axis` is time, the last axis is units,
    every other axis is pooled as independent sequences). For each unit, its mean over all
    sequences and frames is removed, s = S − mean_k, and

        r_k = Σ s_t s_{t−1} / sqrt(Σ_{t≥1} s_t² · Σ_{t≤T−1} s_{t−1}²)

    (sums over all sequences and lag-1 pairs; a Pearson correlation of the pairs with the pooled
    mean, so |r_k| ≤ 1, and between-sequence differences of the mean count as persistence).
    Returns float64 (K,). A unit with no variance (Σ s² ≤ rtol × Σ S² over its values, e.g. a
    constant or never-active unit) gets NaN; use `np.nanmedian` to exclude those.
    """
    S = np.asarray(S)
    if np.iscomplexobj(S):
        raise ValueError("lag1_autocorrelation takes a real signal (use .real, .imag or abs)")
    if S.ndim < 2:
        raise ValueError(f"signal must have a time axis and a unit axis, got shape {S.shape}")
    ax = axis % S.ndim
    if ax == S.ndim - 1:
        raise ValueError("the time axis cannot be the last (unit) axis")
    S = np.moveaxis(S.astype(np.float64), ax, -2)
    K, T = S.shape[-1], S.shape[-2]
    if T < 2:
        raise ValueError(f"need at least 2 frames, got {T}")
    S = S.reshape(-1, T, K)
    s = S - S.mean(axis=(0, 1))
    a, b = s[:, 1:], s[:, :-1]
    num = np.einsum("ntk,ntk->k", a, b)
    den = np.sqrt(np.einsum("ntk,ntk->k", a, a) * np.einsum("ntk,ntk->k", b, b))
    total = np.einsum("ntk,ntk->k", s, s)
    scale = np.einsum("ntk,ntk->k", S, S)
    bad = (total <= rtol * scale) | (den <= 0) | (total == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    r[bad] = np.nan
    return r


def change_decomposition(Z) -> tuple[np.ndarray, np.ndarray]:
    """Exact split of each frame-to-frame change Δz = z_t − z_{t−1} into amplitude and phase parts.

    Z: complex (n_seq, T, K). In the polar frame at the bisector angle φ̄ = φ_{t−1} + δ/2
    (δ = wrap(φ_t − φ_{t−1})),

        e^{−iφ̄} Δz = (a_t − a_{t−1}) cos(δ/2)  +  i (a_t + a_{t−1}) sin(δ/2),

    so radial = Δa cos(δ/2) (change along the phase direction) and tangential = 2 ā sin(δ/2)
    (ā the mean amplitude; ≈ ā δ for small steps) are orthogonal and radial² + tangential² =
    |Δz|² exactly. Where either code is 0 the phase is undefined and δ = 0 is used, so an onset
    or offset counts wholly as amplitude change (still exact: |Δz| = |Δa| there).
    Returns (radial, tangential), float64 (n_seq, T−1, K) each.
    """
    Z = check_code_sequences(Z).astype(np.complex128)
    A = np.abs(Z)
    delta, _ = phase_velocity(Z)  # 0 where either code is 0
    radial = (A[:, 1:] - A[:, :-1]) * np.cos(delta / 2)
    tangential = (A[:, 1:] + A[:, :-1]) * np.sin(delta / 2)
    return radial, tangential


def factorization_stats(Z, Z_real=None) -> dict:
    """Persistence of amplitude vs real/imaginary parts, and phase vs amplitude share of change.

    Z: complex (n_seq, T, K) codes; Z_real: optional real (n_seq, T, K_real) codes of an ordinary
    real-valued sparse coding of the same frames (e.g. `real_sparse_codes`).
    Returns a dict of floats (JSON-able):
      persistence_amplitude, persistence_real, persistence_imag: median over units (NaN units
        excluded) of `lag1_autocorrelation` of a = |z|, Re z, Im z;
      persistence_real_sc_abs, persistence_real_sc_signed (only with Z_real): the same for |c|
        and for the signed code c of the real sparse coding;
      n_units_*: how many units entered each median (units with no variance are excluded);
      phase_share, amplitude_share: Σ tangential² / Σ|Δz|² and Σ radial² / Σ|Δz|² over all
        units, frames and sequences (`change_decomposition`; they sum to 1 exactly, onsets and
        offsets of a unit count as amplitude change);
      phase_share_active: the phase share over pairs where both codes are non-zero only;
      active_fraction (and active_fraction_real_sc): share of codes that are non-zero.
    """
    Z = check_code_sequences(Z)
    if not np.iscomplexobj(Z):
        raise ValueError("Z must be complex")
    out: dict = {}

    def put(name, S):
        r = lag1_autocorrelation(S)
        ok = np.isfinite(r)
        out[f"persistence_{name}"] = float(np.median(r[ok])) if ok.any() else float("nan")
        out[f"n_units_{name}"] = int(ok.sum())

    A = np.abs(Z)
    put("amplitude", A)
    put("real", Z.real)
    put("imag", Z.imag)
    if Z_real is not None:
        C = np.asarray(Z_real)
        if np.iscomplexobj(C) or C.ndim != 3 or C.shape[:2] != Z.shape[:2]:
            raise ValueError(f"Z_real must be real with shape ({Z.shape[0]}, {Z.shape[1]}, "
                             f"K_real), got {C.dtype} {C.shape}")
        put("real_sc_abs", np.abs(C))
        put("real_sc_signed", C)
        out["active_fraction_real_sc"] = float(np.mean(C != 0))
    radial, tangential = change_decomposition(Z)
    r2, t2 = radial**2, tangential**2
    total = float(r2.sum() + t2.sum())
    out["phase_share"] = float(t2.sum()) / total if total > 0 else float("nan")
    out["amplitude_share"] = float(r2.sum()) / total if total > 0 else float("nan")
    both = (A[:, 1:] > 0) & (A[:, :-1] > 0)
    tot_b = float(r2[both].sum() + t2[both].sum())
    out["phase_share_active"] = float(t2[both].sum()) / tot_b if tot_b > 0 else float("nan")
    out["active_fraction"] = float(np.mean(A > 0))
    return out


def real_sparse_codes(X, n_components: int, alpha: float, *, weights=None, n_iter: int = 200,
                      batch_size: int = 256, random_state: int = 0, X_fit=None,
                      early_stopping: bool = True, return_dictionary: bool = False):
    """The real-valued sparse coding baseline: learn a real dictionary on the frames of X (or of
    X_fit) with scikit-learn's `MiniBatchDictionaryLearning`, return the codes of X's frames.

    X: float (n_seq, T, M) whitened frames; each frame is one sample (time is ignored, as in
    ordinary sparse coding). weights: optional (M,) reconstruction weights w_m; the data are
    scaled by sqrt(w_m) so the objective is ½ Σ w_m (x − x̂)_m² + alpha Σ|c|, the real analogue
    of csc's l1 energy without slowness (pass `weights=model.whitener.weights_`, alpha = λ).
    Codes by Lasso (coordinate descent) with the same alpha. n_iter: at most this many passes
    (max_iter) of mini-batch learning; with `early_stopping` (scikit-learn's default heuristic:
    stop after 10 mini-batches without improvement of the smoothed cost) it usually stops after
    1–2 passes, without it all passes run (slow: ~20× longer for 20 passes).
    X_fit: optional float (..., M) frames to learn the dictionary on instead of X's. Returns
    float64 codes (n_seq, T, n_components), and the dictionary (n_components, M) in the
    sqrt(w)-scaled space when `return_dictionary`.
    """
    from sklearn.decomposition import MiniBatchDictionaryLearning

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(f"X must have shape (n_seq, T, M), got {X.shape}")
    M = X.shape[-1]
    sw = np.ones(M) if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    F = X.reshape(-1, M) * sw
    Ffit = F if X_fit is None else np.asarray(X_fit, dtype=np.float64).reshape(-1, M) * sw
    dl = MiniBatchDictionaryLearning(n_components=n_components, alpha=alpha, max_iter=n_iter,
                                     batch_size=batch_size, random_state=random_state,
                                     transform_algorithm="lasso_cd", transform_alpha=alpha,
                                     fit_algorithm="cd",
                                     **({} if early_stopping else
                                        dict(max_no_improvement=None, tol=0.0)))
    dl.fit(Ffit)
    C = dl.transform(F).reshape(X.shape[0], X.shape[1], n_components)
    return (C, dl.components_) if return_dictionary else C
