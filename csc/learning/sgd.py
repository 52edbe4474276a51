"""The paper's rule: gradient step on the dictionary with a step adapted to a target change."""
from __future__ import annotations

from typing import Any

import numpy as np


class SGDRule:
    """ΔW = Cᵀ (w ∘ E) / N (the negative energy gradient averaged over frames), W += η ΔW.

    η is adapted after each update toward a target largest relative unit change (max over units of
    ‖ηΔW_k‖/‖W_k‖): ×0.95 when it was exceeded, ×1.02 otherwise (Cadieu & Olshausen). The target is
    `targets[0]` for the first `switch` fraction of the planned updates and `targets[1]` after.
    """

    def __init__(self, targets: tuple[float, float] = (0.05, 0.0125), switch: float = 0.5):
        self.targets = targets
        self.switch = switch
        self.eta: float | None = None

    def update(self, W: np.ndarray, dW: np.ndarray, progress: float) -> float:
        """One step in place. W float64 (2K, M); dW float64 (2K, M) = Cᵀ(w ∘ E)/N for codes C
        (N, 2K) and residual E = X − C W (N, M); progress in [0, 1] of the planned updates.
        Returns the largest relative unit change made."""
        K = W.shape[0] // 2
        unit = np.sqrt(np.sum(W[:K] ** 2, 1) + np.sum(W[K:] ** 2, 1))
        rel = np.sqrt(np.sum(dW[:K] ** 2, 1) + np.sum(dW[K:] ** 2, 1)) / np.maximum(unit, 1e-12)
        target = self.targets[0] if progress < self.switch else self.targets[1]
        biggest = float(rel.max())
        if biggest == 0.0:
            return 0.0
        if self.eta is None:
            self.eta = target / biggest
        W += self.eta * dW
        change = self.eta * biggest
        self.eta *= 0.95 if change > target else 1.02
        return change

    def state(self) -> dict[str, Any]:
        return {"eta": self.eta}

    def set_state(self, state: dict[str, Any]) -> None:
        self.eta = state.get("eta")
