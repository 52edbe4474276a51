"""Shared fixtures: small random problems."""
import numpy as np
import pytest

from csc.synthetic import random_dictionary


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_problem(rng, B=3, T=6, K=5, M=10, dtype=np.float64):
    """X (B, T, M) real, D (K, M) complex normalised, Z (B, T, K) complex, w (M,) positive."""
    D = random_dictionary(K, M, rng, normalize="complex")
    X = rng.standard_normal((B, T, M)).astype(dtype)
    Z = rng.standard_normal((B, T, K)) + 1j * rng.standard_normal((B, T, K))
    w = rng.uniform(0.5, 2.0, M)
    return X, D, Z, w
