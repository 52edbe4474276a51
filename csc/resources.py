"""Files installed with the package: the CUDA C sources and the bundled sample clips.

Both live at the top of the repository (`kernels/`, `data/`) and are installed as the package
data `csc.kernels` and `csc.data` (see setup.py), so an editable and a normal install find them
the same way, through `importlib.resources`.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def kernels_dir() -> Path:
    """Folder holding the CUDA sources (`fused.cu`, `amplitude.cuh`)."""
    return Path(str(files("csc.kernels")))


def data_dir() -> Path:
    """Folder holding the bundled sample clips and their provenance (README.md)."""
    return Path(str(files("csc.data")))

