"""Form units (Cadieu & Olshausen 2012 §5, docs/design.md §5): a dictionary B (K, L) of
log-amplitude patterns.

With ℓ (n_seq, T, K) the normalised log-amplitudes (`features.log_amplitude_features`):

    E(V) = ‖ℓ − V Bᵀ‖² / (2σ²) + λ Σ|V| + c Σ_t ‖V_t − V_{t−1}‖²,

σ² = `noise_var` (0.2), λ = `lam` (2), c = `slowness` (5: the authors' ½ · 10). Inference is
FISTA (convex: a smooth part plus an l1 term) from V = 0; learning takes
B += η ⟨(ℓ − V Bᵀ)ᵀ V⟩ / σ² and renormalises B's columns.
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.base import TransformerMixin, _fit_context

from csc import io
from csc.core.model import check_sequences
from csc.core.params import NON_NEGATIVE, POSITIVE
from csc.second_layer.base import SecondLayerBase, time_diff_grad
from csc.second_layer.features import log_amplitude_features


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
    g = -(R @ B) / noise_var + 2 * slowness * time_diff_grad(V)
    return E, terms, g


def soft(x: np.ndarray, t: float) -> np.ndarray:
    """Soft threshold sign(x) max(|x| − t, 0), elementwise."""
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def _form_lipschitz(B: np.ndarray, noise_var: float, slowness: float) -> float:
    """Upper bound on the Lipschitz constant of the smooth part's gradient."""
    return float(np.linalg.norm(B, 2) ** 2) / noise_var + 8.0 * slowness


def form_prox_residual(ell, V, B, *, noise_var: float = 0.2, lam: float = 2.0,
                       slowness: float = 5.0) -> float:
    """RMS of the prox-gradient residual L·(V − prox_{λ/L}(V − ∇f/L)): 0 exactly at a minimiser."""
    L = _form_lipschitz(B, noise_var, slowness)
    _, _, g = energy_form(ell, V, B, noise_var=noise_var, lam=lam, slowness=slowness, grad=True)
    P = soft(V - g / L, lam / L)
    return float(np.sqrt(np.mean((L * (V - P)) ** 2)))


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
        g = -((ell - Y @ B.T) @ B) / noise_var + 2 * slowness * time_diff_grad(Y)
        V_new = soft(Y - g / L, lam / L)
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


class FormUnits(TransformerMixin, SecondLayerBase):
    """Form units: a dictionary B (K, L) of log-amplitude patterns.

    A scikit-learn transformer (`TransformerMixin`): `fit_transform(ell)` is fit then transform;
    ℓ (n_samples, K), frames without time, is n_samples one-frame sequences. It passes
    scikit-learn's estimator checks.

    Parameters
    ----------
    n_components : int
        Number of form units L (the paper: 100).
    log_variance, center_units : float, bool
        How `fit_features` normalises log-amplitudes (the paper: variance 0.1 per unit, the
        mean over units removed at every frame).
    noise_var : float
        σ² of ‖ℓ − B v‖²/(2σ²) (0.2).
    lam : float
        λ of λΣ|v| (2).
    slowness : float
        c of c Σ_t ‖v_t − v_{t−1}‖² (5).
    step, step_targets, learning_rate, n_updates, batch_size, transform_max_iter, random_state
        As for `MotionUnits`.
    init : {"random", "data"}
        "data": the features of random frames.
    max_iter, tol : int, float
        FISTA iterations and relative change per update.

    Attributes
    ----------
    components_, n_updates_, history_
        As for `MotionUnits`.
    feature_stats_ : dict
        Set by `fit_features`: the normalisation of the training codes, which `features`
        applies to new codes.
    """

    _KIND = "form_units"
    _parameter_constraints: dict = {**SecondLayerBase._parameter_constraints,
                                    "log_variance": POSITIVE, "center_units": ["boolean"],
                                    "noise_var": POSITIVE, "lam": NON_NEGATIVE}
    _LEGACY = {"step": "linear", "log_variance": 1.0, "center_units": False}

    def __init__(self, n_components: int = 100, *, log_variance: float = 0.1,
                 center_units: bool = True, noise_var: float = 0.2, lam: float = 2.0,
                 slowness: float = 5.0, step: str = "adaptive",
                 step_targets: tuple = (0.03, 0.06, 0.015), learning_rate: float = 0.1,
                 init: str = "random", n_updates: int = 1000, batch_size: int = 32,
                 max_iter: int = 100, tol: float = 1e-4, transform_max_iter: int = 500,
                 random_state: int | None = None):
        self.n_components = n_components
        self.log_variance = log_variance
        self.center_units = center_units
        self.noise_var = noise_var
        self.lam = lam
        self.slowness = slowness
        self.step = step
        self.step_targets = step_targets
        self.learning_rate = learning_rate
        self.init = init
        self.n_updates = n_updates
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state

    def _energy_kwargs(self) -> dict[str, float]:
        return dict(noise_var=self.noise_var, lam=self.lam, slowness=self.slowness)

    def _data_columns(self, ell) -> np.ndarray:
        """Log-amplitude features ℓ (K,) of `n_components` random frames."""
        flat = ell.reshape(-1, ell.shape[-1])
        return flat[self._sample_frames(len(flat))].T

    # ---------------------------------------------------------------- features
    def fit_features(self, Z) -> np.ndarray:
        """ℓ float64 (n_seq, T, K) of first-layer codes Z, normalised as the parameters say;
        the normalisation is kept as `feature_stats_` for `features`."""
        ell, self.feature_stats_ = log_amplitude_features(
            Z, variance=self.log_variance, center_units=self.center_units)
        return ell

    def features(self, Z) -> np.ndarray:
        """ℓ of new codes Z, normalised like the training codes (`fit_features`)."""
        if getattr(self, "feature_stats_", None) is None:
            raise ValueError("no feature normalisation yet: call fit_features on the training "
                             "codes first")
        return log_amplitude_features(Z, self.feature_stats_)[0]

    def _extra_state(self) -> dict:
        stats = getattr(self, "feature_stats_", None)
        if stats is None:
            return {}
        return {"feature_stats_": {k: np.asarray(v).tolist() for k, v in stats.items()}}

    def _set_extra_state(self, state: dict) -> None:
        """feature_stats_ from the JSON state (after `components_`): "mean" and "scale" K
        finite numbers each, "floor" a number, "center_units" a bool (ValueError otherwise)."""
        if state.get("feature_stats_") is None:
            return
        name = "state.feature_stats_"
        stats = io.require_field(state, "feature_stats_", dict, "state")
        K = self.components_.shape[0]
        mean = io.json_numbers(stats, "mean", name, length=K)
        floor = io.require_field(stats, "floor", (int, float), name)
        if "std" in stats:  # written before log_variance: scaled to variance 1, not centred
            std = io.json_numbers(stats, "std", name, length=K)
            if np.any(std <= 0):
                raise ValueError(f"{name}.std must be > 0")
            scale, center_units = 1 / std, False
        else:
            scale = io.json_numbers(stats, "scale", name, length=K)
            center_units = io.require_field(stats, "center_units", bool, name)
        self.feature_stats_ = {"mean": mean, "scale": scale, "floor": floor,
                               "center_units": center_units}

    # ---------------------------------------------------------------- learning
    @staticmethod
    def _check_data(ell) -> tuple[np.ndarray, bool]:
        """(ℓ float64 (n_seq, T, K), flat): ℓ (n_samples, K), frames without time, is
        n_samples one-frame sequences (flat is then True); `check_sequences` checks it."""
        ell, flat = check_sequences(ell, "ell")
        return np.asarray(ell, dtype=np.float64), flat

    def _update(self, ell) -> None:
        B = self.components_
        V, info = infer_form(ell, B, max_iter=self.max_iter, tol=self.tol,
                             **self._energy_kwargs())
        N = ell.shape[0] * ell.shape[1]
        G = np.einsum("ntk,ntl->kl", ell - V @ B.T, V) / (N * self.noise_var)
        self._step(G, info["energy"] / N, info["n_iter"])

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, ell, y=None) -> FormUnits:
        """Learn B from ℓ (n_seq, T, K) (see `fit_features`)."""
        self._check_step_targets()
        return self._fit(self._check_data(ell)[0])

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, ell, y=None) -> FormUnits:
        """One update with all of ℓ as the batch."""
        self._check_step_targets()
        return self._partial_fit(self._check_data(ell)[0])

    def transform(self, ell) -> np.ndarray:
        """Form-unit activities V float64 (n_seq, T, L), or (n_samples, L) for ℓ (n_samples,
        K)."""
        self._check_fitted()
        ell, flat = self._check_data(ell)
        self._check_K(ell.shape[-1])
        V, _ = infer_form(ell, self.components_, max_iter=self.transform_max_iter,
                          tol=self.tol * 0.01, **self._energy_kwargs())
        return V[:, 0] if flat else V

    def inverse_transform(self, V) -> np.ndarray:
        """Predicted ℓ = V Bᵀ (n_seq, T, K), or (n_samples, K) for V (n_samples, L)."""
        self._check_fitted()
        return np.asarray(V, np.float64) @ self.components_.T

    def energy(self, ell, V) -> dict[str, float]:
        self._check_fitted()
        return energy_form(self._check_data(ell)[0], np.asarray(V, np.float64), self.components_,
                           **self._energy_kwargs())[1]
