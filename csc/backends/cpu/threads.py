"""The OpenMP wait policy of the Numba passes: the one setting csc recommends for speed.

GNU OpenMP threads (Numba's "omp" threading layer) spin after each parallel region by default,
and on a small machine the spinning threads steal the cores from the BLAS GEMM that follows: on 2
cores an encode iteration took 1.6 times as long. `OMP_WAIT_POLICY=PASSIVE` makes them sleep
instead. The OpenMP runtime reads it once, when it loads (at the first parallel Numba pass), so
it must be set before then. Importing csc changes nothing; the command-line tools call
`prefer_passive_openmp()` when they start, and a library user who wants the same sets the
variable in the environment (or calls this function first thing).
"""
from __future__ import annotations

import os


def prefer_passive_openmp() -> None:
    """Set OMP_WAIT_POLICY=PASSIVE for this process unless the user already set it."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
