"""Model files: versioned `.npz` archives of plain arrays (no pickle), written atomically and read
without trusting them.

This module knows no model class. Each class turns itself into plain arrays (`to_arrays`) and
back (`from_arrays`), and registers the `kind` of file it reads with `@register("kind")`;
`load` reads the stored kind and hands the arrays to that class.

A file holds `format` ("csc-model"), `version`, `kind` and the model's arrays (JSON documents are
stored as 0-d string arrays: see `json_array` / `require_json`; learning histories as one array
per column: `history_arrays` / `read_history`). Files of version 1 carry no `kind`: they are a
"pixel-model" when they hold whitener arrays, else a "coder". Files of version 2 carry learning
histories inside their JSON "state" documents; they still load.

What `read` accepts, member by member, before decompressing anything (csc writes every member
stored, uncompressed, with `np.savez`):
- at most `MAX_MEMBERS` members, each named `<name>.npy` (letters, digits, "_"), each once;
  stored or deflated, not encrypted;
- each member at most `MAX_MEMBER_BYTES` unpacked, all together at most `MAX_TOTAL_BYTES` and at
  most `MAX_EXPANSION` times the file's size (a zip bomb unpacks a thousand times its size);
- a `.npy` header (format 1.0 or 2.0) declaring a dtype of booleans, integers, floats, complex
  numbers or text (no objects, so no pickle; no structured dtypes), and a shape whose bytes
  fill the member exactly: a header that declares more than the member holds is refused
  before anything is allocated.
Only then is each array read, from the member's bounded stream. `load` hands the arrays to the
registered class, whose `from_arrays` checks the structure with `require_array`,
`require_scalar`, `require_json`, `require_field`, `json_numbers` and `read_history`: every key it
needs, each array's dtype kind and shape and their agreement with one another, finite floats,
and JSON documents of the expected types (JSON NaN and Infinity are refused).

Whatever is wrong with a file, `read`, `load` and `load_extra` raise one `ValueError` of one line
naming the file and the problem (FileNotFoundError when there is no file).
"""
from __future__ import annotations

import contextlib
import glob
import inspect
import json
import math
import os
import re
import secrets
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

import numpy as np

FORMAT = "csc-model"
#: 3: learning histories as arrays ("history_*"), no longer inside the JSON "state"
VERSION = 3

#: limits of `read` (see the module docstring). The shipped model has 28 members and unpacks to
#: 3.6 MiB; the largest array of a large model, an online rule's A of (2K, 2K) float64, is
#: 512 MiB at K = 4096 units.
MAX_MEMBERS = 1024
MAX_MEMBER_BYTES = 2**30
MAX_TOTAL_BYTES = 2**32
#: csc stores members uncompressed (expansion 1); deflated, a model's float arrays shrink by
#: about 1.1 and its JSON text (4-byte characters) by about 9, while zeros deflate about 1000
#: times. The first MiB of a file may unpack to anything (tiny files of a few 0-d arrays).
MAX_EXPANSION = 100
_EXPANSION_SLACK = 2**20
#: dtype kinds a member may hold: bool, signed and unsigned integers, floats, complex, text
ARRAY_KINDS = "biufcU"
_MEMBER_NAME = re.compile(r"[A-Za-z0-9_]+")
_NPY_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}
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


# ------------------------------------------------------------------------------- writing
def json_array(obj: Any) -> np.ndarray:
    """A JSON-able object as a 0-d string array (what the archive stores)."""
    return np.array(json.dumps(obj))


def from_json_array(a: np.ndarray) -> Any:
    """Inverse of `json_array` (no checks: see `require_json` for reading a file)."""
    return json.loads(str(a))


def with_prefix(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`arrays` with every key as `prefix + key` (to store a part of a model)."""
    return {prefix + k: v for k, v in arrays.items()}


def strip_prefix(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays whose key starts with `prefix`, with the prefix removed ({} if none)."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


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
    bad = [k for k in arrays if not _MEMBER_NAME.fullmatch(k)]
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


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb") -> Iterator[IO]:
    """Write `path` all at once: the body writes to a temporary file beside it,
    "<name>.<random>.tmp", which is flushed to disk and renamed onto `path` when the body ends. A
    crash, a full disk or an exception leaves the previous `path` untouched (and at worst a stale
    temporary, which `remove_stale_temporaries` deletes). The file gets the permissions `open`
    would give it (0o666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        try:  # not mkstemp: its files are mode 0o600 whatever the umask
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder, names: Iterable[str]) -> int:
    """Delete the temporaries `atomic_write` left in `folder` for the files `names` (a process
    killed while writing leaves them); returns the bytes freed. Only call it while no other
    process writes there (a training run holds the run folder's lock)."""
    freed = 0
    for name in names:
        for tmp in Path(folder).glob(glob.escape(name) + ".*.tmp"):
            if tmp.is_file():
                freed += tmp.stat().st_size
                tmp.unlink(missing_ok=True)
    return freed


def write_json(path, obj: Any, default: Callable[[Any], Any] | None = None) -> None:
    """`obj` as indented JSON at `path`, atomically (`default`: as for `json.dump`)."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=1, default=default)


# ------------------------------------------------------------------------------- reading
def read(path) -> tuple[str, dict[str, np.ndarray]]:
    """(kind, arrays) of a model file, after checking the archive (module docstring), its tag
    and its version.

    Raises FileNotFoundError if `path` does not exist, ValueError (one line, naming `path`) if
    it is not a csc model file or was written by a newer csc."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        arrays = _read_archive(path)
        version = _pop_version(arrays)
        kind = _pop_kind(arrays, version)
    except ValueError as exc:
        raise ValueError(f"{path} is not a csc model file: {_one_line(exc)}") from None
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
        raise ValueError(f"{path} {what}: {_one_line(exc)}") from None
    except _READER_ERRORS as exc:
        raise ValueError(f"{path} {what}: {exc.__class__.__name__} {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive at `path`, checked as the module docstring says (ValueError
    naming the problem)."""
    with open(path, "rb") as f:  # a file we may not open is an OSError, not a bad model file
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
                _check_members(infos, os.fstat(f.fileno()).st_size)
                return {info.filename[:-len(".npy")]: _read_member(z, info) for info in infos}
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error,
                NotImplementedError) as exc:
            raise ValueError(f"not a readable zip archive ({exc.__class__.__name__}: "
                             f"{_one_line(exc)})") from None


def _check_members(infos: list[zipfile.ZipInfo], file_size: int) -> None:
    """Refuse (ValueError) an archive whose member list is not that of a model file, or that
    would unpack to more than the limits, before anything is decompressed."""
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"{len(infos)} members (at most {MAX_MEMBERS})")
    seen = set()
    for info in infos:
        name = info.filename
        if not (name.endswith(".npy") and _MEMBER_NAME.fullmatch(name[:-4])):
            raise ValueError(f"member {name!r} is not a <name>.npy array")
        if name in seen:
            raise ValueError(f"member {name!r} appears twice")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ValueError(f"member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"member {name!r} uses compression method {info.compress_type} "
                             f"(csc reads stored or deflated members)")
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"member {name!r} unpacks to {info.file_size} bytes (at most "
                             f"{MAX_MEMBER_BYTES})")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise ValueError(f"members unpack to {total} bytes (at most {MAX_TOTAL_BYTES})")
    if total > MAX_EXPANSION * file_size + _EXPANSION_SLACK:
        raise ValueError(f"members unpack to {total} bytes, {total / file_size:.0f} times the "
                         f"file's {file_size} (at most {MAX_EXPANSION} times: a zip bomb?)")


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """The array of one `.npy` member: its header checked (`_npy_header`) against the member's
    size before the data are read."""
    with z.open(info) as f:
        dtype, shape = _npy_header(f, info.filename)
        size = f.tell() + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if size != info.file_size:
            raise ValueError(f"member {info.filename!r} declares a {dtype} array of shape {shape} "
                             f"({size} bytes with its header) but holds {info.file_size} bytes")
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False)


def _npy_header(f, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, shape) of the `.npy` stream `f`, left at the start of the data; ValueError for a
    malformed header, a format other than 1.0 / 2.0 or a dtype outside `ARRAY_KINDS`."""
    try:
        version = np.lib.format.read_magic(f)
        if version not in _NPY_READERS:
            raise ValueError(f".npy format {version[0]}.{version[1]} (csc reads 1.0 and 2.0)")
        shape, _, dtype = _NPY_READERS[version](f)
    except ValueError as exc:
        raise ValueError(f"member {name!r} has no valid .npy header ({_one_line(exc)})") from None
    if (dtype.kind not in ARRAY_KINDS or dtype.hasobject or dtype.fields is not None
            or dtype.subdtype is not None):
        raise ValueError(f"member {name!r} holds dtype {dtype} (csc reads booleans, numbers and "
                         f"text, no objects)")
    if any(n < 0 for n in shape):
        raise ValueError(f"member {name!r} declares shape {shape}")
    return dtype, shape


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


# ------------------------------------------------------------------------------- checking
# Every check raises ValueError with a one-line message that starts with the name of what it
# checks, so that `in_part` can name a model's part as it is stored.

@contextlib.contextmanager
def in_part(prefix: str) -> Iterator[None]:
    """Prefix the message of a ValueError raised inside with `prefix`: a part of a model (e.g.
    its whitener) checks its arrays without their stored prefix, and its messages, which start
    with the array's name, then name it as stored ("whitener_" + "mean contains NaN or Inf")."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{prefix}{_one_line(exc)}") from None


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
        raise ValueError(f"{name} is not valid JSON ({_one_line(exc)})") from None
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
