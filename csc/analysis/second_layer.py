"""The second layer (Cadieu & Olshausen 2012, docs/design.md §5): motion units learned from the
phase velocities of first-layer codes and form units learned from their log-amplitudes.

Motion units, with r = δ − W D_mᵀ (phase velocities δ (n_seq, T−1, K), weights `mask`):

    E(W) = κ Σ mask·(1 − cos r) + Σ ½ log(1 + (W/s)²) + c Σ_t ‖W_t − W_{t−1}‖²,

κ = `kappa_vm` (4), s = `prior_scale` (0.2236), c = `slowness` (5/2). Inference minimises E over W
(n_seq, T−1, L) by L-BFGS from W = 0; learning takes D_m += η ⟨mask·sin(r) Wᵀ⟩ and renormalises the
columns of D_m (K, L).

Form units, with ℓ (n_seq, T, K) the centred and scaled log-amplitudes:

    E(V) = ‖ℓ − V Bᵀ‖² / (2σ²) + λ Σ|V| + c Σ_t ‖V_t − V_{t−1}‖²,

σ² = `noise_var` (0.2), λ = `lam` (2), c = `slowness` (5). Inference is FISTA (convex: a smooth
part plus an l1 term) from V = 0; learning takes B += η ⟨(ℓ − V Bᵀ)ᵀ V⟩ / σ² and renormalises
B's columns.

Both are scikit-learn estimators (`BaseEstimator`: get_params / set_params / clone / repr) in
`ComplexSparseCoding`'s style (fit / partial_fit / transform, `components_` (K, L), `history_`) and
serialise to plain arrays (`to_arrays` / `from_arrays`) for model files. Their inputs come from
`csc.analysis.phases.phase_velocity` (δ, mask) and `log_amplitude_features` (ℓ).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from csc import io
from csc.core.params import check_number

LOG_AMPLITUDE_FLOOR = -4.0


# --------------------------------------------------------------------------- features
def log_amplitude_features(Z, stats: dict | None = None,
                           floor: float = LOG_AMPLITUDE_FLOOR) -> tuple[np.ndarray, dict]:
    """ℓ = (log max(|Z|, e^floor) − mean) / std per first-layer unit, float64 (n_seq, T, K), and
    the stats {"mean": (K,), "std": (K,), "floor": float}. Pass the stats of the training data as
    `stats` to map new codes the same way."""
    Z = np.asarray(Z)
    if Z.ndim != 3:
        raise ValueError(f"Z must be (n_seq, T, K), got shape {Z.shape}")
    a = np.abs(Z).astype(np.float64)
    if stats is None:
        ell = np.log(np.maximum(a, math.exp(floor)))
        mean = ell.reshape(-1, ell.shape[-1]).mean(axis=0)
        std = ell.reshape(-1, ell.shape[-1]).std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        stats = {"mean": mean, "std": std, "floor": float(floor)}
    else:
        floor = float(stats["floor"])
        ell = np.log(np.maximum(a, math.exp(floor)))
        mean, std = np.asarray(stats["mean"], float), np.asarray(stats["std"], float)
        if mean.shape != (Z.shape[-1],):
            raise ValueError(f"stats are for {mean.shape[0]} units, Z has {Z.shape[-1]}")
    return (ell - mean) / std, stats


# --------------------------------------------------------------------------- energies
def _time_diff_grad(W: np.ndarray) -> np.ndarray:
    """Gradient of ½ Σ_t ‖W_t − W_{t−1}‖² over W (n_seq, T, L)."""
    g = np.zeros_like(W)
    d = W[:, 1:] - W[:, :-1]
    g[:, 1:] += d
    g[:, :-1] -= d
    return g


def _check_mask(mask, shape) -> np.ndarray:
    if mask is None:
        return np.ones(shape)
    mask = np.asarray(mask, dtype=np.float64)
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape}, expected {shape}")
    return mask


def energy_motion(delta, mask, W, D, *, kappa_vm: float = 4.0, prior_scale: float = 0.2236,
                  slowness: float = 2.5, grad: bool = False):
    """Motion-unit energy (total over the batch) of W (n_seq, T−1, L) for δ, mask (n_seq, T−1, K)
    and D (K, L); with grad=True returns (E, terms dict, dE/dW)."""
    delta = np.asarray(delta, np.float64)
    mask = _check_mask(mask, delta.shape)
    r = delta - W @ D.T
    data = kappa_vm * float(np.sum(mask * (1 - np.cos(r))))
    u = W / prior_scale
    sparse = 0.5 * float(np.sum(np.log1p(u * u)))
    d = W[:, 1:] - W[:, :-1]
    slow = slowness * float(np.sum(d * d))
    E = data + sparse + slow
    terms = {"data": data, "sparse": sparse, "slow": slow, "total": E}
    if not grad:
        return E, terms
    g = -kappa_vm * (mask * np.sin(r)) @ D + W / (prior_scale ** 2 + W * W) \
        + 2 * slowness * _time_diff_grad(W)
    return E, terms, g


def energy_form(ell, V, B, *, noise_var: float = 0.2, lam: float = 2.0, slowness: float = 5.0,
                grad: bool = False):
    """Form-unit energy (total) of V (n_seq, T, L) for ℓ (n_seq, T, K) and B (K, L); with
    grad=True also the gradient of the smooth part (all but λΣ|V|)."""
    ell = np.asarray(ell, np.float64)
    R = ell - V @ B.T
    data = float(np.sum(R * R)) / (2 * noise_var)
    sparse = lam * float(np.sum(np.abs(V)))
    d = V[:, 1:] - V[:, :-1]
    slow = slowness * float(np.sum(d * d))
    E = data + sparse + slow
    terms = {"data": data, "sparse": sparse, "slow": slow, "total": E}
    if not grad:
        return E, terms
    g = -(R @ B) / noise_var + 2 * slowness * _time_diff_grad(V)
    return E, terms, g


def form_prox_residual(ell, V, B, *, noise_var: float = 0.2, lam: float = 2.0,
                       slowness: float = 5.0) -> float:
    """RMS of the prox-gradient residual L·(V − prox_{λ/L}(V − ∇f/L)): 0 exactly at a minimiser."""
    L = _form_lipschitz(B, noise_var, slowness)
    _, _, g = energy_form(ell, V, B, noise_var=noise_var, lam=lam, slowness=slowness, grad=True)
    P = _soft(V - g / L, lam / L)
    return float(np.sqrt(np.mean((L * (V - P)) ** 2)))


# --------------------------------------------------------------------------- inference
def _soft(x: np.ndarray, t: float) -> np.ndarray:
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def _form_lipschitz(B: np.ndarray, noise_var: float, slowness: float) -> float:
    """Upper bound on the Lipschitz constant of the smooth part's gradient."""
    return float(np.linalg.norm(B, 2) ** 2) / noise_var + 8.0 * slowness


def infer_motion(delta, mask, D, *, kappa_vm=4.0, prior_scale=0.2236, slowness=2.5,
                 max_iter=100, tol=1e-6, W0=None) -> tuple[np.ndarray, dict]:
    """Minimise the motion energy over W by L-BFGS (from W0, default 0). Returns W and
    {"energy", "n_iter", "grad_norm"} (RMS gradient)."""
    delta = np.asarray(delta, np.float64)
    mask = _check_mask(mask, delta.shape)
    shape = delta.shape[:2] + (D.shape[1],)
    x0 = np.zeros(int(np.prod(shape))) if W0 is None else np.asarray(W0, np.float64).ravel()

    def fun(x):
        E, _, g = energy_motion(delta, mask, x.reshape(shape), D, kappa_vm=kappa_vm,
                                prior_scale=prior_scale, slowness=slowness, grad=True)
        return E, g.ravel()

    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12, "maxcor": 20})
    W = res.x.reshape(shape)
    return W, {"energy": float(res.fun), "n_iter": int(res.nit),
               "grad_norm": float(np.sqrt(np.mean(res.jac ** 2)))}


def infer_form(ell, B, *, noise_var=0.2, lam=2.0, slowness=5.0, max_iter=200, tol=1e-6,
               V0=None) -> tuple[np.ndarray, dict]:
    """Minimise the form energy over V by FISTA (from V0, default 0), stopping when the relative
    change of V falls below tol. Returns V and {"energy", "n_iter", "residual"}."""
    ell = np.asarray(ell, np.float64)
    shape = ell.shape[:2] + (B.shape[1],)
    L = _form_lipschitz(B, noise_var, slowness)
    V = np.zeros(shape) if V0 is None else np.array(V0, np.float64)
    Y, t = V.copy(), 1.0
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        g = -((ell - Y @ B.T) @ B) / noise_var + 2 * slowness * _time_diff_grad(Y)
        V_new = _soft(Y - g / L, lam / L)
        t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
        Y = V_new + ((t - 1) / t_new) * (V_new - V)
        change = np.linalg.norm(V_new - V) / max(np.linalg.norm(V_new), 1e-12)
        V, t = V_new, t_new
        if change < tol:
            break
    E, _ = energy_form(ell, V, B, noise_var=noise_var, lam=lam, slowness=slowness)
    return V, {"energy": E, "n_iter": n_iter,
               "residual": form_prox_residual(ell, V, B, noise_var=noise_var, lam=lam,
                                              slowness=slowness)}


# --------------------------------------------------------------------------- estimators
def _normalize_columns(D: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(D, axis=0)
    return D / np.where(n > 1e-12, n, 1.0)


class _SecondLayerBase(BaseEstimator):
    """Shared machinery: parameter checks, RNG, batches, serialisation. Subclasses set `_KIND`
    (the model-file tag) and extend `_check_params`."""

    _KIND = ""

    def _check_params(self) -> None:
        """Check the hyper-parameters shared by both kinds (called by fit and partial_fit)."""
        check_number(self.n_components, "n_components", numbers.Integral, 1)
        check_number(self.n_updates, "n_updates", numbers.Integral, 0)
        check_number(self.batch_size, "batch_size", numbers.Integral, 1)
        check_number(self.max_iter, "max_iter", numbers.Integral, 1)
        check_number(self.transform_max_iter, "transform_max_iter", numbers.Integral, 1)
        check_number(self.learning_rate, "learning_rate", numbers.Real, 0, include_min=False)
        check_number(self.slowness, "slowness", numbers.Real, 0)
        check_number(self.tol, "tol", numbers.Real, 0)
        if self.random_state is not None:  # a seed stored in the model file's JSON
            check_number(self.random_state, "random_state", numbers.Integral, 0)

    def _reset_state(self) -> None:
        self._rng = np.random.default_rng(self.random_state)
        self.n_updates_ = 0
        self.history_ = {"energy": [], "n_iter": [], "change": []}

    def _init_components(self, K: int) -> None:
        self._reset_state()
        D = self._rng.standard_normal((K, self.n_components))
        self.components_ = _normalize_columns(D)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "components_", msg="this %(name)s is not fitted yet: call fit or "
                        "partial_fit")

    def _check_K(self, K: int) -> None:
        if K != self.components_.shape[0]:
            raise ValueError(f"input has {K} first-layer units but the model was fitted with "
                             f"{self.components_.shape[0]}")

    def _batch_indices(self, n: int) -> np.ndarray:
        return np.sort(self._rng.choice(n, size=self.batch_size, replace=n < self.batch_size))

    def _step_size(self) -> float:
        """η, decayed to η/10 linearly over the `n_updates` of a fit."""
        frac = min(self.n_updates_ / max(self.n_updates, 1), 1.0)
        return self.learning_rate * (1.0 - 0.9 * frac)

    # ---------------------------------------------------------------- serialisation
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no objects): "kind", "params" (JSON of `get_params()`) and "state" (JSON
        strings), "components" float64 (K, L). `from_arrays` rebuilds the estimator, learning
        state included."""
        self._check_fitted()
        state = {"n_updates_": self.n_updates_, "history_": self.history_,
                 "rng": self._rng.bit_generator.state}
        stats = getattr(self, "feature_stats_", None)  # how the inputs were normalised, if set
        if stats is not None:
            state["feature_stats_"] = {k: np.asarray(v).tolist() for k, v in stats.items()}
        return {"kind": np.array(self._KIND), "params": io.json_array(self.get_params()),
                "state": io.json_array(state),
                "components": np.asarray(self.components_, np.float64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]):
        kind = str(arrays["kind"]) if "kind" in arrays else cls._KIND
        if kind != cls._KIND:
            raise ValueError(f"arrays hold a {kind!r} model, not {cls._KIND!r}")
        model = cls(**io.from_json_array(arrays["params"]))
        model._reset_state()
        model.components_ = np.array(arrays["components"], dtype=np.float64)
        if "state" in arrays:
            state = io.from_json_array(arrays["state"])
            model.n_updates_ = int(state["n_updates_"])
            model.history_ = state["history_"]
            model._rng.bit_generator.state = state["rng"]
            if "feature_stats_" in state:
                model.feature_stats_ = {k: np.asarray(v) for k, v in
                                        state["feature_stats_"].items()}
        return model


class MotionUnits(_SecondLayerBase):
    """Motion units: a dictionary D_m (K, L) of phase-velocity patterns.

    Parameters
    ----------
    n_components: number of motion units L.
    kappa_vm: von Mises concentration κ of the phase-velocity likelihood (4).
    prior_scale: scale s of the Cauchy-like prior ½ log(1 + (w/s)²) (0.2236).
    slowness: c of c Σ_t ‖w_t − w_{t−1}‖² (5/2).
    learning_rate: η of D_m += η ⟨mask·sin(δ − D_m w) wᵀ⟩ (decayed to η/10 over a fit).
    n_updates, batch_size: learning updates made by `fit` and sequences per update.
    max_iter, tol: L-BFGS iterations / gradient tolerance per update; transform_max_iter for
    `transform`. random_state: an int seed ≥ 0 or None.

    Learned attributes: components_ float64 (K, L) with unit columns; n_updates_; history_
    (per-update "energy" per frame, "n_iter", "change" = relative change of D_m).

    Not a scikit-learn `TransformerMixin`: `transform` needs the mask as well as δ, and the
    mixin's `fit_transform(X, y)` would pass the mask to fit only.
    """

    _KIND = "motion_units"

    def __init__(self, n_components: int, *, kappa_vm: float = 4.0, prior_scale: float = 0.2236,
                 slowness: float = 2.5, learning_rate: float = 1.0, n_updates: int = 200,
                 batch_size: int = 32, max_iter: int = 50, tol: float = 1e-5,
                 transform_max_iter: int = 200, random_state: int | None = None):
        self.n_components = n_components
        self.kappa_vm = kappa_vm
        self.prior_scale = prior_scale
        self.slowness = slowness
        self.learning_rate = learning_rate
        self.n_updates = n_updates
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        check_number(self.kappa_vm, "kappa_vm", numbers.Real, 0, include_min=False)
        check_number(self.prior_scale, "prior_scale", numbers.Real, 0, include_min=False)

    def _energy_kwargs(self) -> dict[str, float]:
        return dict(kappa_vm=self.kappa_vm, prior_scale=self.prior_scale,
                    slowness=self.slowness)

    @staticmethod
    def _check_data(delta, mask) -> tuple[np.ndarray, np.ndarray]:
        delta = np.asarray(delta, dtype=np.float64)
        if delta.ndim != 3:
            raise ValueError(f"delta must be (n_seq, T-1, K), got shape {delta.shape}")
        if not np.all(np.isfinite(delta)):
            raise ValueError("delta has non-finite values")
        return delta, _check_mask(mask, delta.shape)

    def _update(self, delta, mask) -> None:
        D = self.components_
        W, info = infer_motion(delta, mask, D, max_iter=self.max_iter, tol=self.tol,
                               **self._energy_kwargs())
        r = delta - W @ D.T
        N = delta.shape[0] * delta.shape[1]
        G = np.einsum("ntk,ntl->kl", mask * np.sin(r), W) / N
        D_new = _normalize_columns(D + self._step_size() * G)
        self.history_["energy"].append(info["energy"] / N)
        self.history_["n_iter"].append(info["n_iter"])
        self.history_["change"].append(float(np.linalg.norm(D_new - D) / np.linalg.norm(D)))
        self.components_ = D_new
        self.n_updates_ += 1

    def fit(self, delta, mask=None) -> MotionUnits:
        """Learn D_m from δ (n_seq, T−1, K) and mask (same shape, bool or weights; None = all
        ones): `n_updates` updates on random batches, from random unit columns."""
        self._check_params()
        delta, mask = self._check_data(delta, mask)
        self._init_components(delta.shape[-1])
        for _ in range(self.n_updates):
            idx = self._batch_indices(delta.shape[0])
            self._update(delta[idx], mask[idx])
        return self

    def partial_fit(self, delta, mask=None) -> MotionUnits:
        """One update with all of δ as the batch."""
        self._check_params()
        delta, mask = self._check_data(delta, mask)
        if not hasattr(self, "components_"):
            self._init_components(delta.shape[-1])
        self._check_K(delta.shape[-1])
        self._update(delta, mask)
        return self

    def transform(self, delta, mask=None) -> np.ndarray:
        """Motion-unit activities W float64 (n_seq, T−1, L)."""
        self._check_fitted()
        delta, mask = self._check_data(delta, mask)
        self._check_K(delta.shape[-1])
        W, _ = infer_motion(delta, mask, self.components_, max_iter=self.transform_max_iter,
                            tol=self.tol, **self._energy_kwargs())
        return W

    def predict_velocity(self, W) -> np.ndarray:
        """Predicted phase velocities W D_mᵀ (n_seq, T−1, K) (unwrapped)."""
        self._check_fitted()
        return np.asarray(W, np.float64) @ self.components_.T

    def energy(self, delta, mask, W) -> dict[str, float]:
        """Energy terms of W for δ, mask."""
        self._check_fitted()
        delta, mask = self._check_data(delta, mask)
        return energy_motion(delta, mask, np.asarray(W, np.float64), self.components_,
                             **self._energy_kwargs())[1]


class FormUnits(TransformerMixin, _SecondLayerBase):
    """Form units: a dictionary B (K, L) of log-amplitude patterns.

    Parameters
    ----------
    n_components: number of form units L.
    noise_var: σ² of ‖ℓ − B v‖²/(2σ²) (0.2); lam: λ of λΣ|v| (2); slowness: c of
    c Σ_t ‖v_t − v_{t−1}‖² (5).
    learning_rate: η of B += η ⟨(ℓ − B v) vᵀ⟩/σ² (decayed to η/10 over a fit).
    n_updates, batch_size, max_iter, tol (FISTA relative change), transform_max_iter,
    random_state: as for `MotionUnits`.

    A scikit-learn transformer (`TransformerMixin`): `fit_transform(ell)` is fit then transform.
    """

    _KIND = "form_units"

    def __init__(self, n_components: int, *, noise_var: float = 0.2, lam: float = 2.0,
                 slowness: float = 5.0, learning_rate: float = 0.1, n_updates: int = 200,
                 batch_size: int = 32, max_iter: int = 100, tol: float = 1e-4,
                 transform_max_iter: int = 500, random_state: int | None = None):
        self.n_components = n_components
        self.noise_var = noise_var
        self.lam = lam
        self.slowness = slowness
        self.learning_rate = learning_rate
        self.n_updates = n_updates
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        check_number(self.noise_var, "noise_var", numbers.Real, 0, include_min=False)
        check_number(self.lam, "lam", numbers.Real, 0)

    def _energy_kwargs(self) -> dict[str, float]:
        return dict(noise_var=self.noise_var, lam=self.lam, slowness=self.slowness)

    @staticmethod
    def _check_data(ell) -> np.ndarray:
        ell = np.asarray(ell, dtype=np.float64)
        if ell.ndim != 3:
            raise ValueError(f"ell must be (n_seq, T, K), got shape {ell.shape}")
        if not np.all(np.isfinite(ell)):
            raise ValueError("ell has non-finite values")
        return ell

    def _update(self, ell) -> None:
        B = self.components_
        V, info = infer_form(ell, B, max_iter=self.max_iter, tol=self.tol,
                             **self._energy_kwargs())
        R = ell - V @ B.T
        N = ell.shape[0] * ell.shape[1]
        G = np.einsum("ntk,ntl->kl", R, V) / (N * self.noise_var)
        B_new = _normalize_columns(B + self._step_size() * G)
        self.history_["energy"].append(info["energy"] / N)
        self.history_["n_iter"].append(info["n_iter"])
        self.history_["change"].append(float(np.linalg.norm(B_new - B) / np.linalg.norm(B)))
        self.components_ = B_new
        self.n_updates_ += 1

    def fit(self, ell, y=None) -> FormUnits:
        """Learn B from ℓ (n_seq, T, K) (see `log_amplitude_features`)."""
        self._check_params()
        ell = self._check_data(ell)
        self._init_components(ell.shape[-1])
        for _ in range(self.n_updates):
            self._update(ell[self._batch_indices(ell.shape[0])])
        return self

    def partial_fit(self, ell, y=None) -> FormUnits:
        """One update with all of ℓ as the batch."""
        self._check_params()
        ell = self._check_data(ell)
        if not hasattr(self, "components_"):
            self._init_components(ell.shape[-1])
        self._check_K(ell.shape[-1])
        self._update(ell)
        return self

    def transform(self, ell) -> np.ndarray:
        """Form-unit activities V float64 (n_seq, T, L)."""
        self._check_fitted()
        ell = self._check_data(ell)
        self._check_K(ell.shape[-1])
        V, _ = infer_form(ell, self.components_, max_iter=self.transform_max_iter,
                          tol=self.tol * 0.01, **self._energy_kwargs())
        return V

    def inverse_transform(self, V) -> np.ndarray:
        """Predicted ℓ = V Bᵀ (n_seq, T, K)."""
        self._check_fitted()
        return np.asarray(V, np.float64) @ self.components_.T

    def energy(self, ell, V) -> dict[str, float]:
        self._check_fitted()
        return energy_form(self._check_data(ell), np.asarray(V, np.float64), self.components_,
                           **self._energy_kwargs())[1]


# --------------------------------------------------------------------------- pixels to units
def motion_activities(model, P) -> np.ndarray:
    """Motion-unit activities W float64 (n_seq, T−1, L) of pixel movies P (n_seq, T, p, p).

    model: a `PixelModel` with fitted `motion_units`. The movies are encoded, their phase
    velocities masked, and the motion units inferred, as when the units were learned.
    """
    mu = getattr(model, "motion_units", None)
    if mu is None:
        raise ValueError("the model has no motion units: learn them with csc-second-layer")
    delta, mask = phase_velocity_features(model.encode_patches(P))
    return mu.transform(delta, mask)


def phase_velocity_features(Z) -> tuple[np.ndarray, np.ndarray]:
    """(δ, mask) of codes Z (n_seq, T, K) as the motion units take them."""
    from csc.analysis.phases import phase_velocity
    return phase_velocity(Z)
