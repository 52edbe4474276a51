"""A dictionary update in shards (`csc.learning.shards`) against independent per-shard solves."""
import numpy as np
import pytest

from csc import ComplexSparseCoding, encode
from csc.core.model import codes_to_real, dictionary_from_real
from csc.learning.normalize import normalize_units
from csc.learning.sgd import SGDRule
from csc.learning.shards import LEARNING_STEP_BOOST, shard_bounds


def test_shards_split_a_batch_in_fixed_contiguous_parts():
    assert shard_bounds(32, 4) == [(0, 8), (8, 16), (16, 24), (24, 32)]
    assert shard_bounds(10, 4) == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert shard_bounds(3, 8) == [(0, 1), (1, 2), (2, 3)]  # never an empty shard
    assert shard_bounds(5, 1) == [(0, 5)]


@pytest.mark.parametrize("n_shards", [1, 3])
def test_a_sharded_update_sums_the_gradients_of_independent_solves(rng, n_shards):
    """The sgd update of a model in `n_shards` shards equals the rule applied to the sum of the
    gradients Cᵀ(w∘E) of codes inferred by `csc.encode` on each shard alone."""
    B, T, M, K = 6, 5, 12, 3
    X = rng.standard_normal((B, T, M))
    prior = dict(sparsity="l1", lam=0.05, slowness="l2", kappa=0.1)
    model = ComplexSparseCoding(K, **prior, learning="sgd", n_shards=n_shards, max_iter=40,
                                tol=0.0, random_state=0, backend="cpu").initialize(X)
    W0 = model._W.copy()
    model.partial_fit(X)

    grad = np.zeros_like(W0)
    for a, b in shard_bounds(B, n_shards):
        Z = encode(X[a:b], dictionary_from_real(W0), max_iter=40, tol=0.0, backend="cpu",
                   step_boost=LEARNING_STEP_BOOST, **prior)
        C = codes_to_real(Z, np.float64)
        grad += C.T @ (X[a:b].reshape(-1, M) - C @ W0)
    W = W0.copy()
    SGDRule().update(W, grad / (B * T), 0.0)
    normalize_units(W, "pair", False)
    np.testing.assert_allclose(model._W, W, rtol=1e-6, atol=1e-9)
