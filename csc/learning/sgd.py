"""The paper's rule: gradient step on the dictionary with a step adapted to a target change."""
from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from csc.core.params import check_number
from csc.learning.normalize import normalize_units

#: what the step's target bounds: the largest single element of the change (the authors' code),
#: or the largest change of a whole unit relative to its norm
TARGET_MEASURES = ("element", "unit")


class SGDRule:
    """ΔW = Cᵀ (w ∘ E) / N (the negative energy gradient averaged over frames), W += η ΔW.

    η is adapted after each update so that the change it makes stays near a target: ×0.95 when the
    change exceeded the target, ×1.02 otherwise (Cadieu & Olshausen). The change is measured by
    `measure`: "element" (the authors' code: the largest |η ΔW_mk| over all elements) or "unit"
    (the largest ‖η ΔW_k‖ / ‖W_k‖ over units). The target is `targets[i]` once `i` of the
    `switch` fractions of the planned updates have passed (first layer, the paper: 0.05, then
    0.0125 for the last 20%; second layer, the authors' code: 0.03, 0.06 after 5 of 45 epochs,
    0.015 for the last 5). η starts where the first step meets the target.
    """

    def __init__(self, targets: tuple[float, ...] = (0.05, 0.0125),
                 switch: float | tuple[float, ...] = 0.8, measure: str = "element"):
        if measure not in TARGET_MEASURES:
            raise ValueError(f"unknown measure {measure!r}; choose one of {TARGET_MEASURES}")
        switches = (switch,) if np.ndim(switch) == 0 else tuple(switch)
        if len(switches) != len(targets) - 1 or list(switches) != sorted(switches):
            raise ValueError(f"{len(targets)} targets need {len(targets) - 1} increasing switch "
                             f"fractions, got {switch!r}")
        self.targets = tuple(targets)
        self.switch = switches
        self.measure = measure
        self.eta: float | None = None

    def target(self, progress: float) -> float:
        """The target after `progress` (in [0, 1]) of the planned updates."""
        return self.targets[sum(progress >= s for s in self.switch)]

    def _sizes(self, W: np.ndarray, dW: np.ndarray) -> float:
        """The largest element of |dW| ("element") or relative unit norm of dW ("unit")."""
        if self.measure == "element":
            return float(np.abs(dW).max())
        K = W.shape[0] // 2
        unit = np.sqrt(np.sum(W[:K] ** 2, 1) + np.sum(W[K:] ** 2, 1))
        rel = np.sqrt(np.sum(dW[:K] ** 2, 1) + np.sum(dW[K:] ** 2, 1)) / np.maximum(unit, 1e-12)
        return float(rel.max())

    def update(self, W: np.ndarray, dW: np.ndarray, progress: float) -> float:
        """One step in place. W float64 (2K, M); dW float64 (2K, M) = Cᵀ(w ∘ E)/N for codes C
        (N, 2K) and residual E = X − C W (N, M) (with measure "element", any W and dW of one
        shape); progress in [0, 1] of the planned updates. Returns the change made (in the
        rule's `measure`)."""
        target = self.target(progress)
        biggest = self._sizes(W, dW)
        if biggest == 0.0:
            return 0.0
        if self.eta is None:
            self.eta = target / biggest
        W += self.eta * dW
        change = self.eta * biggest
        self.eta *= 0.95 if change > target else 1.02
        return change

    @staticmethod
    def shard_sums(C, E, X, w, asnumpy) -> dict[str, np.ndarray]:
        """What a shard of codes C (N, 2K), residuals E = X − C W (N, M), frames X and weights
        w (M,) contributes to this rule's update: "grad" = Cᵀ(w∘E) (2K, M), on the host."""
        return {"grad": asnumpy(C.T @ (E * w))}

    def step(self, W: np.ndarray, sums: dict, n_rows: int, *, normalize: str, progress: float,
             flip: bool, require_finite) -> None:
        """The estimator's update of W float64 (2K, M), in place, from the summed `shard_sums`
        of `n_rows` frames: the gradient step (`update`), then the units normalised.
        require_finite(array, what) raises when an array is not finite."""
        dW = sums["grad"] / n_rows
        require_finite(dW, "the dictionary gradient Cᵀ(w∘E)/N")
        self.update(W, dW, progress)
        normalize_units(W, normalize, flip)

    def state(self) -> dict[str, Any]:
        return {"eta": self.eta}

    def set_state(self, state: dict[str, Any], shape: tuple[int, int] | None = None) -> None:
        """Resume from `state()` output: "eta", the step (None or absent before the first
        update), else a finite number > 0 (ValueError). `shape` (of the dictionary) is unused:
        the rule keeps no arrays."""
        eta = state.get("eta")
        if eta is not None:
            check_number(eta, "eta", Real, 0, include_min=False)
        self.eta = eta
