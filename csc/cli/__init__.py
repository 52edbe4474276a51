"""Command-line tools (installed as console scripts `csc-*`; `scripts/*.py` call the same code).

Imported first by every tool, before NumPy: it sets the OpenBLAS spin time for the tool's
process unless the user set it (`csc.threads`).
"""
from csc.threads import prefer_short_blas_spin

prefer_short_blas_spin()
