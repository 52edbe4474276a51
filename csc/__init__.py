"""csc: complex-valued sparse coding of video (Cadieu & Olshausen, Neural Computation 2012).

Public API: `reconstruct`, `energy`, `encode`, `ComplexSparseCoding`, `PixelModel`, `load`,
`make_prior`, `PAPER_PRIOR`, `PRESETS`, `pretrained`, `encode_video` (whole videos as lazy Dask
arrays; their Zarr stores written by `csc.video.code_writer`, read by `csc.video.code_reader`),
`stream` (each frame's codes as it arrives, causal). Importing csc changes no global state
(environment, loggers, plotting backends) and loads no heavy module: each name is imported on
first use (PEP 562), so that a command can set its thread settings before NumPy loads
(`csc.threads`).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from csc.versioning import __version__

#: public name -> the module that defines it
_EXPORTS = {
    "energy": "csc.core.energy",
    "encode": "csc.core.inference",
    "EncodeInfo": "csc.core.fista",
    "reconstruct": "csc.core.model",
    "PAPER_PRIOR": "csc.priors",
    "PRESETS": "csc.priors",
    "make_prior": "csc.priors",
    "load": "csc.model_files",
    "ComplexSparseCoding": "csc.learning.estimator",
    "encode_video": "csc.video.encode_video",
    "PixelModel": "csc.video.pixel_model",
    "stream": "csc.video.stream",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from csc.core.energy import energy
    from csc.core.fista import EncodeInfo
    from csc.core.inference import encode
    from csc.core.model import reconstruct
    from csc.learning.estimator import ComplexSparseCoding
    from csc.model_files import load
    from csc.priors import PAPER_PRIOR, PRESETS, make_prior
    from csc.video.encode_video import encode_video
    from csc.video.pixel_model import PixelModel
    from csc.video.stream import stream


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'csc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


def pretrained() -> PixelModel:
    """The shipped `PixelModel`, learned on natural motion (the bundled clip and the synthetic
    camera over the bundled stills; the command that made it is in docs/paper.md). Its run folder,
    with the config.json of that run, is `csc.resources.pretrained_dir()`."""
    from csc.model_files import load
    from csc.resources import pretrained_dir

    return load(pretrained_dir() / "model.npz", kind="pixel-model")


__all__ = ["reconstruct", "energy", "encode", "EncodeInfo", "ComplexSparseCoding", "PixelModel",
           "load", "pretrained", "encode_video", "stream", "PAPER_PRIOR", "PRESETS", "make_prior",
           "__version__"]
