"""`ComplexSparseCoding`: the scikit-learn estimator (fit / partial_fit / transform)."""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from csc import io
from csc.backends.backend import BACKENDS, get_backend, to_numpy
from csc.core.energy import energy_terms
from csc.core.inference import encode, fista, lipschitz_constant
from csc.core.model import check_codes, check_data, dictionary_from_real, reconstruct
from csc.core.params import check_number
from csc.core.priors import PRIOR_KEYS, Prior, make_prior
from csc.learning import NORMALIZATIONS, RULES, normalize_units

INITS = ("data", "random")
#: integer parameters and their smallest allowed value
_INT_PARAMS = {"n_components": 1, "n_updates": 0, "batch_size": 1, "max_iter": 1,
               "transform_max_iter": 1}
#: (parameter, allowed values) of the string parameters
_CHOICES = {"learning": tuple(RULES), "normalize": NORMALIZATIONS, "init": INITS,
            "backend": BACKENDS}
#: the columns of `history_` and the dtype each is stored as in a model file
HISTORY = {"energy": np.float64, "snr": np.float64, "active": np.float64, "n_iter": np.int64}


@io.register("coder")
class ComplexSparseCoding(TransformerMixin, BaseEstimator):
    """Learn a complex dictionary whose codes factor movies into amplitude and phase.

    Parameters
    ----------
    n_components: number of complex units K.
    sparsity, lam, sigma, slowness, kappa, weights: the prior (see `csc.core.priors.make_prior`).
    learning: "sgd" (the paper's adaptive-step gradient) or "online" (Mairal et al. block descent).
    normalize: "pair" (the paper's: R_k ⟂ I_k, both unit norm) or "complex" (‖A_k‖ = 1).
    init: "data" (each unit starts as two consecutive frames of a random sequence: under motion
    they are the same pattern phase-shifted, a natural quadrature pair) or "random" (Gaussian).
    n_updates: dictionary updates made by `fit`; batch_size: sequences per update.
    max_iter, tol: inference per update; transform_max_iter, transform_tol: for `transform`.
    random_state: seed (int) or None; backend: "auto" | "cpu" | "gpu".
    Parameters are checked when learning starts (`fit`, `partial_fit`), as in scikit-learn;
    `get_params`, `set_params`, `sklearn.base.clone` and grid searches work as for any estimator.

    Learned attributes
    ------------------
    components_: complex64 (n_components, n_features); n_features_in_: M; n_updates_: updates
    made so far;
    history_: dict of per-update lists "energy" (per frame), "snr" (dB), "active" (fraction of
    amplitudes above 1e-3 × the batch's largest), "n_iter" (inference iterations).
    """

    def __init__(self, n_components: int, *, sparsity: str = "l1", lam: float = 0.1,
                 sigma: float = 0.4, slowness: str = "none", kappa: float = 0.0, weights=None,
                 learning: str = "sgd", normalize: str = "pair", init: str = "data",
                 n_updates: int = 1000,
                 batch_size: int = 32, max_iter: int = 50, tol: float = 1e-3,
                 transform_max_iter: int = 200, transform_tol: float = 1e-4,
                 random_state: int | None = None, backend: str = "auto"):
        self.n_components = n_components
        self.sparsity = sparsity
        self.lam = lam
        self.sigma = sigma
        self.slowness = slowness
        self.kappa = kappa
        self.weights = weights
        self.learning = learning
        self.normalize = normalize
        self.init = init
        self.n_updates = n_updates
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.random_state = random_state
        self.backend = backend

    # ----------------------------------------------------------------- parameters
    def prior(self) -> Prior:
        """The validated prior of this model."""
        return make_prior(**self._prior_kwargs())

    def _prior_kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PRIOR_KEYS}

    def _check_params(self) -> Prior:
        """Validate every parameter (ValueError naming it); returns the prior."""
        for name, minimum in _INT_PARAMS.items():
            check_number(getattr(self, name), name, Integral, minimum)
        for name in ("tol", "transform_tol"):
            check_number(getattr(self, name), name, Real, 0.0)
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; choose one of "
                                 f"{tuple(choices)}")
        return self.prior()

    # ----------------------------------------------------------------- learning
    def _initialize(self, X: np.ndarray) -> None:
        """Fresh learning state and a starting dictionary drawn from X (B, T, M)."""
        self._reset_state()
        K = self.n_components
        B, T, M = X.shape
        if self.init == "data":
            b = self._rng.integers(0, B, K)
            t = self._rng.integers(0, max(T - 1, 1), K)
            second = X[b, t + 1] if T > 1 else X[self._rng.integers(0, B, K), 0]
            W = np.concatenate([to_numpy(X[b, t]), to_numpy(second)]).astype(np.float64)
            W += 1e-3 * float(X.std()) * self._rng.standard_normal(W.shape)  # no zero/equal parts
        else:
            W = self._rng.standard_normal((2 * K, M))
        normalize_units(W, self.normalize)
        self._set_dictionary(W)

    def _reset_state(self) -> None:
        """RNG, learning rule, counters and history as before any update."""
        self._rng = np.random.default_rng(self.random_state)
        self._rule = RULES[self.learning]()
        self._power_vector = None
        self.n_updates_ = 0
        self.history_ = {k: [] for k in HISTORY}

    def _set_dictionary(self, W: np.ndarray) -> None:
        """Take the real-form dictionary W float64 (2K, M) and refresh `components_`."""
        self._W = W
        self._sync_components()

    def _sync_components(self) -> None:
        self.components_ = dictionary_from_real(self._W.astype(np.float32))

    def _check_features(self, X: np.ndarray) -> None:
        if X.shape[-1] != self._W.shape[1]:
            raise ValueError(f"X has {X.shape[-1]} features but the model was fitted with "
                             f"{self._W.shape[1]}")

    def _update(self, X, prior: Prior) -> None:
        """One dictionary update on the batch X (n_sequences, n_frames, n_features), a NumPy or
        (on the GPU backend) CuPy array. Frames, codes and residuals stay on the backend's device;
        only (2K, M)-sized statistics reach the host, once per update."""
        be = get_backend(self.backend)
        xp = be.xp
        B, T, M = X.shape
        Xf = be.asarray(X).reshape(B * T, M)
        w = prior.weight_vector(M, X.dtype)
        L, self._power_vector = lipschitz_constant(self._W, w, self._power_vector,
                                                   n_iter=30 if self._power_vector is None else 5)
        if prior.slowness == "l2":
            L += 4.0 * prior.kappa
        W, wd = be.asarray(self._W.astype(X.dtype)), be.asarray(w)
        C0 = xp.zeros((B * T, W.shape[0]), dtype=X.dtype)
        C, info = fista(Xf, W, wd, prior, T, C0, L, self.max_iter, self.tol, be)
        E = Xf - C @ W
        N = B * T
        flip = self.n_updates_ % 2 == 1
        if self.learning == "sgd":
            step = be.asnumpy(C.T @ (E * wd)).astype(np.float64) / N
            self._rule.update(self._W, step, self.n_updates_ / max(self.n_updates, 1))
            normalize_units(self._W, self.normalize, flip)
        else:
            CtC = be.asnumpy(C.T @ C).astype(np.float64) / N
            CtX = be.asnumpy(C.T @ Xf).astype(np.float64) / N
            self._rule.update(self._W, CtC, CtX, self.normalize, flip)
        self._sync_components()
        self.n_updates_ += 1
        K = W.shape[0] // 2
        a = xp.hypot(C[:, :K], C[:, K:])
        signal = float(xp.sum((Xf.astype(np.float64) ** 2) @ wd.astype(np.float64)))
        err = float(xp.sum((E.astype(np.float64) ** 2) @ wd.astype(np.float64)))
        self.history_["energy"].append(info.energies[-1] / N)
        self.history_["snr"].append(10 * math.log10(max(signal, 1e-300) / max(err, 1e-300)))
        self.history_["active"].append(float(xp.mean(a > 1e-3 * max(float(a.max()), 1e-30))))
        self.history_["n_iter"].append(info.n_iter)

    def sample_batch(self, X: np.ndarray) -> np.ndarray:
        """Draw `batch_size` sequences of X (with replacement only if X has fewer)."""
        n = X.shape[0]
        idx = self._rng.choice(n, size=self.batch_size, replace=n < self.batch_size)
        return X[np.sort(idx)]

    def fit(self, X, y=None) -> ComplexSparseCoding:
        """Learn from X float (n_sequences, n_frames, n_features): `n_updates` updates on random
        batches of `batch_size` sequences, from a fresh random dictionary."""
        prior = self._check_params()
        X = check_data(X)
        self.n_features_in_ = X.shape[-1]
        self._initialize(X)
        for _ in range(self.n_updates):
            self._update(self.sample_batch(X), prior)
        return self

    def partial_fit(self, X, y=None) -> ComplexSparseCoding:
        """One dictionary update with all of X (n_sequences, n_frames, n_features) as the batch."""
        prior = self._check_params()
        X = check_data(X)
        if not hasattr(self, "_W"):
            self.n_features_in_ = X.shape[-1]
            self._initialize(X)
        self._check_features(X)
        self._update(X, prior)
        return self

    # ----------------------------------------------------------------- using a model
    def _check_fitted(self) -> None:
        """NotFittedError (a ValueError) before `fit` or `partial_fit`."""
        check_is_fitted(self, "components_")

    def transform(self, X, **prior) -> np.ndarray:
        """Codes of X: complex64 (n_sequences, n_frames, n_components). Prior keywords given
        (`csc.core.priors.make_prior`) replace the model's for this call, e.g.
        sparsity="gauss", lam=8.0 for the codes the second layer learns from."""
        self._check_fitted()
        X = check_data(X)
        self._check_features(X)
        return encode(X, self.components_, max_iter=self.transform_max_iter,
                      tol=self.transform_tol, backend=self.backend,
                      **{**self._prior_kwargs(), **prior})

    def inverse_transform(self, Z) -> np.ndarray:
        """Frames from codes: float32 (n_sequences, n_frames, n_features)."""
        self._check_fitted()
        Z = check_codes(Z, None, self.n_components)
        return reconstruct(Z.astype(np.complex64), self.components_)

    def score(self, X, y=None) -> float:
        """Negative mean energy per frame of X under its inferred codes (higher is better)."""
        X = check_data(X)
        Z = self.transform(X)
        e = energy_terms(X, Z, self.components_, self.prior())
        return -e["total"] / (X.shape[0] * X.shape[1])

    # ----------------------------------------------------------------- persistence
    def to_arrays(self, history: bool = True) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays: "params" and "state" (JSON: updates made, RNG state,
        learning-rule scalars), "W" (the real-form dictionary, float64 (2K, M)), "power_vector"
        float64 (2K,) (if any), the learning rule's arrays ("rule_*") and, with `history`, the
        learning history: "history_energy", "history_snr", "history_active" float64 and
        "history_n_iter" int64, (n,) each (n = the updates recorded in `history_`). Everything
        needed to continue learning exactly where it stopped; `from_arrays` rebuilds it (with
        an empty history when saved without)."""
        self._check_fitted()
        rule_state = self._rule.state()
        params = self.get_params()
        if isinstance(params["weights"], np.ndarray):
            params["weights"] = params["weights"].tolist()
        state = {"n_updates_": self.n_updates_, "rng": self._rng.bit_generator.state,
                 "rule": {k: v for k, v in rule_state.items()
                          if not isinstance(v, np.ndarray) and v is not None}}
        arrays = {"params": io.json_array(params), "state": io.json_array(state), "W": self._W}
        arrays.update(io.with_prefix("rule_", {k: v for k, v in rule_state.items()
                                               if isinstance(v, np.ndarray)}))
        if self._power_vector is not None:
            arrays["power_vector"] = self._power_vector
        if history:
            arrays.update(io.history_arrays(self.history_, HISTORY))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ComplexSparseCoding:
        """Rebuild a model from `to_arrays` output (learning state included), or from a file of
        format 1 or 2 (history in the JSON state). Raises ValueError, starting with the name of
        the array at fault, for parameters `fit` would refuse, an array missing, of the wrong
        dtype kind or shape (W (2K, M) with K = n_components; power_vector (2K,); the rule's
        arrays and the weights fitting W), NaN or Inf, or a state that is not one."""
        params = io.require_json(arrays, "params")
        state = io.require_json(arrays, "state")
        io.require_kwargs(params, cls, "params")
        model = cls(**params)
        K = model.n_components
        with io.in_part("params: "):
            model._check_params()
            if model.random_state is not None:
                check_number(model.random_state, "random_state", Integral, 0)
        W = io.require_array(arrays, "W", "f", (2 * K, None))
        if W.shape[1] == 0:
            raise ValueError(f"W has shape {W.shape}: no features")
        with io.in_part("params: "):
            model.prior().weight_vector(W.shape[1])
        model._reset_state()
        model._set_dictionary(W.astype(np.float64))
        model.n_features_in_ = W.shape[1]
        model.n_updates_ = check_number(io.require_field(state, "n_updates_", int, "state"),
                                        "state.n_updates_", Integral, 0)
        model.history_ = io.read_history(arrays, state, HISTORY)
        io.restore_rng(model._rng, io.require_field(state, "rng", dict, "state"), "state.rng")
        if "power_vector" in arrays:
            model._power_vector = io.require_array(arrays, "power_vector", "f", (2 * K,))
        rule_state = {**io.require_field(state, "rule", dict, "state"),
                      **io.strip_prefix("rule_", arrays)}
        with io.in_part("learning rule state: "):
            model._rule.set_state(rule_state, W.shape)
        return model

    def save(self, path, history: bool = True) -> None:
        """Write the model (parameters, dictionary and learning state; its learning history if
        `history`) to `path` atomically."""
        io.save(path, "coder", self.to_arrays(history))
