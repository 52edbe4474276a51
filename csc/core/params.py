"""Checking an estimator's numeric hyper-parameters (scikit-learn's `check_scalar`, stricter)."""
from __future__ import annotations

import math
import numbers
from typing import Any

from sklearn.utils import check_scalar


class InvalidParameterError(ValueError, TypeError):
    """A hyper-parameter of the wrong type or out of range (a ValueError, and a TypeError as
    scikit-learn raises for wrong types)."""


def check_number(value: Any, name: str, target_type: type, min_val: float,
                 include_min: bool = True) -> Any:
    """`sklearn.utils.check_scalar` that also refuses bools, NaN and ±inf, raising
    `InvalidParameterError` with check_scalar's one-line message; returns `value`.

    target_type: `numbers.Integral` or `numbers.Real`; min_val: the smallest allowed value
    (allowed itself when `include_min`)."""
    if isinstance(value, bool) or (isinstance(value, numbers.Real)
                                   and not math.isfinite(value)):
        kind = "an integer" if target_type is numbers.Integral else "a finite number"
        raise InvalidParameterError(f"{name} must be {kind}, got {value!r}")
    try:
        check_scalar(value, name, target_type, min_val=min_val,
                     include_boundaries="left" if include_min else "neither")
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(str(exc)) from None
    return value
