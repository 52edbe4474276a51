"""Planted problems, synthetic movies and the host build of the CUDA kernels: what the tests,
the benchmark and the demos are made of."""
