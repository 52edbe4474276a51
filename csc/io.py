"""Model files: versioned `.npz` archives of plain arrays (no pickle), written atomically.

This module knows no model class. Each class turns itself into plain arrays (`to_arrays`) and
back (`from_arrays`), and registers the `kind` of file it reads with `@register("kind")`;
`load` reads the stored kind and hands the arrays to that class.

A file holds `format` ("csc-model"), `version`, `kind` and the model's arrays (JSON documents are
stored as 0-d string arrays: see `json_array` / `from_json_array`). Files of version 1 carry no
`kind`: they are a "pixel-model" when they hold whitener arrays, else a "coder".
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import zipfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import numpy as np

FORMAT = "csc-model"
VERSION = 2

_READERS: dict[str, Callable[[dict[str, np.ndarray]], Any]] = {}


def register(kind: str):
    """Class decorator: files of `kind` are read by the class's `from_arrays(arrays)`."""

    def decorate(cls):
        _READERS[kind] = cls.from_arrays
        return cls

    return decorate


def json_array(obj: Any) -> np.ndarray:
    """A JSON-able object as a 0-d string array (what the archive stores)."""
    return np.array(json.dumps(obj))


def from_json_array(a: np.ndarray) -> Any:
    """Inverse of `json_array`."""
    return json.loads(str(a))


def with_prefix(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`arrays` with every key as `prefix + key` (to store a part of a model)."""
    return {prefix + k: v for k, v in arrays.items()}


def strip_prefix(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays whose key starts with `prefix`, with the prefix removed ({} if none)."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def save(path, kind: str, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as a model file of `kind` to `path` atomically (`atomic_write`)."""
    reserved = {"format", "version", "kind"} & set(arrays)
    if reserved:
        raise ValueError(f"array names {sorted(reserved)} are reserved by the file format")
    with atomic_write(path) as f:
        np.savez(f, format=np.array(FORMAT), version=np.array(VERSION), kind=np.array(kind),
                 **arrays)


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
        Path(tmp).unlink(missing_ok=True)
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


def read(path) -> tuple[str, dict[str, np.ndarray]]:
    """(kind, arrays) of a model file, after checking its tag and version.

    Raises FileNotFoundError if `path` does not exist, ValueError if it is not a csc model file
    or was written by a newer csc."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path} is not a csc model file ({exc.__class__.__name__})") from None
    if "format" not in data or str(data.pop("format")) != FORMAT:
        raise ValueError(f"{path} is not a csc model file (no '{FORMAT}' tag)")
    version = int(data.pop("version"))
    if version > VERSION:
        raise ValueError(f"{path} was written by a newer csc (file format {version}, this csc "
                         f"reads up to {VERSION}); upgrade csc to load it")
    if "kind" in data:
        kind = str(data.pop("kind"))
    else:  # version 1
        kind = "pixel-model" if any(k.startswith("whitener_") for k in data) else "coder"
    return kind, data


def load(path):
    """The model stored at `path`: a `ComplexSparseCoding` ("coder" files) or a `PixelModel`
    ("pixel-model" files, as written by `learn_dictionary.py`).

    Raises FileNotFoundError if `path` does not exist, ValueError if it is not a csc model file,
    was written by a newer csc, or holds a kind of model this csc does not know."""
    kind, arrays = read(path)
    if kind not in _READERS:
        raise ValueError(f"{path} holds a {kind!r} model, which this csc cannot read (known: "
                         f"{sorted(_READERS)})")
    return _READERS[kind](arrays)


def load_extra(path) -> dict:
    """The JSON `extra` state saved with a model ({} if none)."""
    _, arrays = read(path)
    return from_json_array(arrays["extra"]) if "extra" in arrays else {}
