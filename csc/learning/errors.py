"""The error a dictionary update raises when its numbers stop being finite."""
from __future__ import annotations


class TrainingDiverged(ValueError):
    """A dictionary update produced non-finite numbers (energies, code statistics or the updated
    dictionary), or its inference did not fit the float type. The model is left as it was before
    that update, so a caller can keep its last good state."""
