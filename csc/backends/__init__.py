"""The one backend seam (`get_backend`): NumPy + the Numba passes of `cpu/`, or CuPy + the CUDA
kernels of `cuda/`, behind the same `xp` and `ops` interface."""
from csc.backends.backend import BACKENDS, Backend, array_module, get_backend, gpu_status, to_numpy

__all__ = ["BACKENDS", "Backend", "array_module", "get_backend", "gpu_status", "to_numpy"]
