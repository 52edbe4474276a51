"""What motion and form units share: parameter checks, batches, the learning step, the slowness
gradient and serialisation."""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from csc import io
from csc.core.params import NON_NEGATIVE, POSITIVE, SEED, check_number, integer_at_least
from csc.learning.sgd import SGDRule

STEPS = ("adaptive", "adaptive-unit", "linear")
#: where the unit columns start: random (the paper's) or samples of the training data
INITS = ("random", "data")
#: the columns of `history_` and the dtype each is stored as in a model file
HISTORY = {"energy": np.float64, "n_iter": np.int64, "change": np.float64}
#: the authors' second-layer schedule: 5 epochs at the target, 35 at twice it, 5 at a quarter
#: of that (run_20.m): the targets' switch points as fractions of the updates
ADAPTIVE_SWITCH = (5 / 45, 40 / 45)


def time_diff_grad(W: np.ndarray) -> np.ndarray:
    """Gradient of ½ Σ_t ‖W_t − W_{t−1}‖² over W (n_seq, T, L)."""
    g = np.zeros_like(W)
    d = W[:, 1:] - W[:, :-1]
    g[:, 1:] += d
    g[:, :-1] -= d
    return g


def normalize_columns(D: np.ndarray) -> np.ndarray:
    """D (K, L) with unit-norm columns (zero columns stay zero)."""
    n = np.linalg.norm(D, axis=0)
    return D / np.where(n > 1e-12, n, 1.0)


class SecondLayerBase(BaseEstimator):
    """Shared machinery. Subclasses set `_KIND` (the model-file tag), add their parameters to
    `_parameter_constraints` and compute the gradient G (K, L) of ⟨log-likelihood⟩ per update
    for `_step`.

    Learning step (`step`): "adaptive" (the authors' code: D += η G, η adapted so that the
    largest |η G| stays near the target, `step_targets` over the schedule `ADAPTIVE_SWITCH`;
    `csc.learning.sgd.SGDRule`), "adaptive-unit" (the same rule with one η per unit column,
    adapted to that column's largest element: a unit whose gradient is small next to the
    strongest unit's still learns at the target rate) or "linear" (η = `learning_rate`, decayed
    linearly to η/10).

    Initial columns (`init`): "random" (Gaussian, the paper's) or "data" (`_data_columns`:
    samples of the training data, so that every unit starts where the data are).
    """

    _KIND = ""
    #: parameters that files written before they existed lack, with the behaviour of then
    _LEGACY: dict = {"step": "linear"}
    #: the shared parameters' types and ranges (subclasses add theirs), checked by
    #: scikit-learn's `_fit_context` in `fit` and `partial_fit`
    _parameter_constraints: dict = {
        "n_components": integer_at_least(1),
        "n_updates": integer_at_least(0),
        "batch_size": integer_at_least(1),
        "max_iter": integer_at_least(1),
        "transform_max_iter": integer_at_least(1),
        "learning_rate": POSITIVE,
        "slowness": NON_NEGATIVE,
        "tol": NON_NEGATIVE,
        "step": [StrOptions(set(STEPS))],
        "init": [StrOptions(set(INITS))],
        "step_targets": ["array-like"],
        "random_state": SEED,
    }

    def _check_params(self) -> None:
        """Check every hyper-parameter: `_parameter_constraints`, then `_check_step_targets`."""
        self._validate_params()
        self._check_step_targets()

    def _check_step_targets(self) -> None:
        """What the constraints cannot say: `step_targets` is 3 numbers > 0."""
        if len(self.step_targets) != 3:
            raise ValueError(f"step_targets must be 3 numbers, got {self.step_targets!r}")
        for t in self.step_targets:
            check_number(t, "step_targets", numbers.Real, 0, include_min=False)

    def _reset_state(self) -> None:
        self._rng = np.random.default_rng(self.random_state)
        self._rule = SGDRule(tuple(self.step_targets), ADAPTIVE_SWITCH, measure="element")
        self._unit_eta = None  # (L,) steps of "adaptive-unit", set at the first update
        self.n_updates_ = 0
        self.history_ = {k: [] for k in HISTORY}

    def _init_components(self, K: int, data: tuple[np.ndarray, ...] = ()) -> None:
        """Fresh learning state and the first columns: random, or (init="data" and `data`
        given) `_data_columns(*data)`, normalised, where they are not zero."""
        self._reset_state()
        self.components_ = normalize_columns(self._rng.standard_normal((K, self.n_components)))
        if self.init == "data" and data:  # a frame with nothing in it keeps the random column
            sampled = self._data_columns(*data)
            some = np.linalg.norm(sampled, axis=0) > 1e-12
            self.components_[:, some] = normalize_columns(sampled[:, some])

    def _data_columns(self, *data: np.ndarray) -> np.ndarray:
        """(K, L) columns drawn from the training data (subclasses)."""
        raise NotImplementedError

    def _sample_frames(self, n_frames: int) -> np.ndarray:
        """`n_components` distinct frame indices in [0, n_frames) (with repeats only when there
        are fewer frames than units)."""
        return self._rng.choice(n_frames, size=self.n_components,
                                replace=n_frames < self.n_components)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "components_", msg="this %(name)s is not fitted yet: call fit or "
                        "partial_fit")

    def _check_K(self, K: int) -> None:
        """scikit-learn's check and message: the input's first-layer units are its features."""
        if K != self.components_.shape[0]:
            raise ValueError(f"X has {K} features, but {type(self).__name__} is expecting "
                             f"{self.components_.shape[0]} features as input.")

    @property
    def n_features_in_(self) -> int:
        """First-layer units K, the features of the input (scikit-learn's name)."""
        check_is_fitted(self, "components_")
        return self.components_.shape[0]

    @property
    def n_iter_(self) -> int:
        """Updates made so far (scikit-learn's name for `n_updates_`)."""
        return self.n_updates_

    def _batch_indices(self, n: int) -> np.ndarray:
        return np.sort(self._rng.choice(n, size=self.batch_size, replace=n < self.batch_size))

    def _fit(self, *data: np.ndarray):
        """`n_updates` updates on random batches of checked arrays `data` (sequences first, units
        last; the subclass's `_update` takes them), from random unit columns."""
        self._init_components(data[0].shape[-1], data)
        for _ in range(self.n_updates):
            idx = self._batch_indices(data[0].shape[0])
            self._update(*(d[idx] for d in data))
        return self

    def _partial_fit(self, *data: np.ndarray):
        """One update with all of `data` as the batch (random unit columns on the first call)."""
        if not hasattr(self, "components_"):
            self._init_components(data[0].shape[-1], data)
        self._check_K(data[0].shape[-1])
        self._update(*data)
        return self

    def _step(self, G: np.ndarray, energy: float, n_iter: int) -> None:
        """D += step · G, columns renormalised; records the history."""
        D = self.components_
        progress = min(self.n_updates_ / max(self.n_updates, 1), 1.0)
        D_new = D.copy()
        if self.step == "adaptive":
            self._rule.update(D_new, G, progress)
        elif self.step == "adaptive-unit":
            target = self._rule.target(progress)
            biggest = np.abs(G).max(axis=0)
            if self._unit_eta is None and biggest.max() > 0:
                # each column starts at its target; one with no gradient yet at the global step
                self._unit_eta = target / np.where(biggest > 0, biggest, biggest.max())
            if self._unit_eta is not None:
                D_new += self._unit_eta * G
                self._unit_eta *= np.where(self._unit_eta * biggest > target, 0.95, 1.02)
        else:
            D_new += self.learning_rate * (1.0 - 0.9 * progress) * G
        D_new = normalize_columns(D_new)
        self.history_["energy"].append(energy)
        self.history_["n_iter"].append(n_iter)
        self.history_["change"].append(float(np.linalg.norm(D_new - D) / np.linalg.norm(D)))
        self.components_ = D_new
        self.n_updates_ += 1

    # ---------------------------------------------------------------- serialisation
    def _extra_state(self) -> dict:
        """Subclass state beyond the components, JSON-able (see `_set_extra_state`)."""
        return {}

    def _set_extra_state(self, state: dict) -> None:
        pass

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no objects): "kind", "params" (JSON of `get_params()`) and "state" (JSON
        strings), "components" float64 (K, L) and the learning history ("history_energy",
        "history_change" float64, "history_n_iter" int64, (n_updates_,) each). `from_arrays`
        rebuilds the estimator, learning state included."""
        self._check_fitted()
        state = {"n_updates_": self.n_updates_, "rng": self._rng.bit_generator.state,
                 "rule": self._rule.state(), **self._extra_state()}
        if self._unit_eta is not None:
            state["unit_eta"] = self._unit_eta.tolist()
        return {"kind": np.array(self._KIND), "params": io.json_array(self.get_params()),
                "state": io.json_array(state),
                "components": np.asarray(self.components_, np.float64),
                **io.history_arrays(self.history_, HISTORY)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_units: int | None = None):
        """Rebuild the estimator from `to_arrays` output, learning state included (also from
        files without a state, with parameters added since, or with the history in the JSON
        state). n_units: the first-layer units K the components must have, when known.
        ValueError, starting with the name of the array at fault, for another kind, parameters
        `fit` would refuse, components that are not finite floats (K, n_components), or a state
        that is not one."""
        kind = io.require_scalar(arrays, "kind", "U") if "kind" in arrays else cls._KIND
        if kind != cls._KIND:
            raise ValueError(f"kind {kind!r}: the arrays of a {kind!r} model, not {cls._KIND!r}")
        params = {**cls._LEGACY, **io.require_json(arrays, "params")}
        io.require_kwargs(params, cls, "params")
        if "step_targets" in params:  # JSON has no tuples
            params["step_targets"] = tuple(io.require_field(params, "step_targets", list,
                                                            "params"))
        model = cls(**params)
        with io.in_part("params: "):
            model._check_params()
        model._reset_state()
        D = io.require_array(arrays, "components", "f", (n_units, model.n_components))
        if D.shape[0] == 0:
            raise ValueError(f"components has shape {D.shape}: no first-layer units")
        model.components_ = np.array(D, dtype=np.float64)
        if "state" in arrays:
            state = io.require_json(arrays, "state")
            model.n_updates_ = check_number(io.require_field(state, "n_updates_", int, "state"),
                                            "state.n_updates_", numbers.Integral, 0)
            model.history_ = io.read_history(arrays, state, HISTORY)
            io.restore_rng(model._rng, io.require_field(state, "rng", dict, "state"),
                           "state.rng")
            rule = io.require_field(state, "rule", dict, "state") if "rule" in state else {}
            with io.in_part("state.rule."):
                model._rule.set_state(rule)
            if "unit_eta" in state:
                eta = np.asarray(io.require_field(state, "unit_eta", list, "state"), np.float64)
                if eta.shape != (model.n_components,) or not np.all(np.isfinite(eta) & (eta > 0)):
                    raise ValueError(f"state.unit_eta must be {model.n_components} finite "
                                     f"numbers > 0")
                model._unit_eta = eta
            model._set_extra_state(state)
        return model
