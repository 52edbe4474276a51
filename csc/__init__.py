"""csc: complex-valued sparse coding of video (Cadieu & Olshausen, Neural Computation 2012).

Public API: `reconstruct`, `energy`, `encode`, `ComplexSparseCoding`, `PixelModel`, `load`,
`make_prior`, `PAPER_PRIOR`, `PRESETS`. Importing csc changes no global state (environment,
loggers, plotting backends); see `csc.backends.threads` for the OpenMP setting applied by the
Numba passes.
"""
from csc.core.energy import energy
from csc.core.inference import EncodeInfo, encode
from csc.core.model import reconstruct
from csc.core.priors import PAPER_PRIOR, PRESETS, make_prior
from csc.io import load
from csc.learning.estimator import ComplexSparseCoding
from csc.video.pixel_model import PixelModel

__version__ = "0.1.0"

__all__ = ["reconstruct", "energy", "encode", "EncodeInfo", "ComplexSparseCoding", "PixelModel",
           "load", "PAPER_PRIOR", "PRESETS", "make_prior", "__version__"]
