"""The backend seam: choosing CPU or GPU, and the GPU path where a GPU exists (skipped here)."""
import logging

import numpy as np
import pytest
from conftest import random_problem

import csc
from csc.backends import backend
from csc.backends.backend import get_backend, gpu_status

GPU_OK, GPU_WHY = gpu_status()
needs_gpu = pytest.mark.skipif(not GPU_OK, reason=f"no usable GPU: {GPU_WHY}")


def test_cpu_is_numpy_and_numba():
    be = get_backend("cpu")
    assert be.name == "cpu" and be.xp is np
    assert be.ops.code_step is not None and be.ops.recon_step is not None


@pytest.mark.skipif(GPU_OK, reason="a GPU is present: auto picks it")
def test_auto_without_a_gpu_is_the_cpu_and_says_why(caplog, monkeypatch):
    monkeypatch.delenv("CSC_BACKEND", raising=False)
    backend._log_once.cache_clear()
    with caplog.at_level(logging.INFO, logger="csc"):
        assert get_backend("auto").name == "cpu"
    assert any("csc backend: cpu" in r.message for r in caplog.records)
    with pytest.raises(ValueError, match="not available"):
        get_backend("gpu")


def test_environment_variable_overrides_auto(monkeypatch):
    monkeypatch.setenv("CSC_BACKEND", "cpu")
    assert get_backend("auto").name == "cpu"
    monkeypatch.setenv("CSC_BACKEND", "tpu")
    with pytest.raises(ValueError, match="CSC_BACKEND"):
        get_backend("auto")
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("fpga")


@needs_gpu
@pytest.mark.parametrize("prior", [dict(lam=0.3), dict(sparsity="cauchy", lam=0.3),
                                   dict(lam=0.3, slowness="l2", kappa=0.5),
                                   dict(lam=0.3, slowness="l1", kappa=0.5)])
def test_gpu_encode_agrees_with_cpu(rng, prior):
    X, D, _, w = random_problem(rng, B=4, T=16, K=24, M=40, dtype=np.float32)
    kw = dict(weights=w, max_iter=300, tol=1e-6, **prior)
    Zc = csc.encode(X, D, backend="cpu", **kw)
    Zg = csc.encode(X, D, backend="gpu", **kw)
    ec = csc.energy(X, Zc, D, weights=w, **prior)["total"]
    eg = csc.energy(X, Zg, D, weights=w, **prior)["total"]
    assert eg == pytest.approx(ec, rel=1e-4)


@needs_gpu
def test_gpu_learning_recovers_a_planted_dictionary():
    from csc.testing.planted import planted_data, subspace_similarity
    X, D, _ = planted_data(n_components=8, n_features=32, n_sequences=300, n_frames=16)
    kw = dict(lam=0.1, slowness="l1", kappa=0.3, n_updates=100, batch_size=16, random_state=1)
    gpu = csc.ComplexSparseCoding(8, backend="gpu", **kw).fit(X)
    assert subspace_similarity(D, gpu.components_).mean() >= 0.9
