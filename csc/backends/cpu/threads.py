"""The OpenMP wait policy of the Numba passes: the one setting csc recommends for speed.

GNU OpenMP threads (Numba's "omp" threading layer) spin after each parallel region by default,
and the spinning threads steal the cores from the BLAS GEMM that follows. Measured on 2 cores
(one `encode` iteration, float32, λ = 1): 12.1 ms spinning against 0.18 ms passive for 128 frames
of 64 features and 32 units, 16.5 ms against 4.1 ms for 1024 frames of 256 features and 256
units. `OMP_WAIT_POLICY=PASSIVE` makes them sleep instead. The OpenMP runtime reads it once, when
it loads (at the first parallel Numba pass), so it must be set before then.

Importing csc or calling it changes nothing: the command-line tools call
`prefer_passive_openmp()` when they start, and the CPU backend logs one warning per process when
the variable is unset (`warn_if_openmp_spins`), so that a library user can set it.
"""
from __future__ import annotations

import functools
import logging
import os

log = logging.getLogger("csc")


def prefer_passive_openmp() -> None:
    """Set OMP_WAIT_POLICY=PASSIVE for this process unless the user already set it."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@functools.lru_cache(maxsize=1)
def warn_if_openmp_spins() -> None:
    """Log once per process that OMP_WAIT_POLICY is unset, and what it costs."""
    if "OMP_WAIT_POLICY" not in os.environ:
        log.warning("csc: OMP_WAIT_POLICY is not set, so Numba's OpenMP threads spin between "
                    "passes and slow the CPU backend down (4-60x measured on 2 cores); set "
                    "OMP_WAIT_POLICY=PASSIVE in the environment before starting Python")
