"""csc: complex-valued sparse coding of video (Cadieu & Olshausen, Neural Computation 2012).

Public API: `reconstruct`, `energy`, `encode`, `ComplexSparseCoding`, `load`, `PAPER_PRIOR`.
"""
import os

# GNU OpenMP threads (Numba's parallel layer) spin after each parallel region by default and then
# steal both cores from the BLAS GEMM that follows: on 2 cores an encode iteration took 1.6× as
# long. Passive waiting unless the user chose otherwise (read when the OpenMP runtime loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .energy import energy  # noqa: E402
from .estimator import ComplexSparseCoding  # noqa: E402
from .inference import EncodeInfo, encode  # noqa: E402
from .model import reconstruct  # noqa: E402
from .persistence import load  # noqa: E402
from .pixel_model import PixelModel  # noqa: E402
from .priors import PAPER_PRIOR, PRESETS, make_prior  # noqa: E402

__version__ = "0.1.0"

__all__ = ["reconstruct", "energy", "encode", "EncodeInfo", "ComplexSparseCoding", "PixelModel", "load",
           "PAPER_PRIOR", "PRESETS", "make_prior", "__version__"]
