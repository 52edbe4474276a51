"""`auto` picks the GPU only when the GPU path works: CuPy wheels bundle neither NVRTC nor cuBLAS,
so a machine with only the driver sees a device but fails at the first kernel or matmul. Each
step of the check fails in turn here, on the strict CuPy stand-in."""
import logging

import pytest
from conftest import toolchain_missing

from csc.backends import backend
from csc.backends.cuda import ops
from csc.testing.host_kernels import nvcc_available
from csc.testing.strict_cupy import install

if not nvcc_available():
    toolchain_missing("nvcc not found: the stand-in's kernels run the host emulation")


@pytest.fixture
def cupy(monkeypatch):
    monkeypatch.delenv("CSC_BACKEND", raising=False)
    with install() as mod:
        yield mod


def test_a_working_gpu_is_picked_and_checked_once(cupy, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="csc"):
        assert backend.get_backend("auto").name == "gpu"
    assert "kernels and cuBLAS checked" in caplog.text
    monkeypatch.setattr(ops, "_probe", lambda: pytest.fail("probed twice"))
    assert ops.available()[0]


def test_without_nvrtc_auto_falls_back_and_says_why(cupy, monkeypatch, caplog):
    def no_nvrtc(*args, **kwargs):
        raise RuntimeError("CuPy failed to load libnvrtc.so.12: cannot open shared object file")

    monkeypatch.setattr(cupy, "RawModule", no_nvrtc)
    with caplog.at_level(logging.INFO, logger="csc"):
        assert backend.get_backend("auto").name == "cpu"
    assert "kernels do not compile or run" in caplog.text and "libnvrtc" in caplog.text
    assert "nvidia-cuda-nvrtc-cu12" in caplog.text
    with pytest.raises(ValueError, match="backend='gpu' is not available: .*libnvrtc"):
        backend.get_backend("gpu")


def test_without_cublas_auto_falls_back_and_says_why(cupy, monkeypatch):
    def no_cublas(*args, **kwargs):
        raise ImportError("libcublas.so.12: cannot open shared object file")

    monkeypatch.setattr(cupy, "matmul", no_cublas)
    monkeypatch.setattr(cupy.ndarray, "__matmul__", no_cublas)
    ok, why = ops.available()
    assert not ok and "matrix product fails" in why and "libcublas" in why
    assert "nvidia-cublas-cu12" in why
    assert backend.get_backend("auto").name == "cpu"


def test_a_kernel_giving_wrong_values_is_not_trusted(cupy, monkeypatch):
    real_zeros = cupy.zeros
    monkeypatch.setattr(cupy, "zeros", lambda *a, **k: real_zeros(*a, **k) + 1.0)
    launcher = ops.get_launcher()
    monkeypatch.setattr(launcher, "launch", lambda launch: launch)  # "runs", does nothing
    ok, why = ops.available()
    assert not ok and "gave [1.0, 1.0, 1.0]" in why


def test_no_device(cupy, monkeypatch):
    monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", lambda: 0)
    assert ops.available() == (False, "CuPy imports but no CUDA device is present")
