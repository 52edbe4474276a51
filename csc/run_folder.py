"""The folder of a training run: who may write it, what it holds, and the per-update history.

A run folder (`csc-learn --out RUN_DIR`) belongs to one process at a time: `run_lock` takes an
exclusive lock on RUN_DIR/.lock for the whole run (an advisory `flock`, so the operating system
releases it when the process dies, even by `kill -9`). Every file in it is written atomically
(`csc.io.atomic_write`); the temporaries a killed process leaves are removed by the next run.
The learning history is appended to history.csv at every checkpoint (`HistoryLog`), so a
checkpoint's cost does not grow with the length of the run.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Iterator

from csc.io import atomic_write

LOCK_NAME = ".lock"
#: the columns of history.csv after "update": `ComplexSparseCoding.history_`'s keys
HISTORY_COLUMNS = ("energy", "snr", "active", "n_iter")


class RunError(ValueError):
    """A problem with the run folder or its settings; str() is one line for the user."""


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold the exclusive lock on the run folder `out` (created if missing) for the body.

    Raises RunError at once, naming the process that holds it, when another run has it. A folder
    this call created is removed again if the body fails before anything but the lock was
    written there (a run refused at its first check leaves nothing behind)."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK_NAME
    with exclusive_lock(lock, out):
        try:
            yield
        except BaseException:
            if created and {p.name for p in out.iterdir()} == {LOCK_NAME}:
                lock.unlink()
                out.rmdir()
            raise


@contextlib.contextmanager
def exclusive_lock(lock: Path, out: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on the file `lock` (created if missing; it then holds this
    process's id) for the body: the lock of the output `out` of a run. Raises RunError at once,
    naming the process that holds it, when another process has it."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunError(f"{out} is in use by another run (process {holder}); wait for it to "
                           f"end or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


class HistoryLog:
    """history.csv: "update,energy,snr,active,n_iter", one row per update, appended.

    Floats are written with `repr`, so they read back bit for bit. Rows beyond the checkpoint a
    run resumes from (appended before a crash that came ahead of the model's save) are cut off by
    `restore`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.n_rows = 0

    def start(self) -> None:
        """An empty history (header only), for a new run."""
        with atomic_write(self.path, "w") as f:
            f.write("update," + ",".join(HISTORY_COLUMNS) + "\n")
        self.n_rows = 0

    def restore(self, n_updates: int, saved: dict[str, list]) -> dict[str, list]:
        """The history of the first `n_updates` updates, as `ComplexSparseCoding.history_`.

        The file is cut to those rows. A run folder from before history.csv existed has its
        history in the model file (`saved`): the file is written from it."""
        if not self.path.exists():
            if len(saved.get("energy", [])) != n_updates:
                raise RunError(f"{self.path} is missing and the model file holds no history "
                               f"of its {n_updates} updates")
            self.start()
            self.append(saved, n_updates)
            return saved
        history: dict[str, list] = {key: [] for key in HISTORY_COLUMNS}
        with open(self.path, "r+b") as f:
            f.readline()  # header
            for n in range(1, n_updates + 1):
                line = f.readline()
                if not line.endswith(b"\n"):
                    raise RunError(f"{self.path} holds {n - 1} updates but the checkpoint is "
                                   f"at update {n_updates}; the run folder is damaged")
                update, *values = line.decode().split(",")
                if int(update) != n or len(values) != len(HISTORY_COLUMNS):
                    raise RunError(f"{self.path}: row {n} is malformed: {line!r}")
                for key, value in zip(HISTORY_COLUMNS, values):
                    history[key].append(int(value) if key == "n_iter" else float(value))
            f.truncate(f.tell())
        self.n_rows = n_updates
        return history

    def append(self, history: dict[str, list], n_updates: int) -> None:
        """Append the rows of updates n_rows+1 … n_updates of `history` and flush them to disk
        (before the checkpoint that counts them is saved)."""
        rows = "".join(
            f"{n}," + ",".join(repr(int(history[key][n - 1])) if key == "n_iter"
                               else repr(float(history[key][n - 1])) for key in HISTORY_COLUMNS)
            + "\n" for n in range(self.n_rows + 1, n_updates + 1))
        with open(self.path, "a") as f:
            f.write(rows)
            f.flush()
            os.fsync(f.fileno())
        self.n_rows = n_updates
