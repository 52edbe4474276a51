"""CPU kernels (Numba): amplitude proxes and the fused passes of an inference iteration."""
