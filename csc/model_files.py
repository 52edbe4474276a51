"""`load`: a csc model file read as the model it holds.

The model classes register the kinds of file they read (`csc.io.register`) when their modules
are imported; `import csc` imports them only on first use, and a file may be loaded before
either was used, so `load` imports them first. It lives above them (`csc.io`, the format,
knows no class).
"""
from __future__ import annotations

from csc import io


def load(path, kind: str | None = None):
    """The model stored at `path`: a `ComplexSparseCoding` ("coder" files) or a `PixelModel`
    ("pixel-model" files, as written by `csc learn`); with `kind`, only a model of that kind.

    Raises FileNotFoundError if `path` does not exist, ValueError (one line, naming `path` and
    the problem) if it is not a csc model file, was written by a newer csc, holds a kind of
    model this csc does not know (or not `kind`), or arrays that do not make a valid model of
    its kind (those of another kind's parts included)."""
    import csc.learning.estimator  # noqa: F401 -- registers "coder"
    import csc.video.pixel_model  # noqa: F401 -- registers "pixel-model"

    return io.read_model(path, kind)
