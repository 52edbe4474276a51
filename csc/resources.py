"""Files installed with the package: the CUDA C sources, the bundled clips and stills, and the
pretrained model.

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
    """Folder holding the bundled data and its provenance (README.md)."""
    return Path(str(files("csc.data")))


def videos_dir() -> Path:
    """Folder of the bundled training clips (what `learn_dictionary.py` learns from by default)."""
    return data_dir() / "videos"


def heldout_dir() -> Path:
    """Folder of the bundled clip kept aside: no shipped model was trained on it."""
    return data_dir() / "heldout"


def motion_dir() -> Path:
    """Folder of the bundled clip with real motion, kept aside for evaluating prediction: no
    shipped model was trained on it."""
    return data_dir() / "motion"


def stills_dir() -> Path:
    """Folder of the bundled natural stills the synthetic camera moves over."""
    return data_dir() / "stills"



def pretrained_dir() -> Path:
    """Run folder of the shipped pretrained model: model.npz and the config.json that made it."""
    return data_dir() / "pretrained"
