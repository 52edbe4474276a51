"""Prior keywords shared by `energy`, `encode` and the estimator (docs/design.md §1).

A `Prior` bundles the sparse prior on amplitudes, the slowness prior on amplitude changes and the
per-feature reconstruction weights. Every public entry point builds one with `make_prior`, which
validates the keywords and raises `ValueError` naming the problem.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SPARSITIES = ("l1", "cauchy", "gauss")
SLOWNESSES = ("l2", "l1", "none")

# The one registry of prior codes: the integers the compiled kernels switch on. The Numba passes
# import them; the CUDA sources receive them as the -D defines of `kernel_defines()`.
SPARSITY_CODE = {"l1": 0, "cauchy": 1, "gauss": 2}
SLOWNESS_CODE = {"none": 0, "l2": 1, "l1": 2}
SPARSE_L1, SPARSE_CAUCHY, SPARSE_GAUSS = (SPARSITY_CODE["l1"], SPARSITY_CODE["cauchy"],
                                         SPARSITY_CODE["gauss"])
SLOW_NONE, SLOW_L2, SLOW_L1 = SLOWNESS_CODE["none"], SLOWNESS_CODE["l2"], SLOWNESS_CODE["l1"]


def kernel_defines() -> dict[str, int]:
    """The prior codes as the C macros of `kernels/` (CSC_SPARSE_L1, …, CSC_SLOW_L1)."""
    return {**{f"CSC_SPARSE_{name.upper()}": code for name, code in SPARSITY_CODE.items()},
            **{f"CSC_SLOW_{name.upper()}": code for name, code in SLOWNESS_CODE.items()}}

#: The paper's values (Cadieu & Olshausen 2012; authors' `init.m`, `run_20.m`): Cauchy sparse prior
#: λ=10, σ=0.4, quadratic slowness κ=0.5, and reconstruction weights 1/noise variance = 1/0.01.
PAPER_PRIOR: dict[str, Any] = dict(
    sparsity="cauchy", lam=10.0, sigma=0.4, slowness="l2", kappa=0.5, weights=100.0
)
#: The paper's prior on the first-layer codes collected for its second layer ("slow_gauss";
#: authors' `a_gauss_beta` 8, `a_lambda_S` 0.5): Gaussian S(a) = (β/2)a², λ playing β, with the
#: same quadratic slowness.
PAPER_GAUSS_PRIOR: dict[str, Any] = dict(sparsity="gauss", lam=8.0, slowness="l2", kappa=0.5)
PRESETS: dict[str, dict[str, Any]] = {"paper": PAPER_PRIOR}

PRIOR_KEYS = ("sparsity", "lam", "sigma", "slowness", "kappa", "weights")

#: The Cauchy scale σ allowed: the normal float32 numbers, [1.2e-38, 3.4e38]. The float32 kernels
#: (CPU and CUDA) receive σ rounded to float32 and compute the prox and log1p(a²/σ²) in double,
#: where σ² (≥ 1.4e-76), rσ² and r³ stay finite and normal for every finite float32 amplitude r;
#: a subnormal σ would lose digits, one below 1.4e-45 rounds to 0 (division by zero), and one
#: above 3.4e38 to inf. The same range holds for float64 data.
SIGMA_RANGE = (float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max))


@dataclass(frozen=True)
class Prior:
    """Validated prior settings.

    sparsity: "l1" (S_p(a) = λa), "cauchy" (λ log(1 + a²/σ²)) or "gauss" ((λ/2) a², the paper's
    prior on the codes fed to its second layer, λ playing β); sigma is used by cauchy only.
    weights: None (all ones), a positive scalar, or a float array `(n_features,)`.
    """

    sparsity: str = "l1"
    lam: float = 0.1
    sigma: float = 0.4
    slowness: str = "none"
    kappa: float = 0.0
    weights: Any = None

    def weight_vector(self, n_features: int, dtype=np.float64) -> np.ndarray:
        """Reconstruction weights as a float array `(n_features,)` of `dtype`."""
        if self.weights is None:
            return np.ones(n_features, dtype=dtype)
        w = np.asarray(self.weights, dtype=dtype)
        if w.ndim == 0:
            return np.full(n_features, w, dtype=dtype)
        if w.shape != (n_features,):
            raise ValueError(
                f"weights has shape {w.shape}, expected a scalar or ({n_features},) to match "
                f"n_features"
            )
        return w

    def as_dict(self) -> dict[str, Any]:
        """The keywords, JSON-friendly (weights as a list or scalar)."""
        w = self.weights
        if isinstance(w, np.ndarray):
            w = w.tolist()
        return dict(sparsity=self.sparsity, lam=self.lam, sigma=self.sigma,
                    slowness=self.slowness, kappa=self.kappa, weights=w)


def _positive_float(name: str, value: Any, *, allow_zero: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def make_prior(sparsity: str = "l1", lam: float = 0.1, sigma: float = 0.4,
               slowness: str = "none", kappa: float = 0.0, weights: Any = None) -> Prior:
    """Validate the prior keywords and return a `Prior`.

    Raises ValueError for an unknown prior, negative or non-finite constants, sigma outside
    `SIGMA_RANGE`, non-positive or non-finite weights, and the combinations `cauchy` or
    `gauss` + `l1` slowness (only the chain prox of `l1` sparsity couples the frames; the other
    sparsities run pointwise).
    """
    if sparsity not in SPARSITIES:
        raise ValueError(f"unknown sparsity {sparsity!r}; choose one of {SPARSITIES}")
    if slowness not in SLOWNESSES:
        raise ValueError(f"unknown slowness {slowness!r}; choose one of {SLOWNESSES}")
    if sparsity == "cauchy" and slowness == "l1":
        raise ValueError(
            "sparsity='cauchy' with slowness='l1' is not supported: its amplitude prox has no "
            "exact solver; use slowness='l2' (the paper's) or sparsity='l1'"
        )
    if sparsity == "gauss" and slowness == "l1":
        raise ValueError(
            "sparsity='gauss' with slowness='l1' is not supported: the TV (chain) prox runs with "
            "sparsity='l1' only; use slowness='l2' (the paper's slow_gauss) or slowness='none'"
        )
    lam = _positive_float("lam", lam, allow_zero=True)
    sigma = _positive_float("sigma", sigma, allow_zero=False)
    if not SIGMA_RANGE[0] <= sigma <= SIGMA_RANGE[1]:
        raise ValueError(f"sigma must lie in [{SIGMA_RANGE[0]:.3g}, {SIGMA_RANGE[1]:.3g}] (the "
                         f"normal float32 numbers: the float32 kernels take sigma as float32), "
                         f"got {sigma!r}; rescale the data and sigma together")
    kappa = _positive_float("kappa", kappa, allow_zero=True)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim > 1:
            raise ValueError(f"weights must be a scalar or 1-D, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("weights must be finite and > 0")
        weights = float(w) if w.ndim == 0 else w
    return Prior(sparsity, lam, sigma, slowness, kappa, weights)


def split_prior_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into (prior keywords, the rest)."""
    prior = {k: kwargs[k] for k in PRIOR_KEYS if k in kwargs}
    rest = {k: v for k, v in kwargs.items() if k not in PRIOR_KEYS}
    return prior, rest
