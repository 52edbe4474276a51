"""GPU backend: the typed launcher, the CuPy twin of the fused passes, and access to the CUDA C
sources (shipped as the package data `csc.kernels`)."""
