"""What every command-line tool shares: bad input ends with one line on stderr and exit status 2."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

USAGE_ERROR = 2  # exit status of a tool given bad input


class UsageError(ValueError):
    """A bad option or argument; str() is one line for the user."""


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors raise `UsageError` (instead of printing the usage
    block and exiting), so that a tool reports them like any other bad input, with `fail`."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def fail(prog: str, error: BaseException | str) -> int:
    """Print `prog: error: <first line of error>` on stderr; return the exit status 2. An
    `OSError` (disk full, read-only file system, a file where a folder should be …) is told as
    "<file>: <what the system said>"."""
    if isinstance(error, OSError) and error.strerror:
        error = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    text = str(error).strip()
    line = text.splitlines()[0] if text else repr(error)
    print(f"{prog}: error: {line}", file=sys.stderr)
    return USAGE_ERROR


def run_command(prog: str, build_parser, check_args, run, argv, errors=()) -> int:
    """The `main` of a tool: parse `argv` with `build_parser()`, `check_args(args)`, then
    `run(args)`; 0 on success, 2 with one line on stderr (`fail`) for UsageError, ValueError,
    OSError and the tool's own `errors`."""
    from csc.threads import prefer_passive_openmp

    prefer_passive_openmp()  # before the first Numba pass: see csc.threads
    try:
        args = build_parser().parse_args(argv)
        check_args(args)
        run(args)
    except (UsageError, ValueError, OSError, *errors) as exc:
        return fail(prog, exc)
    return 0


def check_output_file(path: str | None, option: str) -> None:
    """UsageError (one line naming `option`) unless a file can be written at `path` (None: no
    file asked for): not a folder, in a folder that exists and is writable. Checked before the
    work, so a long run does not end in a failed write."""
    if path is None:
        return
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists()
                                                    and not os.access(target, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")


def check_counts(args: argparse.Namespace, least: dict[str, int]) -> None:
    """UsageError naming the option unless each `args.<name>` is at least `least[name]`."""
    for name, minimum in least.items():
        value = getattr(args, name)
        if value < minimum:
            raise UsageError(f"--{name.replace('_', '-')} must be >= {minimum}, got {value}")


def load_pixel_model(path: str, option: str = "--model"):
    """The `PixelModel` in the file at `path` (what learn_dictionary.py writes); UsageError (one
    line naming `option`) when it cannot be read or holds another kind of model."""
    from csc.model_files import load
    from csc.video.pixel_model import PixelModel

    try:
        model = load(path)
    except (OSError, KeyError) as exc:
        raise UsageError(f"cannot read {option} {path}: {exc}") from None
    if not isinstance(model, PixelModel):
        raise UsageError(f"{option} {path} has no whitener: it was not written by "
                         f"learn_dictionary.py")
    return model
