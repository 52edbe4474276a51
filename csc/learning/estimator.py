"""`ComplexSparseCoding`: the scikit-learn estimator (fit / partial_fit / transform)."""
from __future__ import annotations

import copy
import math
from numbers import Integral
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from csc import io
from csc.backends.backend import BACKENDS, get_backend, to_numpy
from csc.core.energy import energy_terms
from csc.core.fista import NumericRangeError, lipschitz_constant
from csc.core.inference import encode
from csc.core.model import check_codes, check_sequences, dictionary_from_real, reconstruct
from csc.core.params import NON_NEGATIVE, POSITIVE, SEED, check_number, integer_at_least
from csc.core.polar_inference import check_smooth_prior
from csc.learning import NORMALIZATIONS, RULES, TrainingDiverged, normalize_units
from csc.learning.shards import (
    INFERENCES,
    ShardStatistics,
    UpdatePlan,
    shard_bounds,
    shard_statistics,
    sum_statistics,
)
from csc.priors import PRIOR_KEYS, SLOWNESSES, SPARSITIES, Prior, make_prior

INITS = ("data", "random")


#: the parameters' types and ranges, checked by scikit-learn when learning starts; the prior's
#: own checks (`make_prior`: σ's float32 range, the sparsity/slowness pairs) come after
PARAMETER_CONSTRAINTS: dict[str, list] = {
    "n_components": integer_at_least(1),
    "sparsity": [StrOptions(set(SPARSITIES))],
    "lam": NON_NEGATIVE,
    "sigma": POSITIVE,
    "slowness": [StrOptions(set(SLOWNESSES))],
    "kappa": NON_NEGATIVE,
    "weights": [None, *POSITIVE, "array-like"],
    "learning": [StrOptions(set(RULES))],
    "normalize": [StrOptions(set(NORMALIZATIONS))],
    "init": [StrOptions(set(INITS))],
    "n_updates": integer_at_least(0),
    "batch_size": integer_at_least(1),
    "n_shards": integer_at_least(1),
    "max_iter": integer_at_least(1),
    "tol": NON_NEGATIVE,
    "transform_max_iter": integer_at_least(1),
    "transform_tol": NON_NEGATIVE,
    "random_state": SEED,
    "backend": [StrOptions(set(BACKENDS))],
    "inference": [StrOptions(set(INFERENCES))],
}
#: the columns of `history_` and the dtype each is stored as in a model file
HISTORY = {"energy": np.float64, "snr": np.float64, "active": np.float64, "n_iter": np.int64}


#: the parts of a pixel model (`PixelModel.to_arrays`), which a coder file must not hold
_PIXEL_MODEL_PARTS = ("whitener_", "layer_", "second_layer_prior")


@io.register("coder", foreign=_PIXEL_MODEL_PARTS)
class ComplexSparseCoding(TransformerMixin, BaseEstimator):
    """Learn a complex dictionary whose codes factor movies into amplitude and phase.

    Parameters are checked when learning starts (`fit`, `partial_fit`), as in scikit-learn;
    `get_params`, `set_params`, `sklearn.base.clone` and grid searches work as for any estimator.

    Parameters
    ----------
    n_components : int
        Number of complex units K.
    sparsity, lam, sigma, slowness, kappa, weights
        The prior (see `csc.priors.make_prior`).
    learning : {"sgd", "online"}
        "sgd": the paper's adaptive-step gradient; "online": Mairal et al.'s block descent.
    normalize : {"pair", "complex"}
        "pair": the paper's, R_k ⟂ I_k, both unit norm; "complex": ‖A_k‖ = 1.
    init : {"data", "random"}
        "data": each unit starts as two consecutive frames of a random sequence (under motion
        they are the same pattern phase-shifted, a natural quadrature pair); "random": Gaussian.
    n_updates : int
        Dictionary updates made by `fit`.
    batch_size : int
        Sequences per update.
    n_shards : int
        Shards the sequences of a batch are split into, each inferred on its own and their
        statistics added in order (`csc.learning.shards`; 1: the whole batch in one solve). The
        learned dictionary depends on it, not on where the shards run.
    max_iter, tol : int, float
        Inference per update.
    transform_max_iter, transform_tol : int, float
        Inference in `transform`.
    inference : {"fista", "fista-random", "paper"}
        How an update infers its codes (`csc.learning.shards.INFERENCES`): "fista" is csc's
        solver from zero codes, to `tol` or `max_iter`; "fista-random" the same from the
        authors' random start 0.2 (g + i g'); "paper" the authors' truncated polar
        Barzilai–Borwein descent from that start (`csc.core.polar_inference`; smooth priors
        only; `max_iter` 15 is theirs). `transform` always solves with FISTA from zero.
    random_state : int or None
        Seed.
    backend : {"auto", "cpu", "gpu"}
        Where the arrays live.

    Attributes
    ----------
    components_ : ndarray of complex64, shape (n_components, n_features)
        The learned dictionary.
    n_features_in_ : int
        M, the number of features.
    n_updates_ : int
        Updates made so far.
    history_ : dict of lists
        Per update: "energy" (per frame), "snr" (dB), "active" (fraction of amplitudes above
        1e-3 × the batch's largest), "n_iter" (inference iterations).

    Raises
    ------
    csc.learning.TrainingDiverged
        An update whose numbers stop being finite (float32 data scaled to ~1e18 and beyond);
        a ValueError. The model is left as it was before that update.
    """

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS

    def __init__(self, n_components: int = 128, *, sparsity: str = "l1", lam: float = 0.1,
                 sigma: float = 0.4, slowness: str = "none", kappa: float = 0.0, weights=None,
                 learning: str = "sgd", normalize: str = "pair", init: str = "data",
                 n_updates: int = 1000,
                 batch_size: int = 32, n_shards: int = 1, max_iter: int = 50, tol: float = 1e-3,
                 transform_max_iter: int = 200, transform_tol: float = 1e-4,
                 random_state: int | None = None, backend: str = "auto",
                 inference: str = "fista"):
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
        self.n_shards = n_shards
        self.max_iter = max_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.random_state = random_state
        self.backend = backend
        self.inference = inference

    # ----------------------------------------------------------------- parameters
    def prior(self) -> Prior:
        """The validated prior of this model."""
        return make_prior(**self._prior_kwargs())

    def _prior_kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PRIOR_KEYS}

    def _check_params(self) -> Prior:
        """Validate every parameter (`InvalidParameterError`, a ValueError, naming it): their
        types and ranges (`_parameter_constraints`, which `fit` and `partial_fit` check through
        scikit-learn's `_fit_context` already), then what depends on several of them. Returns
        the prior."""
        self._validate_params()
        return self._checked_prior()

    def _checked_prior(self) -> Prior:
        """The prior, checked as a whole (`make_prior`) and against the inference."""
        prior = self.prior()
        if self.inference == "paper":
            check_smooth_prior(prior)
        return prior

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # movies (n_sequences, n_frames, n_features)
        tags.transformer_tags.preserves_dtype = []  # codes are complex
        tags.non_deterministic = self.backend != "cpu"  # the GPU's sums vary; no probe here
        return tags

    # ----------------------------------------------------------------- learning
    def _initialize(self, X: np.ndarray) -> None:
        """Fresh learning state and a starting dictionary drawn from X (B, T, M)."""
        self.n_features_in_ = X.shape[-1]
        self._reset_state()
        K = self.n_components
        B, T, M = X.shape
        if self.init == "data":
            b = self._rng.integers(0, B, K)
            t = self._rng.integers(0, max(T - 1, 1), K)
            second = X[b, t + 1] if T > 1 else X[self._rng.integers(0, B, K), 0]
            W = np.concatenate([to_numpy(X[b, t]), to_numpy(second)]).astype(np.float64)
            # no zero/equal parts; the std in float64, as a float32 one overflows from ~1e18
            W += 1e-3 * float(X.std(dtype=np.float64)) * self._rng.standard_normal(W.shape)
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
        """scikit-learn's check and message, on the last axis (`validate_data` reads axis 1,
        which is the frames of a movie)."""
        if X.shape[-1] != self._W.shape[1]:
            raise ValueError(f"X has {X.shape[-1]} features, but {type(self).__name__} is "
                             f"expecting {self._W.shape[1]} features as input.")

    @property
    def n_iter_(self) -> int:
        """Dictionary updates made so far (scikit-learn's name for `n_updates_`)."""
        return self.n_updates_

    def _update(self, X, prior: Prior) -> None:
        """One dictionary update on the batch X (n_sequences, n_frames, n_features), a NumPy or
        (on the GPU backend) CuPy array, float32 or float64 (cast to float32 on the GPU, whose
        kernels are float32 only, as `encode` does), in `n_shards` shards of sequences solved
        one after the other (`csc.learning.shards`)."""
        dtype = np.float32 if get_backend(self.backend).name == "gpu" else X.dtype
        bounds = shard_bounds(X.shape[0], self.n_shards)
        self.update_from_shards(
            lambda plan: [shard_statistics(X[a:b], plan, i) for i, (a, b) in enumerate(bounds)],
            dtype, prior)

    def update_plan(self, dtype=np.float32, prior: Prior | None = None
                    ) -> tuple[UpdatePlan, np.ndarray]:
        """(plan, power vector) of the next update, for shards of data of `dtype` (the float
        type the shards compute in): the dictionary, the prior and the data term's curvature
        bound L, from a power iteration warm-started at the last update's vector."""
        prior = self.prior() if prior is None else prior
        w = prior.weight_vector(self._W.shape[1], np.dtype(dtype))
        L, power_vector = lipschitz_constant(self._W, w, self._power_vector,
                                             n_iter=30 if self._power_vector is None else 5)
        # the random starts of update n come from (random_state, n): the same on resuming, and
        # no draw from the model's RNG, so a failed update leaves the model as it was
        seed = None
        if self.inference != "fista":
            base = 0 if self.random_state is None else self.random_state
            seed = int(np.random.SeedSequence([base, self.n_updates_]).generate_state(1)[0])
        plan = UpdatePlan(self._W.astype(dtype), prior, L, self.max_iter, self.tol, self.learning,
                          self.backend, self.inference, seed)
        return plan, power_vector

    def update_from_shards(self, run_shards: Callable[[UpdatePlan], list[ShardStatistics]],
                           dtype=np.float32, prior: Prior | None = None) -> None:
        """One dictionary update whose shards `run_shards(plan)` computes (in-process, or on
        Dask workers: `csc.cluster`), returning their `ShardStatistics` in shard order; the
        shards' data are of `dtype`. Frames, codes and residuals stay where the shards ran;
        only (2K, M)-sized statistics reach the client, once per shard.
        The new dictionary, rule state and history entries are computed into copies and committed
        only when finite; otherwise TrainingDiverged, with the model as before this update."""
        prior = self._check_params() if prior is None else prior
        plan, power_vector = self.update_plan(dtype, prior)
        try:
            stats = sum_statistics(run_shards(plan))
        except NumericRangeError as exc:
            raise self._diverged(f"inference failed: {exc}") from exc
        W_new, rule = self._W.copy(), copy.deepcopy(self._rule)
        self._learn_step(stats, W_new, rule)
        self._require_finite(W_new, "the updated dictionary")
        record = self._history_record(stats)
        self._W, self._rule, self._power_vector = W_new, rule, power_vector
        self._sync_components()
        self.n_updates_ += 1
        for key, value in record.items():
            self.history_[key].append(value)

    def _learn_step(self, stats: ShardStatistics, W: np.ndarray, rule) -> None:
        """Apply the learning rule, in place, to W float64 (2K, M) and `rule` (the copies being
        prepared) from the batch's statistics. TrainingDiverged when they are not finite."""
        rule.step(W, stats.sums, stats.n_rows, normalize=self.normalize,
                  progress=self.n_updates_ / max(self.n_updates, 1),
                  flip=self.n_updates_ % 2 == 1, require_finite=self._require_finite)

    def _history_record(self, stats: ShardStatistics) -> dict[str, float]:
        """The history entries of one update from the batch's statistics; TrainingDiverged when
        one is not finite."""
        a = stats.amplitudes
        record = {"energy": stats.energy / stats.n_rows,
                  "snr": 10 * math.log10(max(stats.signal, 1e-300) / max(stats.error, 1e-300)),
                  "active": float(np.mean(a > 1e-3 * max(float(a.max()), 1e-30))),
                  "n_iter": stats.n_iter}
        bad = [key for key, value in record.items() if not math.isfinite(value)]
        if bad:
            raise self._diverged(f"the batch's {' and '.join(bad)} went non-finite")
        return record

    def _require_finite(self, a: np.ndarray, what: str) -> None:
        if not np.all(np.isfinite(a)):
            raise self._diverged(f"{what} went non-finite")

    def _diverged(self, reason: str) -> TrainingDiverged:
        if "went non-finite" in reason:
            reason += " (overflow: scale the data down, or use float64 data on the CPU)"
        return TrainingDiverged(f"dictionary update {self.n_updates_ + 1}: {reason}; the model is "
                                f"left as after update {self.n_updates_}")

    def _forget_fit(self) -> None:
        """Back to unfitted: drop everything `_initialize` set."""
        for name in ("_W", "components_", "n_features_in_", "_rng", "_rule", "_power_vector",
                     "n_updates_", "history_"):
            self.__dict__.pop(name, None)

    def sample_batch(self, X: np.ndarray) -> np.ndarray:
        """Draw `batch_size` sequences of X (with replacement only if X has fewer)."""
        n = X.shape[0]
        idx = self._rng.choice(n, size=self.batch_size, replace=n < self.batch_size)
        return X[np.sort(idx)]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> ComplexSparseCoding:
        """Learn from X float (n_sequences, n_frames, n_features), or (n_samples, n_features)
        for frames without time: `n_updates` updates on random batches of `batch_size`
        sequences, from a fresh random dictionary. On TrainingDiverged the model holds the
        updates made before the failing one."""
        prior = self._checked_prior()
        X, _ = check_sequences(X)
        self._initialize(X)
        for _ in range(self.n_updates):
            self._update(self.sample_batch(X), prior)
        return self

    def initialize(self, X) -> ComplexSparseCoding:
        """Validate the parameters and start from a fresh dictionary drawn from X float
        (n_sequences, n_frames, n_features), making no update: what `partial_fit` does before
        its first update, for runs whose updates come from `update_from_shards`."""
        self._check_params()
        X, _ = check_sequences(X)
        self._initialize(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None) -> ComplexSparseCoding:
        """One dictionary update with all of X (n_sequences, n_frames, n_features) as the batch.
        On TrainingDiverged the model is as before the call (unfitted if it was)."""
        prior = self._checked_prior()
        X, _ = check_sequences(X)
        fresh = not hasattr(self, "_W")
        if fresh:
            self._initialize(X)
        self._check_features(X)
        try:
            self._update(X, prior)
        except TrainingDiverged:
            if fresh:
                self._forget_fit()
            raise
        return self

    # ----------------------------------------------------------------- using a model
    def _check_fitted(self) -> None:
        """NotFittedError (a ValueError) before `fit` or `partial_fit`."""
        check_is_fitted(self, "components_")

    def encode(self, X, *, prior: dict | None = None, max_iter: int | None = None,
               tol: float | None = None, backend: str | None = None, init=None) -> np.ndarray:
        """Codes of X with settings of this call: complex64 (n_sequences, n_frames,
        n_components), or (n_samples, n_components) for X (n_samples, n_features).

        prior: keywords of `csc.priors.make_prior` replacing the model's, e.g.
        {"sparsity": "gauss", "lam": 8.0} for the codes the second layer learns from; max_iter,
        tol, backend: default `transform_max_iter`, `transform_tol`, `backend`; init: complex
        starting codes like the result (default zeros)."""
        self._check_fitted()
        X, flat = check_sequences(X)
        self._check_features(X)
        Z = encode(X, self.components_,
                   max_iter=self.transform_max_iter if max_iter is None else max_iter,
                   tol=self.transform_tol if tol is None else tol,
                   backend=self.backend if backend is None else backend,
                   init=init[:, None] if flat and init is not None else init,
                   **{**self._prior_kwargs(), **(prior or {})})
        return Z[:, 0] if flat else Z

    def transform(self, X) -> np.ndarray:
        """Codes of X under the model's own settings: complex64 (n_sequences, n_frames,
        n_components), or (n_samples, n_components) for X (n_samples, n_features). `encode`
        takes other settings for one call."""
        return self.encode(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Frames from codes: float32 (n_sequences, n_frames, n_features), or (n_samples,
        n_features) from codes (n_samples, n_components)."""
        self._check_fitted()
        if np.ndim(Z) == 2:
            return self.inverse_transform(np.asarray(Z)[:, None])[:, 0]
        Z = check_codes(Z, None, self.n_components)
        return reconstruct(Z.astype(np.complex64), self.components_)

    def score(self, X, y=None) -> float:
        """Negative mean energy per frame of X under its inferred codes (higher is better)."""
        X, _ = check_sequences(X)
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
