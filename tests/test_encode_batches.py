"""encode in batches of whole sequences under a memory budget (issue 11): each batch is exactly
an encode of its sequences, the whole is the unbatched solution within tolerance, and the
reports combine as documented in `csc.core.inference.merge_infos`."""
import numpy as np
import pytest
from conftest import random_problem

import csc
from csc.core.fista import solver_bytes_per_frame
from csc.core.inference import ENCODE_BATCH_BYTES, sequence_batches

PRIORS = [dict(sparsity="l1", lam=0.3), dict(sparsity="l1", lam=0.3, slowness="l1", kappa=0.3),
          dict(sparsity="cauchy", lam=0.3, sigma=0.5, slowness="l2", kappa=0.5)]
IDS = ["l1", "l1+tv", "cauchy+l2"]


def _budget(n_sequences: int, n_frames: int, K: int, M: int, itemsize: int) -> int:
    """batch_bytes holding exactly n_sequences sequences on the CPU."""
    return n_sequences * n_frames * solver_bytes_per_frame(K, M, itemsize, "cpu")


def test_sequence_batches_cover_whole_sequences():
    assert sequence_batches(7, 5, 10, 3 * 5 * 10) == [slice(0, 3), slice(3, 6), slice(6, 7)]
    assert sequence_batches(7, 5, 10, 3 * 5 * 10 + 49) == [slice(0, 3), slice(3, 6),
                                                           slice(6, 7)]
    assert sequence_batches(4, 5, 10, 1) == [slice(i, i + 1) for i in range(4)]  # ≥ 1 sequence
    assert sequence_batches(4, 5, 10, 10**9) == [slice(0, 4)]


@pytest.mark.parametrize("prior", PRIORS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_init", [False, True])
def test_batches_are_exactly_encodes_of_their_sequences(rng, prior, dtype, with_init):
    X, D, Z0, _ = random_problem(rng, B=7, T=5, K=6, M=12, dtype=dtype)
    init = 0.3 * Z0[:, :, :6] if with_init else None
    kw = dict(max_iter=60, tol=1e-5, **prior)
    Z, info = csc.encode(X, D, init=init, return_info=True,
                         batch_bytes=_budget(3, 5, 6, 12, np.dtype(dtype).itemsize), **kw)
    assert info.n_batches == 3
    pieces, infos = [], []
    for batch in (slice(0, 3), slice(3, 6), slice(6, 7)):
        Zb, ib = csc.encode(X[batch], D, init=None if init is None else init[batch],
                            return_info=True, **kw)
        assert ib.n_batches == 1
        pieces.append(Zb)
        infos.append(ib)
    assert Z.dtype == pieces[0].dtype
    assert np.array_equal(Z, np.concatenate(pieces))
    # the documented combination of the reports
    assert info.n_iter == max(i.n_iter for i in infos)
    assert info.converged == all(i.converged for i in infos)
    assert info.residual == max(i.residual for i in infos)
    assert info.n_restarts == sum(i.n_restarts for i in infos)
    assert info.lipschitz == max(i.lipschitz for i in infos)
    assert len(info.energies) == info.n_iter + 1
    for k in (0, len(info.energies) - 1):
        want = sum(i.energies[min(k, len(i.energies) - 1)] for i in infos)
        assert info.energies[k] == pytest.approx(want, rel=1e-15)
    assert info.energies[-1] == pytest.approx(csc.energy(X, Z, D, **prior)["total"],
                                              rel=1e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("prior", PRIORS[:2], ids=IDS[:2])
def test_batched_equals_the_unbatched_solution(rng, prior):
    """Convex priors: batches of one sequence and one solve of everything reach the optimum."""
    X, D, _, w = random_problem(rng, B=6, T=5, K=6, M=12)
    kw = dict(max_iter=20000, tol=1e-11, weights=w, **prior)
    Z1, i1 = csc.encode(X, D, return_info=True, **kw)
    Zb, ib = csc.encode(X, D, return_info=True, batch_bytes=1, **kw)
    assert (i1.n_batches, ib.n_batches) == (1, 6)
    assert i1.converged and ib.converged
    np.testing.assert_allclose(Zb, Z1, atol=1e-7 * np.abs(Z1).max())
    e1 = csc.energy(X, Z1, D, weights=w, **prior)["total"]
    eb = csc.energy(X, Zb, D, weights=w, **prior)["total"]
    assert eb == pytest.approx(e1, rel=1e-10)


def test_default_budget_is_one_batch_for_ordinary_sizes(rng):
    X, D, _, _ = random_problem(rng, B=50, T=16, K=32, M=64, dtype=np.float32)
    assert 50 * 16 * solver_bytes_per_frame(32, 64, 4, "cpu") < ENCODE_BATCH_BYTES
    _, info = csc.encode(X, D, max_iter=3, return_info=True)
    assert info.n_batches == 1
