"""Checking parameters: the scikit-learn constraints csc's estimators declare
(`_parameter_constraints`), and `check_number` for the numbers of functions and stored state
(scikit-learn's `check_scalar`, stricter). Both raise scikit-learn's `InvalidParameterError`,
a ValueError (and a TypeError, as scikit-learn raises for wrong types)."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from sklearn.utils import check_scalar
from sklearn.utils._param_validation import Interval, InvalidParameterError

__all__ = ["InvalidParameterError", "check_number", "integer_at_least", "NON_NEGATIVE",
           "POSITIVE", "SEED"]


class _Range(Interval):
    """scikit-learn's `Interval`, refusing bools (which Python counts as integers)."""

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def integer_at_least(minimum: int) -> list:
    """The constraint of an integer parameter ≥ `minimum`."""
    return [_Range(numbers.Integral, minimum, None, closed="left")]


#: a real number ≥ 0, and > 0 (finite: the open right end refuses inf)
NON_NEGATIVE = [_Range(numbers.Real, 0, None, closed="left")]
POSITIVE = [_Range(numbers.Real, 0, None, closed="neither")]
#: a seed stored in a model file's JSON: an integer ≥ 0, or None
SEED = [None, *integer_at_least(0)]


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
