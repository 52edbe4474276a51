"""The one backend seam: which array module (`xp`) and which fused passes an algorithm runs on.

`get_backend("auto" | "cpu" | "gpu")`; the environment variable `CSC_BACKEND` overrides "auto".
This version ships the CPU backend (NumPy BLAS GEMMs + Numba fused passes). The GPU backend
(CuPy + the CUDA kernels in `kernels/`) is not in this version: asking for it is a clear error.
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

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
        return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def array_module(a) -> ModuleType:
    """numpy, or cupy when `a` is a CuPy array (for code that takes either)."""
    module = type(a).__module__
    if module.startswith("cupy"):
        import cupy

        return cupy
    return np


def _cpu_backend() -> Backend:
    from .cpu import fused

    return Backend("cpu", np, fused)


def get_backend(name: str = "auto") -> Backend:
    """Resolve a backend name; raises ValueError for an unknown or unavailable backend."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
    if name == "auto":
        name = os.environ.get("CSC_BACKEND", "auto") or "auto"
        if name not in BACKENDS:
            raise ValueError(f"CSC_BACKEND={name!r} is not one of {BACKENDS}")
    if name == "gpu":
        raise ValueError(
            "backend='gpu' is not available in this version of csc (the CUDA path is not built "
            "yet); use backend='cpu'"
        )
    if name == "auto":
        _log_once("csc backend: cpu (no GPU backend in this version)")
    return _cpu_backend()


@functools.lru_cache(maxsize=None)
def _log_once(message: str) -> None:
    log.info(message)
