"""The energy of docs/design.md §1 and the gradients of its smooth parts (NumPy reference).

E = Σ ½ Σ_m w_m (x − x̂)_m² + Σ S_p(a_{k,t}) + Σ_{t≥2} S_l(a_{k,t} − a_{k,t−1}),  a = |z|.

Gradients with respect to real parameters are returned packed as complex arrays: for codes
z = u + iv the gradient is ∂E/∂u + i ∂E/∂v, and likewise for the dictionary A = R + iI.
"""
from __future__ import annotations

import numpy as np

from csc.core.model import check_codes, check_data, check_dictionary, reconstruct
from csc.priors import Prior, make_prior


def sparse_penalty(a: np.ndarray, prior: Prior) -> float:
    """Σ S_p(a): λ Σ a (l1), (λ/2) Σ a² (gauss) or λ Σ log(1 + a²/σ²) (cauchy).

    a: amplitudes, any shape, any float dtype (summed in float64)."""
    if prior.sparsity == "l1":
        return prior.lam * float(np.sum(a, dtype=np.float64))
    if prior.sparsity == "gauss":
        return 0.5 * prior.lam * float(np.sum(a.astype(np.float64) ** 2))
    return prior.lam * float(np.sum(np.log1p((a.astype(np.float64) / prior.sigma) ** 2)))


def slowness_penalty(a: np.ndarray, prior: Prior) -> float:
    """Σ_{t≥2} S_l(a_t − a_{t−1}) over axis 1 of amplitudes a (n_sequences, n_frames, K)."""
    if prior.slowness == "none" or a.shape[1] < 2:
        return 0.0
    da = np.diff(a.astype(np.float64), axis=1)
    if prior.slowness == "l2":
        return 0.5 * prior.kappa * float(np.sum(da**2))
    return prior.kappa * float(np.sum(np.abs(da)))


def energy_terms(X: np.ndarray, Z: np.ndarray, D: np.ndarray, prior: Prior) -> dict[str, float]:
    """Energy parts for validated arrays; see `energy`."""
    w = prior.weight_vector(X.shape[-1])
    resid = X.astype(np.float64) - reconstruct(Z.astype(np.complex128), D.astype(np.complex128))
    recon = 0.5 * float(np.sum((resid**2) @ w))
    a = np.abs(Z)
    terms = {"recon": recon, "sparse": sparse_penalty(a, prior), "slow": slowness_penalty(a, prior)}
    terms["total"] = terms["recon"] + terms["sparse"] + terms["slow"]
    return terms


def energy(X, Z, D, **prior_kwargs) -> dict[str, float]:
    """Energy of codes Z for data X under dictionary D (docs/design.md §1), in float64.

    X: float (n_sequences, n_frames, n_features); Z: complex (n_sequences, n_frames, n_components);
    D: complex (n_components, n_features); prior keywords as in `csc.priors.make_prior`.
    Returns {"total", "recon", "sparse", "slow"} as floats.
    """
    prior = make_prior(**prior_kwargs)
    X = check_data(X)
    D = check_dictionary(D, X.shape[-1])
    Z = check_codes(Z, X.shape[:2], D.shape[0])
    return energy_terms(X, Z, D, prior)


def recon_gradient_codes(X: np.ndarray, Z: np.ndarray, D: np.ndarray,
                         w: np.ndarray) -> np.ndarray:
    """∂/∂(u + iv) of ½ Σ w (x − x̂)², complex (n_sequences, n_frames, K).

    With x̂ = u·R + v·I: ∂/∂u = −R diag(w) e, ∂/∂v = −I diag(w) e, e = x − x̂.
    """
    e = (X - reconstruct(Z, D)) * w
    return -(e @ D.real.T + 1j * (e @ D.imag.T))


def recon_gradient_dictionary(X: np.ndarray, Z: np.ndarray, D: np.ndarray,
                              w: np.ndarray) -> np.ndarray:
    """∂/∂(R + iI) of ½ Σ w (x − x̂)² summed over all frames, complex (K, M)."""
    e = ((X - reconstruct(Z, D)) * w).reshape(-1, X.shape[-1])
    Zf = Z.reshape(-1, Z.shape[-1])
    return -(Zf.real.T @ e + 1j * (Zf.imag.T @ e))


def slowness_l2_gradient(Z: np.ndarray, kappa: float) -> np.ndarray:
    """∂/∂(u + iv) of (κ/2) Σ_t (a_t − a_{t−1})², complex like Z (n_sequences, n_frames, K).

    κ(2a_t − a_{t−1} − a_{t+1}) z_t/a_t with one-sided ends; zero where a_t = 0.
    """
    a = np.abs(Z)
    da = np.diff(a, axis=1)
    g = np.zeros_like(a)
    g[:, 1:] += da
    g[:, :-1] -= da
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = np.where(a > 0, Z / np.where(a > 0, a, 1), 0)
    return kappa * g * direction


def cauchy_gradient(Z: np.ndarray, lam: float, sigma: float) -> np.ndarray:
    """∂/∂(u + iv) of λ Σ log(1 + |z|²/σ²): 2λ z / (σ² + |z|²)."""
    return 2 * lam * Z / (sigma**2 + np.abs(Z) ** 2)


def gauss_gradient(Z: np.ndarray, lam: float) -> np.ndarray:
    """∂/∂(u + iv) of (λ/2) Σ |z|²: λ z, complex like Z."""
    return lam * Z
