"""`ComplexSparseCoding`: the scikit-learn style estimator (fit / partial_fit / transform)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from csc.backends.backend import BACKENDS, get_backend, to_numpy
from csc.core.energy import energy_terms
from csc.core.inference import encode, fista, lipschitz_constant
from csc.learning import NORMALIZATIONS, RULES, normalize_units
from csc.core.model import check_codes, check_data, dictionary_from_real, reconstruct
from csc.core.priors import Prior, make_prior

INITS = ("data", "random")
_PARAM_NAMES = ("n_components", "sparsity", "lam", "sigma", "slowness", "kappa", "weights",
                "learning", "normalize", "init", "n_updates", "batch_size", "max_iter", "tol",
                "transform_max_iter", "transform_tol", "random_state", "backend")


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class ComplexSparseCoding:
    """Learn a complex dictionary whose codes factor movies into amplitude and phase.

    Parameters
    ----------
    n_components: number of complex units K.
    sparsity, lam, sigma, slowness, kappa, weights: the prior (see `csc.priors.make_prior`).
    learning: "sgd" (the paper's adaptive-step gradient) or "online" (Mairal et al. block descent).
    normalize: "pair" (the paper's: R_k ⟂ I_k, both unit norm) or "complex" (‖A_k‖ = 1).
    init: "data" (each unit starts as two consecutive frames of a random sequence: under motion
    they are the same pattern phase-shifted, a natural quadrature pair) or "random" (Gaussian).
    n_updates: dictionary updates made by `fit`; batch_size: sequences per update.
    max_iter, tol: inference per update; transform_max_iter, transform_tol: for `transform`.
    random_state: seed (int) or None; backend: "auto" | "cpu" | "gpu".

    Learned attributes
    ------------------
    components_: complex64 (n_components, n_features); n_updates_: updates made so far;
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
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as a dict."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def prior(self) -> Prior:
        """The validated prior of this model."""
        return make_prior(self.sparsity, self.lam, self.sigma, self.slowness, self.kappa,
                          self.weights)

    def _prior_kwargs(self) -> dict[str, Any]:
        return dict(sparsity=self.sparsity, lam=self.lam, sigma=self.sigma,
                    slowness=self.slowness, kappa=self.kappa, weights=self.weights)

    def _validate_params(self) -> Prior:
        _check_int("n_components", self.n_components, 1)
        _check_int("n_updates", self.n_updates, 0)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("max_iter", self.max_iter, 1)
        _check_int("transform_max_iter", self.transform_max_iter, 1)
        for name in ("tol", "transform_tol"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.learning not in RULES:
            raise ValueError(f"unknown learning {self.learning!r}; choose one of {tuple(RULES)}")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"unknown normalize {self.normalize!r}; choose one of "
                             f"{NORMALIZATIONS}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose one of {INITS}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {BACKENDS}")
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
        self.history_ = {"energy": [], "snr": [], "active": [], "n_iter": []}

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

    def fit(self, X, y=None) -> "ComplexSparseCoding":
        """Learn from X float (n_sequences, n_frames, n_features): `n_updates` updates on random
        batches of `batch_size` sequences, from a fresh random dictionary."""
        prior = self._validate_params()
        X = check_data(X)
        self._initialize(X)
        for _ in range(self.n_updates):
            self._update(self.sample_batch(X), prior)
        return self

    def partial_fit(self, X, y=None) -> "ComplexSparseCoding":
        """One dictionary update with all of X (n_sequences, n_frames, n_features) as the batch."""
        prior = self._validate_params()
        X = check_data(X)
        if not hasattr(self, "_W"):
            self._initialize(X)
        self._check_features(X)
        self._update(X, prior)
        return self

    # ----------------------------------------------------------------- using a model
    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise ValueError("this ComplexSparseCoding is not fitted yet: call fit or partial_fit")

    def transform(self, X) -> np.ndarray:
        """Codes of X: complex64 (n_sequences, n_frames, n_components)."""
        self._check_fitted()
        X = check_data(X)
        self._check_features(X)
        return encode(X, self.components_, max_iter=self.transform_max_iter,
                      tol=self.transform_tol, backend=self.backend, **self._prior_kwargs())

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
    def save(self, path) -> None:
        """Write the model (parameters, dictionary and learning state) to `path` atomically."""
        from csc.io import save_model

        self._check_fitted()
        save_model(self, path)
