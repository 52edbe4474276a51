"""CPU backend: Numba kernels (amplitude proxes and the fused passes of one FISTA iteration)."""
