"""Motion units (Cadieu & Olshausen 2012 §5, docs/design.md §5): a dictionary D_m (K, L) of
phase-velocity patterns.

With δ (n_seq, T−1, K) the first-layer phase velocities, `mask` their weights (1 where both
amplitudes exceed the threshold) and r = δ − W D_mᵀ:

    E(W) = κ Σ mask·(1 − cos r) + β Σ log(1 + (W/s)²) + c Σ_t ‖W_t − W_{t−1}‖²,

κ = `kappa_vm` (4 = 1/0.25, the authors' phase noise variance), β = 0.5 and s = `prior_scale`
(0.2236), c = `slowness` (5/2: the authors' ½ · 5). Inference minimises E over W (n_seq, T−1, L)
by L-BFGS from W = 0; learning takes D_m += η ⟨mask·sin(r) Wᵀ⟩ and renormalises its columns.
"""
from __future__ import annotations

import numbers

import numpy as np
from scipy.optimize import minimize
from sklearn.base import _fit_context

from csc.core.params import NON_NEGATIVE, POSITIVE, check_number
from csc.core.phases import phase_velocity
from csc.second_layer.base import SecondLayerBase, time_diff_grad

#: the authors' absolute amplitude threshold for a phase velocity to count (p.phasetrans.a_thresh
#: in init.m; their init_phasetrans.m then replaces it by the `PAPER_ON_FRACTION` quantile)
PAPER_THRESHOLD = 0.2
#: the share of the training codes' amplitudes above the threshold (p.phasetrans.a_on_fraction)
PAPER_ON_FRACTION = 0.25


def on_fraction_threshold(Z, fraction: float = PAPER_ON_FRACTION) -> float:
    """The amplitude that `fraction` of the amplitudes of codes Z (complex, any shape) exceed:
    the authors' threshold (init_phasetrans.m), computed once on the training codes and then
    used as an absolute `threshold` for them and for new codes."""
    check_number(fraction, "fraction", numbers.Real, 0, include_min=False)
    if fraction > 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return float(np.quantile(np.abs(np.asarray(Z)), 1 - fraction))


def check_mask(mask, shape) -> np.ndarray:
    """mask as float64 weights of `shape` (None: all ones)."""
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
    mask = check_mask(mask, delta.shape)
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
        + 2 * slowness * time_diff_grad(W)
    return E, terms, g


def infer_motion(delta, mask, D, *, kappa_vm=4.0, prior_scale=0.2236, slowness=2.5,
                 max_iter=100, tol=1e-6, W0=None) -> tuple[np.ndarray, dict]:
    """Minimise the motion energy over W by L-BFGS (from W0, default 0). Returns W and
    {"energy", "n_iter", "grad_norm"} (RMS gradient)."""
    delta = np.asarray(delta, np.float64)
    mask = check_mask(mask, delta.shape)
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


class MotionUnits(SecondLayerBase):
    """Motion units: a dictionary D_m (K, L) of phase-velocity patterns.

    Not a scikit-learn `TransformerMixin`: `transform` needs the mask as well as δ, and the
    mixin's `fit_transform(X, y)` would pass the mask to fit only.

    Parameters
    ----------
    n_components : int
        Number of motion units L (the paper: 100).
    threshold : float or None
        Amplitude both frames must exceed for a phase velocity to count (`features`): a number
        is absolute, for every unit (the paper: 0.2); None is per unit, 0.1 × the unit's
        largest amplitude in the codes at hand (`phases.phase_velocity`'s default).
    kappa_vm : float
        Von Mises concentration κ of the phase-velocity likelihood (4).
    prior_scale : float
        Scale s of the Cauchy-like prior ½ log(1 + (w/s)²) (0.2236).
    slowness : float
        c of c Σ_t ‖w_t − w_{t−1}‖² (5/2).
    step, step_targets, learning_rate
        The learning step (`SecondLayerBase`): "adaptive" with targets (0.03, 0.06, 0.015) on
        the largest element of the change (the authors'), "adaptive-unit" (the same targets,
        one step per unit) or "linear" from `learning_rate`.
    init : {"random", "data"}
        The first columns: "random" (the paper's) or "data" (masked phase velocities of random
        frame transitions of the training data).
    n_updates, batch_size : int
        Learning updates made by `fit` and sequences per update.
    max_iter, tol, transform_max_iter
        L-BFGS iterations / gradient tolerance per update; iterations in `transform`.
    random_state : int or None
        A seed ≥ 0.

    Attributes
    ----------
    components_ : ndarray of float64, shape (K, L)
        Unit columns.
    n_updates_ : int
        Updates made so far.
    history_ : dict of lists
        Per update: "energy" per frame, "n_iter", "change" (relative change of D_m).
    """

    _KIND = "motion_units"
    _parameter_constraints: dict = {**SecondLayerBase._parameter_constraints,
                                    "threshold": [None, *NON_NEGATIVE], "kappa_vm": POSITIVE,
                                    "prior_scale": POSITIVE}
    _LEGACY = {"step": "linear", "threshold": None}

    def __init__(self, n_components: int = 100, *, threshold: float | None = PAPER_THRESHOLD,
                 kappa_vm: float = 4.0, prior_scale: float = 0.2236, slowness: float = 2.5,
                 step: str = "adaptive", step_targets: tuple = (0.03, 0.06, 0.015),
                 learning_rate: float = 1.0, init: str = "random", n_updates: int = 1000,
                 batch_size: int = 32,
                 max_iter: int = 50, tol: float = 1e-5, transform_max_iter: int = 200,
                 random_state: int | None = None):
        self.n_components = n_components
        self.threshold = threshold
        self.kappa_vm = kappa_vm
        self.prior_scale = prior_scale
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
        return dict(kappa_vm=self.kappa_vm, prior_scale=self.prior_scale,
                    slowness=self.slowness)

    def _data_columns(self, delta, mask) -> np.ndarray:
        """Masked phase velocities mask·δ (K,) of `n_components` random frame transitions."""
        flat = (delta * mask).reshape(-1, delta.shape[-1])
        return flat[self._sample_frames(len(flat))].T

    def features(self, Z) -> tuple[np.ndarray, np.ndarray]:
        """(δ float (n_seq, T−1, K), mask bool) of first-layer codes Z (n_seq, T, K), with this
        model's `threshold` (`phases.phase_velocity`)."""
        return phase_velocity(Z, threshold=self.threshold)

    @staticmethod
    def _check_data(delta, mask) -> tuple[np.ndarray, np.ndarray]:
        delta = np.asarray(delta, dtype=np.float64)
        if delta.ndim != 3:
            raise ValueError(f"delta must be (n_seq, T-1, K), got shape {delta.shape}")
        if not np.all(np.isfinite(delta)):
            raise ValueError("delta has non-finite values")
        return delta, check_mask(mask, delta.shape)

    def _update(self, delta, mask) -> None:
        D = self.components_
        W, info = infer_motion(delta, mask, D, max_iter=self.max_iter, tol=self.tol,
                               **self._energy_kwargs())
        N = delta.shape[0] * delta.shape[1]
        G = np.einsum("ntk,ntl->kl", mask * np.sin(delta - W @ D.T), W) / N
        self._step(G, info["energy"] / N, info["n_iter"])

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, delta, mask=None) -> MotionUnits:
        """Learn D_m from δ (n_seq, T−1, K) and mask (same shape, bool or weights; None = all
        ones): `n_updates` updates on random batches, from random unit columns."""
        self._check_step_targets()
        return self._fit(*self._check_data(delta, mask))

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, delta, mask=None) -> MotionUnits:
        """One update with all of δ as the batch."""
        self._check_step_targets()
        return self._partial_fit(*self._check_data(delta, mask))

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
