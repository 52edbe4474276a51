"""Checking the arrays and JSON documents a model file holds, part by part (`from_arrays` of
each class): every check raises ValueError with a one-line message that starts with the name of
what it checks."""
from __future__ import annotations

import contextlib
import inspect
import json
import math
from typing import Any, Callable, Iterator, Mapping

import numpy as np


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def with_prefix(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`arrays` with every key as `prefix + key` (to store a part of a model)."""
    return {prefix + k: v for k, v in arrays.items()}


def strip_prefix(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays whose key starts with `prefix`, with the prefix removed ({} if none)."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


@contextlib.contextmanager
def in_part(prefix: str) -> Iterator[None]:
    """Prefix the message of a ValueError raised inside with `prefix`: a part of a model (e.g.
    its whitener) checks its arrays without their stored prefix, and its messages, which start
    with the array's name, then name it as stored ("whitener_" + "mean contains NaN or Inf")."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{prefix}{one_line(exc)}") from None


def require_array(arrays: Mapping[str, np.ndarray], name: str, kind: str = "f",
                  shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """arrays[name], checked to exist, to have a dtype of one of the kinds in `kind` ("f" float,
    "iu" integer, "iuf" real number, "c" complex, "b" bool, "U" text), the number of axes of
    `shape` and each of its sizes that is not None, and finite values if float or complex."""
    if name not in arrays:
        raise ValueError(f"{name} is missing")
    a = arrays[name]
    if not isinstance(a, np.ndarray) or a.dtype.kind not in kind:
        got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name} has dtype {got}, expected {_KIND_NAMES.get(kind, kind)}")
    if shape is not None and (a.ndim != len(shape)
                              or any(n is not None and n != m for n, m in zip(shape, a.shape))):
        expected = "(" + ", ".join("*" if n is None else str(n) for n in shape) + \
            ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} has shape {a.shape}, expected {expected}")
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf")
    return a


_KIND_NAMES = {"f": "floats", "iu": "integers", "iuf": "numbers", "c": "complex numbers",
               "b": "booleans", "U": "text"}


def require_scalar(arrays: Mapping[str, np.ndarray], name: str, kind: str) -> Any:
    """The Python value (bool, int, float, complex or str) of the 0-d array arrays[name], checked
    as `require_array` does."""
    return require_array(arrays, name, kind, ()).item()


def require_json(arrays: Mapping[str, np.ndarray], name: str, type_: type = dict) -> Any:
    """The JSON document stored in arrays[name] (`json_array`), checked to parse, without NaN or
    Infinity, into a `type_`."""
    text = require_scalar(arrays, name, "U")
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{name} is not valid JSON ({one_line(exc)})") from None
    if not isinstance(doc, type_):
        raise ValueError(f"{name} is a JSON {type(doc).__name__}, expected a {type_.__name__}")
    return doc


def _refuse_constant(word: str):
    raise ValueError(f"{word} is not a finite number")


def require_field(doc: Mapping[str, Any], key: str, type_: type | tuple[type, ...],
                  name: str) -> Any:
    """doc[key] of a JSON document called `name`, checked to exist and to be a `type_` (bools
    are not numbers here; floats must be finite)."""
    if key not in doc:
        raise ValueError(f"{name}.{key} is missing")
    value = doc[key]
    types = type_ if isinstance(type_, tuple) else (type_,)
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        expected = " or ".join(t.__name__ for t in types)
        raise ValueError(f"{name}.{key} has type {type(value).__name__}, expected {expected}")
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 parses as inf
        raise ValueError(f"{name}.{key} is {value}, expected a finite number")
    return value


def json_numbers(doc: Mapping[str, Any], key: str, name: str, *, integer: bool = False,
                 length: int | None = None) -> np.ndarray:
    """The JSON list doc[key] of finite numbers (integers if `integer`; `length` of them if
    given) as a 1-d float64 (int64) array."""
    values = require_field(doc, key, list, name)
    types = (int,) if integer else (int, float)
    if not all(isinstance(v, types) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name}.{key} holds other things than "
                         f"{'integers' if integer else 'numbers'}")
    if length is not None and len(values) != length:
        raise ValueError(f"{name}.{key} has {len(values)} values, expected {length}")
    try:
        a = np.array(values, np.int64 if integer else np.float64)
    except OverflowError:
        raise ValueError(f"{name}.{key} holds a number out of range") from None
    if not np.all(np.isfinite(a)):  # 1e999 parses as inf
        raise ValueError(f"{name}.{key} holds a number out of range")
    return a


def read_history(arrays: Mapping[str, np.ndarray], state: Mapping[str, Any],
                 dtypes: Mapping[str, type]) -> dict[str, list]:
    """The learning history (per-update lists, one per column of `dtypes`) stored by
    `history_arrays`, else (files of format 2) as JSON lists in state["history_"], else empty
    lists (a model saved without its history). Columns must be 1-d, of their dtype's kind,
    finite and of one length."""
    stored = strip_prefix("history_", arrays)
    if stored:
        columns = {k: require_array(arrays, f"history_{k}", _kind_of(dtype), (None,))
                   for k, dtype in dtypes.items()}
    elif "history_" in state:
        doc = require_field(state, "history_", dict, "state")
        columns = {k: json_numbers(doc, k, "state.history_",
                                   integer=np.dtype(dtype).kind in "iu")
                   for k, dtype in dtypes.items()}
    else:
        return {k: [] for k in dtypes}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"history columns differ in length: {lengths}")
    return {k: v.tolist() for k, v in columns.items()}


def _kind_of(dtype: type) -> str:
    kind = np.dtype(dtype).kind
    return "iu" if kind in "iu" else kind


def restore_rng(rng: np.random.Generator, state: Any, name: str) -> None:
    """Set `rng` to the JSON bit-generator state `state` (as `bit_generator.state` gives)."""
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError):
        raise ValueError(f"{name} is not a {type(rng.bit_generator).__name__} "
                         f"state") from None


def require_kwargs(doc: Mapping[str, Any], func: Callable, name: str) -> None:
    """Check that the JSON document `doc` (called `name`) can be `func`'s keyword arguments:
    only names it takes, and every one it requires."""
    params = inspect.signature(func).parameters
    unknown = sorted(set(doc) - set(params))
    if unknown:
        raise ValueError(f"{name} has unknown parameters {unknown}")
    missing = [k for k, p in params.items() if p.default is p.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in doc]
    if missing:
        raise ValueError(f"{name} lacks {missing}")
