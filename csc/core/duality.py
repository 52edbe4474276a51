"""λ_max and the duality gap of the convex case: l1 sparsity, no slowness (docs/design.md §2).

Without slowness every frame x (M,) is coded on its own, and with l1 sparsity its problem is convex:

    P(z) = ½ Σ_m w_m (x − x̂)_m² + λ Σ_k |z_k|,   x̂ = Re(Σ_k conj(z_k) A_k)

for a complex dictionary D = [A_1; …; A_K] (K, M). In real form it is a group lasso with target
y = √w ∘ x, design diag(√w) Wᵀ (W = [Re D; Im D]) and groups (Re z_k, Im z_k). Its dual is

    max_θ  θ·y − ½‖θ‖²   subject to   |g_k(θ)| ≤ λ for every k,   g(θ) = (√w ∘ θ) @ D.T  (K,)

(g_k(θ) = R_k·(√w θ) + i I_k·(√w θ) is the correlation of θ with unit k). Every feasible θ gives a
lower bound on min P (weak duality), with equality at the optimum, where θ* = √w ∘ (x − x̂*).

The codes z = 0 are optimal exactly when λ ≥ |g_k(y)| = |((w ∘ x) @ D.T)_k| for every k: hence
`lam_max`. From any codes, the scaled residual θ = s √w ∘ (x − x̂) with the best feasible s ≥ 0 is
a dual point (`dual_bound`); its gap to the primal energy (`duality_gap`) certifies how far the
codes are from optimal, and goes to 0 as the codes reach the optimum.

All three take the arrays of `csc.energy` and work in float64 whatever the input dtypes; the
problem of a movie is the sum of its frames' problems, so the bounds are summed over frames.
"""
from __future__ import annotations

import numpy as np

from csc.core.energy import energy_terms
from csc.core.model import check_codes, check_data, check_dictionary, reconstruct
from csc.priors import Prior, make_prior

_TINY = 1e-300  # guards the divisions of an exact fit (zero residual) and of zero correlations


def _convex_prior(lam: float, weights) -> Prior:
    return make_prior(sparsity="l1", lam=lam, slowness="none", weights=weights)


def lam_max(X, D, weights=None) -> float:
    """The smallest λ at which all-zero codes are optimal for every frame of X.

    X: float (n_sequences, n_frames, n_features); D: complex (n_components, n_features);
    weights: None (ones), a scalar or (n_features,) as for `csc.energy`.
    Returns max over frames and units of |((w ∘ x) @ D.T)_k| (float, computed in float64): for
    λ ≥ lam_max `encode` (l1, no slowness) returns zeros, for λ below it at least one code is
    non-zero.
    """
    X = check_data(X)
    D = check_dictionary(D, X.shape[-1])
    w = _convex_prior(0.0, weights).weight_vector(X.shape[-1])
    Xf = X.reshape(-1, X.shape[-1]).astype(np.float64)
    return float(np.abs((Xf * w) @ D.astype(np.complex128).T).max())


def dual_bound(X, Z, D, lam: float, weights=None) -> float:
    """A lower bound on the optimal energy of the convex problem, from the dual point of codes Z.

    X: float (n_sequences, n_frames, n_features); Z: complex (n_sequences, n_frames,
    n_components), any codes; D: complex (n_components, n_features); lam ≥ 0; weights as for
    `csc.energy`. Per frame, with e = x − x̂(z) and r = √w ∘ e, θ = s r where s maximises the dual
    objective s r·y − ½ s² ‖r‖² over 0 ≤ s ≤ λ / max_k |((w ∘ e) @ D.T)_k| (feasibility):
    s = clip(r·y / ‖r‖², 0, that bound). Returns Σ over frames of θ·y − ½‖θ‖² (float64) ≤ the
    minimum over codes of `csc.energy(X, ·, D, sparsity="l1", lam=lam, weights=weights)`.
    """
    X = check_data(X)
    D = check_dictionary(D, X.shape[-1])
    Z = check_codes(Z, X.shape[:2], D.shape[0])
    prior = _convex_prior(lam, weights)
    M = X.shape[-1]
    w = prior.weight_vector(M)
    X64 = X.reshape(-1, M).astype(np.float64)
    D128 = D.astype(np.complex128)
    E = X64 - reconstruct(Z.astype(np.complex128), D128).reshape(-1, M)
    g_max = np.abs((E * w) @ D128.T).max(axis=1)
    s_max = prior.lam / np.maximum(g_max, _TINY)
    ry = np.einsum("nm,nm,m->n", E, X64, w)  # r·y
    rr = np.einsum("nm,nm,m->n", E, E, w)  # ‖r‖²
    s = np.clip(ry / np.maximum(rr, _TINY), 0.0, s_max)
    return float(np.sum(s * ry - 0.5 * s * s * rr))


def duality_gap(X, Z, D, lam: float, weights=None) -> float:
    """Energy of codes Z minus their `dual_bound` (float64, ≥ 0 up to rounding).

    An upper bound on how far `csc.energy(X, Z, D, sparsity="l1", lam=lam, weights=weights)`
    is above the optimum; it goes to 0 as Z reaches the optimum. Arguments as for `dual_bound`.
    """
    X = check_data(X)
    D = check_dictionary(D, X.shape[-1])
    Z = check_codes(Z, X.shape[:2], D.shape[0])
    primal = energy_terms(X, Z, D, _convex_prior(lam, weights))["total"]
    return primal - dual_bound(X, Z, D, lam, weights)
