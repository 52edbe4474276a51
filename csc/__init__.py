"""csc: complex-valued sparse coding of video (Cadieu & Olshausen, Neural Computation 2012).

Public API: `reconstruct`, `energy`, `encode`, `ComplexSparseCoding`, `PixelModel`, `load`,
`make_prior`, `PAPER_PRIOR`, `PRESETS`, `pretrained`, `encode_video` (whole videos as lazy Dask
arrays; their Zarr stores in `csc.video.code_store`), `stream` (each frame's codes as it
arrives, causal). Importing csc changes no global state
(environment, loggers, plotting backends); see `csc.backends.threads` for the OpenMP setting
applied by the Numba passes.
"""
from csc.core.energy import energy
from csc.core.inference import EncodeInfo, encode
from csc.core.model import reconstruct
from csc.core.priors import PAPER_PRIOR, PRESETS, make_prior
from csc.io import load
from csc.learning.estimator import ComplexSparseCoding
from csc.resources import pretrained_dir
from csc.video.encode_video import encode_video
from csc.video.pixel_model import PixelModel
from csc.video.stream import stream

__version__ = "0.1.0"


def pretrained() -> PixelModel:
    """The shipped `PixelModel`, learned on natural motion (the bundled clip and the synthetic
    camera over the bundled stills; the command that made it is in the README). Its run folder,
    with the config.json of that run, is `csc.resources.pretrained_dir()`."""
    return load(pretrained_dir() / "model.npz", kind="pixel-model")

__all__ = ["reconstruct", "energy", "encode", "EncodeInfo", "ComplexSparseCoding", "PixelModel",
           "load", "pretrained", "encode_video", "stream", "PAPER_PRIOR", "PRESETS", "make_prior",
           "__version__"]
