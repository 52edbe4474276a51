"""The backend seam: choosing CPU or GPU, and the GPU path where a GPU exists (skipped here)."""
import logging

import numpy as np
import pytest
from conftest import gpu_missing, random_problem

import csc
from csc.backends import backend
from csc.backends.backend import get_backend, gpu_status

GPU_OK, GPU_WHY = gpu_status()


@pytest.fixture
def gpu():
    """A test that needs a real GPU: skipped without one, failed under CSC_REQUIRE_GPU=1."""
    if not GPU_OK:
        gpu_missing(f"no usable GPU: {GPU_WHY}")


def test_cpu_is_numpy_and_numba():
    """The CPU backend's array module is NumPy and its ops are the Numba passes: a code step
    with a zero gradient is the l1 prox of the codes, amplitudes shrunk by τλ, phases kept."""
    from csc.backends.cpu import fused
    from csc.priors import SLOW_NONE, SPARSE_L1

    be = get_backend("cpu")
    assert be.name == "cpu" and be.xp is np and be.ops is fused
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((6, 10))
    X_new, Y_new = np.empty_like(Y), np.empty_like(Y)
    be.ops.code_step(Y, np.zeros_like(Y), Y, X_new, Y_new, 3, 0.5, 0.0, 1.2, 0.4, 0.0,
                     SPARSE_L1, SLOW_NONE, np.empty((2, 4)))
    z = Y[:, :5] + 1j * Y[:, 5:]
    want = np.maximum(np.abs(z) - 0.6, 0) * np.exp(1j * np.angle(z))
    np.testing.assert_allclose(X_new[:, :5] + 1j * X_new[:, 5:], want, atol=1e-12)
    assert 0 < np.mean(want == 0) < 1


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


@pytest.mark.gpu
@pytest.mark.parametrize("prior", [dict(lam=0.3), dict(sparsity="cauchy", lam=0.3),
                                   dict(lam=0.3, slowness="l2", kappa=0.5),
                                   dict(lam=0.3, slowness="l1", kappa=0.5)])
def test_gpu_encode_agrees_with_cpu(gpu, rng, prior):
    X, D, _, w = random_problem(rng, B=4, T=16, K=24, M=40, dtype=np.float32)
    kw = dict(weights=w, max_iter=300, tol=1e-6, **prior)
    Zc = csc.encode(X, D, backend="cpu", **kw)
    Zg = csc.encode(X, D, backend="gpu", **kw)
    ec = csc.energy(X, Zc, D, weights=w, **prior)["total"]
    eg = csc.energy(X, Zg, D, weights=w, **prior)["total"]
    assert eg == pytest.approx(ec, rel=1e-4)


@pytest.mark.gpu
def test_gpu_learning_recovers_a_planted_dictionary(gpu):
    from csc.testing.planted import planted_data, subspace_similarity
    X, D, _ = planted_data(n_components=8, n_features=32, n_sequences=300, n_frames=16)
    kw = dict(lam=0.1, slowness="l1", kappa=0.3, n_updates=100, batch_size=16, random_state=1)
    gpu = csc.ComplexSparseCoding(8, backend="gpu", **kw).fit(X)
    assert subspace_similarity(D, gpu.components_).mean() >= 0.9


@pytest.mark.gpu
@pytest.mark.parametrize("sparsity, slowness", [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (0, 2)])
def test_gpu_kernels_agree_with_their_host_twins(gpu, tmp_path, sparsity, slowness):
    """The device's arithmetic against the host emulation of the same kernels, code by code (on
    a GPU machine: what the tests here can only approximate with the device-like host build)."""
    import cupy

    from csc.backends.cuda import ops
    from csc.testing import host_kernels as hb
    n_seq, T, K = 7, 13, 45
    rng = np.random.default_rng([sparsity, slowness])
    Y, G, X_old = (rng.standard_normal((n_seq * T, 2 * K)).astype(np.float32) for _ in range(3))
    args = (T, 0.3, 0.7, 0.5, 0.1, 0.8, sparsity, slowness)
    shape = ops.code_partials_shape(n_seq, T, K, slowness)
    dev = [cupy.empty(Y.shape, np.float32), cupy.empty(Y.shape, np.float32), cupy.empty(shape)]
    ops.code_step(*(cupy.asarray(a) for a in (Y, G, X_old)), dev[0], dev[1], *args, dev[2])
    host = [np.empty_like(Y), np.empty_like(Y), np.empty(shape)]
    launcher = hb.host_launcher(hb.build_host_library(tmp_path, "device"))
    real = ops.get_launcher
    ops.get_launcher = lambda: launcher
    try:
        ops.code_step(Y, G, X_old, host[0], host[1], *args, host[2])
    finally:
        ops.get_launcher = real
    for d, h in zip(dev, host):
        np.testing.assert_allclose(d.get(), h, rtol=1e-5, atol=1e-6)


def test_require_gpu_turns_skips_into_failures(tmp_path):
    """CSC_REQUIRE_GPU=1: a GPU test without a GPU fails instead of skipping."""
    import os
    import subprocess
    import sys

    if GPU_OK:
        pytest.skip("a GPU is here: the GPU tests run")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
           "planted_dictionary", __file__]
    env = {k: v for k, v in os.environ.items() if k != "CSC_REQUIRE_GPU"}
    skipped = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout
    failed = subprocess.run(cmd, capture_output=True, text=True,
                            env={**env, "CSC_REQUIRE_GPU": "1"})
    assert failed.returncode != 0 and "CSC_REQUIRE_GPU=1 but no usable GPU" in failed.stdout
