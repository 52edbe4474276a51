"""The strict CuPy stand-in refuses what CuPy refuses and accepts what it accepts."""
import sys

import numpy as np
import pytest
from conftest import toolchain_missing

from csc.backends.backend import array_module, get_backend, to_numpy
from csc.backends.cuda.source import NVRTC_OPTIONS, find_nvrtc, kernel_source
from csc.testing.host_kernels import nvcc_available
from csc.testing.strict_cupy import install, ndarray

IMPLICIT = "Implicit conversion to a NumPy array is not allowed"


@pytest.fixture
def cp():
    with install() as mod:
        yield mod


def test_install_puts_it_in_sys_modules_and_restores(cp):
    import cupy

    assert cupy is cp and sys.modules["cupy.cuda"] is cp.cuda
    assert get_backend("gpu").xp is cp
    x = cp.zeros(3)
    assert array_module(x) is cp and array_module(np.zeros(3)) is np
    assert isinstance(to_numpy(x), np.ndarray)


def test_uninstalled_afterwards():
    before = sys.modules.get("cupy")
    with install():
        pass
    assert sys.modules.get("cupy") is before


def test_no_implicit_conversion(cp):
    x = cp.arange(4.0)
    for convert in (np.asarray, np.array, np.ascontiguousarray, lambda a: np.ones(4) + a):
        with pytest.raises(TypeError):
            convert(x)
    with pytest.raises(TypeError, match=IMPLICIT):
        np.asarray(x)
    assert isinstance(x.get(), np.ndarray) and isinstance(cp.asnumpy(x), np.ndarray)


def test_mixing_with_numpy_arrays_is_refused(cp):
    x, h = cp.ones(3, np.float32), np.ones(3, np.float32)
    for mix in (lambda: x + h, lambda: h + x, lambda: x * h, lambda: np.add(x, h),
                lambda: cp.add(x, h), lambda: cp.stack([x, h]), lambda: np.concatenate([x, h]),
                lambda: cp.matmul(x, h), lambda: np.fft.fft(x) * h, lambda: cp.hypot(x, [1, 2, 3]),
                lambda: cp.where(x > 0, x, h)):
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        x[...] = h
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        x[:] = h


def test_what_cupy_accepts(cp):
    x = cp.arange(6, dtype=np.float32).reshape(2, 3)
    x[np.array([0])] = np.full((1, 3), 7, np.float32)  # advanced indexing copies host values in
    x[1, ...] = np.float32(2.0)
    x[1, 0] = np.asarray(5.0)  # a 0-d NumPy array fills
    assert to_numpy(x).tolist() == [[7, 7, 7], [5, 2, 2]]
    assert isinstance(cp.sum(np.ones(3)), np.floating)  # CuPy forwards to the array's method
    s = x.sum()
    assert isinstance(s, ndarray) and s.shape == () and float(s) == 30.0
    assert isinstance(x[0, 0], ndarray) and x[0, 0].shape == ()
    v = x[0]
    v[...] = 1  # views write through
    assert to_numpy(x)[0].tolist() == [1, 1, 1]
    assert isinstance(np.sum(x), ndarray) and isinstance(np.hypot(x, x), ndarray)
    assert isinstance(np.fft.fft2(x), ndarray) and isinstance(np.iscomplexobj(x), bool)
    assert bool(np.all(np.isfinite(x))) and int(x.max()) == 5
    assert isinstance(np.float32(2) * x, ndarray) and isinstance(2.0 - x, ndarray)
    out = cp.empty((2, 2), np.float32)
    assert cp.matmul(x, x.T, out=out) is out
    assert cp.asarray(x) is x and cp.asarray(np.ones(2)).dtype == np.float64
    with pytest.raises(TypeError):
        np.nanpercentile(x, 50)  # no cupy.nanpercentile: CuPy has nothing to dispatch to


# --------------------------------------------------------------------------- kernels


@pytest.fixture
def recon(cp):
    if not nvcc_available():
        toolchain_missing("nvcc not found: the stand-in's kernels run the host emulation")
    module = cp.RawModule(code=kernel_source(), options=NVRTC_OPTIONS)
    return module.get_function("csc_recon_step")


def _recon_args(cp, N=5, M=3):
    rng = np.random.default_rng(0)
    X, R_new, R_old = (cp.asarray(rng.standard_normal((N, M)), np.float32) for _ in range(3))
    w = cp.asarray(rng.uniform(0.5, 2, M), np.float32)
    E_y, partials = cp.empty((N, M), np.float32), cp.empty((1,), np.float64)
    return [X, R_new, R_old, w, np.float32(0.5), E_y, np.int32(N), np.int32(M), np.int32(N),
            partials]


def test_a_correct_launch_runs_the_kernel(cp, recon):
    args = _recon_args(cp)
    recon((1,), (128,), tuple(args))
    X, R_new, R_old, w = (to_numpy(a) for a in args[:4])
    expected = w * (R_new + 0.5 * (R_new - R_old) - X)
    np.testing.assert_allclose(to_numpy(args[5]), expected, rtol=1e-6)
    assert float(args[9].sum()) == pytest.approx(0.5 * np.sum(w * (X - R_new) ** 2), rel=1e-5)


@pytest.mark.parametrize("position, value, fragment", [
    (4, 0.5, "needs numpy.float32"),  # CuPy passes a Python float as a double
    (4, np.float64(0.5), "needs numpy.float32"),
    (7, 5, "needs numpy.int32"),  # and a Python int as 64 bits
    (7, np.int64(5), "needs numpy.int32"),
    (0, "numpy", "Unsupported type"),  # a host array as a pointer
    (3, "float64", "float32"),
    (0, "strided", "C-contiguous"),
])
def test_bad_arguments_are_refused(cp, recon, position, value, fragment):
    args = _recon_args(cp)
    if value == "numpy":
        value = args[position].get()
    elif value == "float64":
        value = args[position].astype(np.float64)
    elif value == "strided":
        value = cp.empty((3, 5), np.float32).T
    args[position] = value
    with pytest.raises(TypeError, match=fragment):
        recon((1,), (128,), tuple(args))
    with pytest.raises(TypeError, match="arguments for"):
        recon((1,), (128,), tuple(_recon_args(cp)[:-1]))


def test_launch_shape_and_shared_memory_limits(cp, recon):
    from csc.testing.strict_cuda import CUDADriverError

    args = tuple(_recon_args(cp))
    for grid, block in (((1,), (2048,)), ((1,), (32, 32, 2)), ((0,), (128,)),
                        ((1,), (1, 1, 128)), ((1, 70000), (32,))):
        with pytest.raises(CUDADriverError, match="CUDA_ERROR_INVALID_VALUE"):
            recon(grid, block, args)
    with pytest.raises(CUDADriverError, match="shared_mem"):
        recon((1,), (128,), args, shared_mem=64 * 1024)
    recon((1,), (128,), args, shared_mem=48 * 1024)
    recon.max_dynamic_shared_size_bytes = 64 * 1024  # the opt-in CUDA asks for above 48 KiB
    recon((1,), (128,), args, shared_mem=64 * 1024)
    with pytest.raises(CUDADriverError):
        recon.max_dynamic_shared_size_bytes = 300 * 1024


def test_compile_errors_and_unknown_kernels(cp):
    from csc.testing.strict_cuda import CompileException, CUDADriverError

    if find_nvrtc() is not None:
        bad = cp.RawModule(code='extern "C" __global__ void k(float* x) { x[0] = y; }')
        with pytest.raises(CompileException):
            bad.get_function("k")
    module = cp.RawModule(code=kernel_source(), options=NVRTC_OPTIONS)
    with pytest.raises(CUDADriverError, match="named symbol not found"):
        module.get_function("no_such_kernel")
