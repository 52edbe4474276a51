"""Files written all at once: a crash, a full disk or an exception leaves the previous file or
the new one, never half of one; the temporaries a killed process leaves are found and deleted."""
from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator


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
