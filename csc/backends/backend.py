"""The one backend seam: which array module (`xp`) and which fused passes an algorithm runs on.

`get_backend("auto" | "cpu" | "gpu")`; the environment variable `CSC_BACKEND` overrides "auto".
CPU: NumPy (BLAS GEMMs) + the Numba fused passes of `csc.backends.cpu`. GPU: CuPy (cuBLAS
GEMMs) + the CUDA kernels of `kernels/` launched through `csc.backends.cuda.launcher` (see
`csc.backends.cuda.ops`).
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from csc.backends.cpu import fused
from csc.backends.cuda import ops
from csc.backends.device import device_module, is_device_array
from csc.threads import warn_if_threads_spin

log = logging.getLogger("csc")

BACKENDS = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class Backend:
    """name: "cpu" or "gpu"; xp: numpy or cupy; ops: module with `code_step` and `recon_step`."""

    name: str
    xp: ModuleType
    ops: Any

    def asarray(self, a, dtype=None):
        """`a` as an array of this backend (a host → device copy on the GPU)."""
        return self.xp.asarray(a, dtype=dtype)

    def asnumpy(self, a) -> np.ndarray:
        """`a` as a NumPy array (a device → host copy on the GPU)."""
        return to_numpy(a)


def to_numpy(a) -> np.ndarray:
    """A NumPy array of a NumPy or CuPy array (a device → host copy for CuPy)."""
    return a.get() if is_device_array(a) else np.asarray(a)


def array_module(a) -> ModuleType:
    """numpy, or cupy when `a` is a CuPy array (for code that takes either)."""
    return device_module(a)


def _cpu_backend() -> Backend:
    warn_if_threads_spin()
    return Backend("cpu", np, fused)


def _gpu_backend() -> Backend:
    import cupy  # optional: only on GPU machines

    return Backend("gpu", cupy, ops)


def gpu_status() -> tuple[bool, str]:
    """(True, device) when CuPy imports and sees a CUDA device, else (False, the reason)."""
    return ops.available()


def get_backend(name: str = "auto") -> Backend:
    """Resolve a backend name; raises ValueError for an unknown or unavailable backend.

    "auto" is the GPU when CuPy finds a CUDA device, else the CPU (logged once); the environment
    variable CSC_BACKEND overrides "auto". "gpu" without a usable GPU is a ValueError saying why.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
    if name == "auto":
        name = os.environ.get("CSC_BACKEND", "auto") or "auto"
        if name not in BACKENDS:
            raise ValueError(f"CSC_BACKEND={name!r} is not one of {BACKENDS}")
    if name == "cpu":
        return _cpu_backend()
    ok, why = gpu_status()
    if name == "gpu":
        if not ok:
            raise ValueError(f"backend='gpu' is not available: {why}; use backend='cpu' (or "
                             f"install the GPU extra: pip install -e '.[gpu]')")
        return _gpu_backend()
    _log_once(f"csc backend: gpu ({why})" if ok else f"csc backend: cpu ({why})")
    return _gpu_backend() if ok else _cpu_backend()


@functools.lru_cache(maxsize=None)
def _log_once(message: str) -> None:
    log.info(message)
