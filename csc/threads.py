"""The thread settings csc recommends for speed on the CPU, and where they are applied.

Both come from threads that spin after their work instead of sleeping, and so take the cores
from the work that follows. A CPU solve alternates BLAS GEMMs with parallel Numba passes, so
either kind of spinning slows it down:

- **`OMP_WAIT_POLICY=PASSIVE`.** GNU OpenMP threads (Numba's "omp" threading layer) spin after
  each parallel region by default. Measured on 2 cores (one `encode` iteration, float32, λ = 1):
  12.1 ms spinning against 0.18 ms passive for 128 frames of 64 features and 32 units, 16.5 ms
  against 4.1 ms for 1024 frames of 256 features and 256 units. The OpenMP runtime reads the
  variable once, when it loads (at the first parallel Numba pass).
- **`OPENBLAS_THREAD_TIMEOUT=16`.** An idle OpenBLAS thread spins for 2^28 CPU cycles (about
  0.1 s) before it sleeps; the value is the log2 of that count (OpenBLAS clamps it to 4–30).
  On 2 cores a Numba pass right after a GEMM took 1.9 ms instead of 0.9 ms (1,131 codes of 128
  units); 2^16 cycles (about 25 µs) gives the time back. OpenBLAS reads it once, when NumPy
  loads it.

Importing csc's library modules or calling them changes nothing. The command-line tools apply
both for their own process, unless the user set them: `csc.cli` sets the OpenBLAS one when it is
imported before NumPy (a process started by a `csc-*` command or a `scripts/` tool), and each
tool's `main` sets the OpenMP one (`prefer_passive_openmp`). The CPU backend logs one warning
per process when either is unset (`warn_if_threads_spin`), so that a library user can set them
in the environment before starting Python.
"""
from __future__ import annotations

import functools
import logging
import os
import sys

log = logging.getLogger("csc")

#: log2 of the CPU cycles an idle OpenBLAS thread spins before it sleeps (module docstring)
BLAS_THREAD_TIMEOUT = "16"


def prefer_passive_openmp() -> None:
    """Set OMP_WAIT_POLICY=PASSIVE for this process unless the user already set it."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def prefer_short_blas_spin() -> bool:
    """Set OPENBLAS_THREAD_TIMEOUT for this process unless the user set it, provided NumPy (which
    loads OpenBLAS, which reads it once) is not imported yet. Returns whether it was set now."""
    if "numpy" in sys.modules or "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = BLAS_THREAD_TIMEOUT
    return True


@functools.lru_cache(maxsize=1)
def warn_if_threads_spin() -> None:
    """Log once per process which of the two settings is unset, and what it costs."""
    wanted = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": BLAS_THREAD_TIMEOUT}
    unset = [name for name in wanted if name not in os.environ]
    if unset:
        log.warning("csc: %s not set, so idle threads spin between the CPU backend's passes and "
                    "slow it down (2-67x measured on 2 cores, see csc.threads); set %s in the "
                    "environment before starting Python", " and ".join(unset),
                    " ".join(f"{name}={wanted[name]}" for name in unset))
