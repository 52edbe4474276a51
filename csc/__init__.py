"""csc: complex-valued sparse coding of video (Cadieu & Olshausen, Neural Computation 2012).

Public API: `reconstruct`, `energy`, `encode`, `ComplexSparseCoding`, `load`, `PAPER_PRIOR`.
"""
from .energy import energy
from .estimator import ComplexSparseCoding
from .inference import EncodeInfo, encode
from .model import reconstruct
from .persistence import load
from .priors import PAPER_PRIOR, PRESETS, make_prior

__version__ = "0.1.0"

__all__ = ["reconstruct", "energy", "encode", "EncodeInfo", "ComplexSparseCoding", "load",
           "PAPER_PRIOR", "PRESETS", "make_prior", "__version__"]
