"""The model file format: a versioned archive of a model's arrays, tagged with its kind; the
registry of the classes that read each kind; writing (atomic, checked by reading back) and
reading (the archive's checks, the tag, the version, the kind)."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from csc.io.archive import MEMBER_NAME, read_archive
from csc.io.files import atomic_write
from csc.io.schema import one_line, require_json, require_scalar

FORMAT = "csc-model"
#: 3: learning histories as arrays ("history_*"), no longer inside the JSON "state"
VERSION = 3

#: what a reader of arrays may raise on a file that `require_*` did not foresee (`load`'s net)
_READER_ERRORS = (KeyError, TypeError, IndexError, AttributeError, OverflowError, RecursionError)


_READERS: dict[str, Callable[[dict[str, np.ndarray]], Any]] = {}
#: per kind, the array-name prefixes of other kinds of model that a file of it must not hold
_FOREIGN: dict[str, tuple[str, ...]] = {}


def register(kind: str, foreign: tuple[str, ...] = ()):
    """Class decorator: files of `kind` are read by the class's `from_arrays(arrays)`; a file of
    `kind` holding arrays whose names start with one of `foreign` (the parts of another kind of
    model) is refused rather than read with those parts dropped."""

    def decorate(cls):
        _READERS[kind] = cls.from_arrays
        _FOREIGN[kind] = foreign
        return cls

    return decorate


def json_array(obj: Any) -> np.ndarray:
    """A JSON-able object as a 0-d string array (what the archive stores)."""
    return np.array(json.dumps(obj))


def from_json_array(a: np.ndarray) -> Any:
    """Inverse of `json_array` (no checks: see `require_json` for reading a file)."""
    return json.loads(str(a))


def history_arrays(history: Mapping[str, list], dtypes: Mapping[str, type]
                   ) -> dict[str, np.ndarray]:
    """A learning history (per-update lists, one per column of `dtypes`) as 1-d arrays
    "history_<column>" of the column's dtype: exact for Python floats and ints."""
    return {f"history_{k}": np.asarray(history[k], dtype) for k, dtype in dtypes.items()}


def save(path, kind: str, arrays: dict[str, np.ndarray], *, check: bool = True) -> None:
    """Write `arrays` as a model file of `kind` to `path` atomically (`atomic_write`). Names
    must be letters, digits and "_"; object arrays are refused. With `check`, a registered
    kind's arrays are first read as `load` reads them, so no file is written that `load` would
    refuse (the file at `path`, if any, stays as it was): ValueError "… not saved: …" otherwise.
    (`check=False` writes them as they are: for tests of files that must be refused.)"""
    reserved = {"format", "version", "kind"} & set(arrays)
    if reserved:
        raise ValueError(f"array names {sorted(reserved)} are reserved by the file format")
    bad = [k for k in arrays if not MEMBER_NAME.fullmatch(k)]
    if bad:
        raise ValueError(f"array names {bad} are not letters, digits and '_'")
    objects = [k for k, v in arrays.items() if np.asarray(v).dtype == object]
    if objects:
        raise ValueError(f"Object arrays cannot be saved: {objects}")
    if check and kind in _READERS:
        with _naming_file(Path(path), f"not saved: the {kind} would not load"):
            _check_kind(kind, arrays)
            _READERS[kind](dict(arrays))
    with atomic_write(path) as f:
        np.savez(f, allow_pickle=False, format=np.array(FORMAT), version=np.array(VERSION),
                 kind=np.array(kind), **arrays)


def read(path) -> tuple[str, dict[str, np.ndarray]]:
    """(kind, arrays) of a model file, after checking the archive (module docstring), its tag
    and its version.

    Raises FileNotFoundError if `path` does not exist, ValueError (one line, naming `path`) if
    it is not a csc model file or was written by a newer csc."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        arrays = read_archive(path)
        version = _pop_version(arrays)
        kind = _pop_kind(arrays, version)
    except ValueError as exc:
        raise ValueError(f"{path} is not a csc model file: {one_line(exc)}") from None
    if version > VERSION:
        raise ValueError(f"{path} was written by a newer csc (file format {version}, this csc "
                         f"reads up to {VERSION}); upgrade csc to load it")
    return kind, arrays


def read_model(path, kind: str | None = None):
    """The model stored at `path`, read by the class registered for its kind (`register`); with
    `kind`, only a model of that kind. `csc.model_files.load` imports csc's model classes
    first: use that one.

    Raises FileNotFoundError if `path` does not exist, ValueError (one line, naming `path` and
    the problem) if it is not a csc model file, was written by a newer csc, holds a kind of
    model this csc does not know (or not `kind`), or arrays that do not make a valid model of
    its kind (those of another kind's parts included)."""
    stored, arrays = read(path)
    if stored not in _READERS:
        raise ValueError(f"{path} holds a {stored!r} model, which this csc cannot read (known: "
                         f"{sorted(_READERS)})")
    if kind is not None and stored != kind:
        raise ValueError(f"{path} holds a {stored!r} model, not the {kind!r} model asked for")
    with _naming_file(Path(path), f"is not a valid {stored} file"):
        _check_kind(stored, arrays)
        return _READERS[stored](arrays)


def _check_kind(kind: str, arrays: Mapping[str, np.ndarray]) -> None:
    """ValueError if `arrays`, of a `kind` file, hold the parts of another kind of model."""
    prefixes = _FOREIGN.get(kind, ())
    foreign = sorted(k for k in arrays if prefixes and k.startswith(prefixes))
    if foreign:
        raise ValueError(f"it holds arrays of another kind of model ({', '.join(foreign[:3])}"
                         f"{', …' if len(foreign) > 3 else ''}), not those of a {kind}")


def load_extra(path) -> dict:
    """The JSON `extra` state saved with a model ({} if none); ValueError as `load`."""
    _, arrays = read(path)
    if "extra" not in arrays:
        return {}
    with _naming_file(path, "has no valid extra state"):
        return require_json(arrays, "extra", dict)


@contextlib.contextmanager
def _naming_file(path: Path, what: str) -> Iterator[None]:
    """Turn a ValueError raised inside (and, as a safety net, whatever else a reader of unchecked
    arrays may raise) into one ValueError "<path> <what>: <problem>"."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{path} {what}: {one_line(exc)}") from None
    except _READER_ERRORS as exc:
        raise ValueError(f"{path} {what}: {exc.__class__.__name__} {one_line(exc)}") from None


def _pop_version(arrays: dict[str, np.ndarray]) -> int:
    """The format version, after checking the "csc-model" tag (both removed from `arrays`)."""
    if "format" not in arrays or arrays.pop("format").tolist() != FORMAT:
        raise ValueError(f"no '{FORMAT}' tag")
    version = require_scalar(arrays, "version", "iu")
    del arrays["version"]
    if version < 1:
        raise ValueError(f"format version {version}")
    return version


def _pop_kind(arrays: dict[str, np.ndarray], version: int) -> str:
    """The stored kind (removed from `arrays`); version-1 files have none."""
    if "kind" in arrays:
        kind = require_scalar(arrays, "kind", "U")
        del arrays["kind"]
        return kind
    if version == 1:
        return "pixel-model" if any(k.startswith("whitener_") for k in arrays) else "coder"
    raise ValueError("no 'kind'")
