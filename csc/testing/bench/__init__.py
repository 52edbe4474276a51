"""The parts of the encode benchmark (`csc-benchmark`, docs/design.md §8): a planted convex problem
scored by one common energy and certified by a duality gap, the GEMM floor, timed runs of csc and
of the peer solvers (SPAMS, skglm) to a target accuracy, and peak memory."""
