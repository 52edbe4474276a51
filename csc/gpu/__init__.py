"""GPU backend: CUDA C kernels from `kernels/` launched through one typed launcher (CuPy)."""
