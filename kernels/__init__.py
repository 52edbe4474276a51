"""The CUDA C sources of csc's GPU path, installed as package data (`csc.kernels`)."""
