"""Telling device (CuPy) arrays from host ones without importing CuPy.

An array is a device array when CuPy is imported and the array is an instance of
`cupy.ndarray`: no CuPy array can exist before `import cupy`, so nothing here imports it. This
also recognises a stand-in installed as `cupy` (`csc.testing.strict_cupy`).
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np


def cupy_if_imported() -> ModuleType | None:
    """The imported `cupy` module, or None when nothing has imported it."""
    return sys.modules.get("cupy")


def is_device_array(a: Any) -> bool:
    """True when `a` is a `cupy.ndarray` (of the CuPy imported now)."""
    cupy = cupy_if_imported()
    return cupy is not None and isinstance(a, cupy.ndarray)


def device_module(a: Any) -> ModuleType:
    """cupy when `a` is a CuPy array, else numpy."""
    return cupy_if_imported() if is_device_array(a) else np  # type: ignore[return-value]
