"""Build the CUDA kernels without a GPU: PTX for the target architectures, and a host library.

docs/design.md §6: every kernel body in `kernels/*.cu` is a `__host__ __device__` function, and
`kernels/fused.cu` exports for each kernel an `extern "C"` `<name>_host(grid, block, ...)` that
runs all (block, thread) pairs of the launch in sequence. `nvcc -shared` turns that into an
ordinary shared library (no GPU or driver needed to load or run it), which the tests call through
ctypes and compare with the Numba kernels in `csc.backends.cpu`.

- `compile_ptx(arch, out_dir)`: `nvcc -ptx` every `kernels/*.cu` for one architecture.
- `build_host_library(out_dir)`: the host library, cached in `out_dir` by a hash of the kernel
  sources, the nvcc version and the flags, so that repeated calls compile once.
- `host_*` wrappers: check NumPy arguments (dtype, C-contiguity, shapes) and call the `*_host`
  functions with explicit ctypes types.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from csc.backends.cuda.source import ARCHES, define_options
from csc.core.priors import SLOW_L2, SLOW_NONE, SPARSITY_CODE
from csc.resources import kernels_dir

#: Architectures the kernels must compile for (A100 and H100/H200).
PTX_ARCHES = tuple(f"sm_{a}" for a in ARCHES)
HOST_LIB_SOURCE = "fused.cu"
HOST_FLAGS = ("-shared", "-Xcompiler", "-fPIC", "-O2", "-x", "cu", *define_options())
#: Threads per block used by the host wrappers unless told otherwise.
DEFAULT_BLOCK = 128

_INT32_MAX = 2**31 - 1
_LOAD_LOCK = threading.Lock()
_LOADED: dict[str, ctypes.CDLL] = {}


class NvccError(RuntimeError):
    """nvcc failed; the message holds its command line and stderr."""


# ------------------------------------------------------------------------------------------------
# nvcc

def nvcc_path() -> str | None:
    """Path of nvcc: $PATH first, then $CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root:
            candidate = Path(root) / "bin" / "nvcc"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def nvcc_available() -> bool:
    return nvcc_path() is not None


def _nvcc() -> str:
    path = nvcc_path()
    if path is None:
        raise NvccError("nvcc not found (looked in PATH, $CUDA_HOME/bin, $CUDA_PATH/bin, "
                        "/usr/local/cuda/bin)")
    return path


def _run_nvcc(args: Sequence[str]) -> None:
    cmd = [_nvcc(), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NvccError(f"nvcc failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                        f"{proc.stderr.strip() or proc.stdout.strip()}")


@functools.lru_cache(maxsize=None)
def _nvcc_version(path: str) -> str:
    return subprocess.run([path, "--version"], capture_output=True, text=True).stdout


def kernel_sources() -> list[Path]:
    """Every kernels/*.cu, sorted."""
    return sorted(kernels_dir().glob("*.cu"))


def _normalise_arch(arch: str) -> str:
    match = re.fullmatch(r"(?:sm_|compute_)?(\d{2,3}[a-z]?)", str(arch).strip())
    if match is None:
        raise ValueError(f"unrecognised CUDA architecture {arch!r}; expected e.g. 'sm_80'")
    return f"sm_{match.group(1)}"


def compile_ptx(arch: str, out_dir: str | os.PathLike,
                sources: Iterable[str | os.PathLike] | None = None) -> list[Path]:
    """`nvcc -ptx -arch=<arch>` on every kernels/*.cu (or on `sources`); returns the .ptx paths
    (`<stem>.<arch>.ptx` in out_dir). Raises NvccError with nvcc's stderr on failure."""
    arch = _normalise_arch(arch)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    srcs = [Path(s) for s in sources] if sources is not None else kernel_sources()
    if not srcs:
        raise NvccError(f"no .cu sources to compile (looked in {kernels_dir()})")
    outs = []
    for src in srcs:
        out = out_dir / f"{src.stem}.{arch}.ptx"
        _run_nvcc(["-ptx", f"-arch={arch}", *define_options(), "-I", str(kernels_dir()), str(src),
                   "-o", str(out)])
        outs.append(out)
    return outs


# ------------------------------------------------------------------------------------------------
# host library

def _source_hash() -> str:
    h = hashlib.sha256()
    for path in sorted([*kernels_dir().glob("*.cu"), *kernels_dir().glob("*.cuh")]):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    h.update(_nvcc_version(_nvcc()).encode())
    h.update(" ".join(HOST_FLAGS).encode())
    return h.hexdigest()[:16]


def build_host_library(out_dir: str | os.PathLike) -> ctypes.CDLL:
    """Compile kernels/fused.cu (host emulation of every kernel) into a shared library in
    out_dir, reusing a previous build of the same sources, and load it with its ctypes
    signatures declared."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lib_path = out_dir / f"libcsc_fused_host_{_source_hash()}.so"
    with _LOAD_LOCK:
        key = str(lib_path)
        if key in _LOADED and lib_path.exists():
            return _LOADED[key]
        if not lib_path.exists():
            # build under a temporary name, then rename: a concurrent or interrupted build never
            # leaves a truncated library under the final name
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
            os.close(fd)
            try:
                _run_nvcc([*HOST_FLAGS, "-I", str(kernels_dir()),
                           str(kernels_dir() / HOST_LIB_SOURCE), "-o", tmp])
                os.replace(tmp, lib_path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        lib = ctypes.CDLL(str(lib_path))
        _declare(lib)
        _LOADED[key] = lib
        return lib


_f32p = ctypes.POINTER(ctypes.c_float)
_f64p = ctypes.POINTER(ctypes.c_double)
_i32p = ctypes.POINTER(ctypes.c_int)
_i64p = ctypes.POINTER(ctypes.c_longlong)
_int = ctypes.c_int
_flt = ctypes.c_float

#: ctypes signatures of the exported host functions (all return void).
HOST_SIGNATURES: dict[str, list] = {
    "csc_code_step_pointwise_host": [
        _int, _int, _f32p, _f32p, _f32p, _f32p, _f32p, _int, _int, _int,
        _flt, _flt, _flt, _flt, _flt, _int, _int, _f64p],
    "csc_code_step_chain_host": [
        _int, _int, _f32p, _f32p, _f32p, _f32p, _f32p, _f32p, _f32p, _int, _int, _int,
        _flt, _flt, _flt, _flt, _f64p],
    "csc_recon_step_host": [
        _int, _int, _f32p, _f32p, _f32p, _f32p, _flt, _f32p, _f64p, _int, _int, _int],
    "csc_sample_patches_host": [
        _int, _int, _f32p, _i64p, _i32p, _i32p, _i32p, _i32p, _i32p, _i32p, _f32p,
        _int, _int, _int],
    "csc_soft_amplitude_array_host": [_f32p, _f32p, _f32p, _int],
    "csc_gauss_amplitude_array_host": [_f32p, _f32p, _f32p, _int],
    "csc_cauchy_amplitude_array_host": [_f64p, _f64p, _f64p, _f64p, _int],
    "csc_tv_denoise_host": [_f32p, _f32p, _int, _int, _flt],
}


def _declare(lib: ctypes.CDLL) -> None:
    for name, argtypes in HOST_SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = None



def default_library() -> ctypes.CDLL:
    """The host library built in $CSC_KERNEL_CACHE (default ~/.cache/csc/kernels)."""
    cache = os.environ.get("CSC_KERNEL_CACHE") or Path.home() / ".cache" / "csc" / "kernels"
    return build_host_library(cache)


# ------------------------------------------------------------------------------------------------
# argument checks

_PTR = {np.dtype(np.float32): _f32p, np.dtype(np.float64): _f64p,
        np.dtype(np.int32): _i32p, np.dtype(np.int64): _i64p}


def _ptr(name: str, a, dtype, *, writable: bool = False, size: int | None = None,
         shape: tuple | None = None):
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(a).__name__}")
    dtype = np.dtype(dtype)
    if a.dtype != dtype:
        raise ValueError(f"{name}: dtype must be {dtype}, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous")
    if writable and not a.flags.writeable:
        raise ValueError(f"{name}: must be writable")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name}: shape must be {tuple(shape)}, got {a.shape}")
    if size is not None and a.size != size:
        raise ValueError(f"{name}: must have {size} elements, got {a.size}")
    return a.ctypes.data_as(_PTR[dtype])


def _int32(name: str, value, minimum: int = 0) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    value = int(value)
    if not minimum <= value <= _INT32_MAX:
        raise ValueError(f"{name}: {value} outside [{minimum}, {_INT32_MAX}]")
    return value


def _launch_shape(threads: int, block: int) -> tuple[int, int]:
    block = _int32("block", block, minimum=1)
    grid = -(-threads // block)
    if grid > _INT32_MAX:
        raise ValueError(f"{threads} threads need more than 2^31 - 1 blocks of {block}")
    return grid, block


def _codes_shape(Y, n_frames: int) -> tuple[int, int, int]:
    if not isinstance(Y, np.ndarray) or Y.ndim != 2 or Y.shape[1] % 2:
        raise ValueError("Y: expected a (N, 2K) numpy array")
    N, K2 = Y.shape
    n_frames = _int32("n_frames", n_frames, minimum=1)
    if N % n_frames:
        raise ValueError(f"Y: {N} rows are not a multiple of n_frames={n_frames}")
    n_seq, K = N // n_frames, K2 // 2
    if n_seq * K > _INT32_MAX or N * K2 > 2**62:
        raise ValueError("problem too large for 32-bit thread indices")
    return n_seq, n_frames, K


# ------------------------------------------------------------------------------------------------
# wrappers

def host_code_step_pointwise(Y, G, X_old, X_new, Y_new, n_frames, tau, beta, lam, sigma, kappa,
                             sparsity, slowness, partials, *, block: int = DEFAULT_BLOCK,
                             lib: ctypes.CDLL | None = None) -> np.ndarray:
    """Host emulation of csc_code_step_pointwise. Codes float32 (N, 2K); partials float64 with
    n_seq·K·4 elements (per chain c = b·K + k), written and returned."""
    if sparsity not in SPARSITY_CODE.values() or slowness not in (SLOW_NONE, SLOW_L2):
        raise ValueError(f"pointwise kernel: sparsity {sparsity!r} / slowness {slowness!r} not "
                         "supported (l1 slowness goes through host_code_step_chain)")
    n_seq, n_frames, K = _codes_shape(Y, n_frames)
    shape = Y.shape
    lib = lib or default_library()
    grid, block = _launch_shape(n_seq * K, block)
    lib.csc_code_step_pointwise_host(
        grid, block, _ptr("Y", Y, np.float32), _ptr("G", G, np.float32, shape=shape),
        _ptr("X_old", X_old, np.float32, shape=shape),
        _ptr("X_new", X_new, np.float32, writable=True, shape=shape),
        _ptr("Y_new", Y_new, np.float32, writable=True, shape=shape),
        n_seq, n_frames, K, float(tau), float(beta), float(lam), float(sigma), float(kappa),
        int(sparsity), int(slowness),
        _ptr("partials", partials, np.float64, writable=True, size=n_seq * K * 4))
    return partials


def host_code_step_chain(Y, G, X_old, X_new, Y_new, scratch_r, scratch_s, n_frames, tau, beta,
                         lam, kappa, partials, *, block: int = DEFAULT_BLOCK,
                         lib: ctypes.CDLL | None = None) -> np.ndarray:
    """Host emulation of csc_code_step_chain (l1 sparsity + TV slowness). scratch_r, scratch_s:
    float32 with N·K elements; partials float64 with n_seq·K·4 elements, written and returned."""
    n_seq, n_frames, K = _codes_shape(Y, n_frames)
    shape = Y.shape
    N = n_seq * n_frames
    lib = lib or default_library()
    grid, block = _launch_shape(n_seq * K, block)
    lib.csc_code_step_chain_host(
        grid, block, _ptr("Y", Y, np.float32), _ptr("G", G, np.float32, shape=shape),
        _ptr("X_old", X_old, np.float32, shape=shape),
        _ptr("X_new", X_new, np.float32, writable=True, shape=shape),
        _ptr("Y_new", Y_new, np.float32, writable=True, shape=shape),
        _ptr("scratch_r", scratch_r, np.float32, writable=True, size=N * K),
        _ptr("scratch_s", scratch_s, np.float32, writable=True, size=N * K),
        n_seq, n_frames, K, float(tau), float(beta), float(lam), float(kappa),
        _ptr("partials", partials, np.float64, writable=True, size=n_seq * K * 4))
    return partials


def host_recon_step(X, R_new, R_old, w, beta, E_y, col_energy, rows_per_tile, *,
                    block: int = DEFAULT_BLOCK, lib: ctypes.CDLL | None = None) -> np.ndarray:
    """Host emulation of csc_recon_step. X, R_new, R_old, E_y: float32 (N, M); w: float32 (M,);
    col_energy: float64 with ceil(N / rows_per_tile)·M elements, written and returned."""
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        raise ValueError("X: expected a (N, M) numpy array")
    N, M = (_int32("N", X.shape[0]), _int32("M", X.shape[1]))
    rows_per_tile = _int32("rows_per_tile", rows_per_tile, minimum=1)
    n_tiles = -(-N // rows_per_tile)
    lib = lib or default_library()
    grid, block = _launch_shape(n_tiles * M, block)
    lib.csc_recon_step_host(
        grid, block, _ptr("X", X, np.float32), _ptr("R_new", R_new, np.float32, shape=X.shape),
        _ptr("R_old", R_old, np.float32, shape=X.shape), _ptr("w", w, np.float32, shape=(M,)),
        float(beta), _ptr("E_y", E_y, np.float32, writable=True, shape=X.shape),
        _ptr("col_energy", col_energy, np.float64, writable=True, size=n_tiles * M),
        N, M, rows_per_tile)
    return col_energy


def host_sample_patches(frames, clip_offset, clip_h, clip_w, which, t0, y0, x0, out, *,
                        block: int = DEFAULT_BLOCK, lib: ctypes.CDLL | None = None) -> np.ndarray:
    """Host emulation of csc_sample_patches. frames: float32 (clips concatenated flat);
    clip_offset: int64, clip_h/clip_w: int32 per clip; which/t0/y0/x0: int32 per sequence;
    out: float32 (n_sequences, n_frames, patch, patch), written and returned. Windows are checked
    to lie inside their clips (the kernel does not check)."""
    if not isinstance(out, np.ndarray) or out.ndim != 4 or out.shape[2] != out.shape[3]:
        raise ValueError("out: expected a (n_sequences, n_frames, patch, patch) numpy array")
    n_seq, n_frames, patch = (_int32(n, v) for n, v in zip(("n_sequences", "n_frames", "patch"),
                                                           out.shape[:3]))
    n_clips = clip_offset.size if isinstance(clip_offset, np.ndarray) else 0
    ptrs = [_ptr("frames", frames, np.float32), _ptr("clip_offset", clip_offset, np.int64),
            _ptr("clip_h", clip_h, np.int32, size=n_clips),
            _ptr("clip_w", clip_w, np.int32, size=n_clips),
            _ptr("which", which, np.int32, size=n_seq), _ptr("t0", t0, np.int32, size=n_seq),
            _ptr("y0", y0, np.int32, size=n_seq), _ptr("x0", x0, np.int32, size=n_seq)]
    if n_seq:
        if which.min() < 0 or which.max() >= n_clips:
            raise ValueError("which: clip index out of range")
        c = which
        end = (clip_offset[c] + ((t0 + n_frames - 1).astype(np.int64) * clip_h[c]
                                 + y0 + patch - 1) * clip_w[c] + x0 + patch - 1)
        if (min(t0.min(), y0.min(), x0.min()) < 0 or (y0 + patch > clip_h[c]).any()
                or (x0 + patch > clip_w[c]).any() or (end >= frames.size).any()):
            raise ValueError("a patch window lies outside its clip")
    lib = lib or default_library()
    grid, block = _launch_shape(out.size, block)
    lib.csc_sample_patches_host(grid, block, *ptrs,
                                _ptr("out", out, np.float32, writable=True), n_seq, n_frames,
                                patch)
    return out


def _float32_amplitude(name: str, r, t, lib: ctypes.CDLL | None) -> np.ndarray:
    """Call the exported `name(const float* r, const float* t, float* out, int n)` on r, t
    broadcast to one shape as float32; returns out, float32 of that shape."""
    r, t = (np.ascontiguousarray(a, dtype=np.float32) for a in np.broadcast_arrays(r, t))
    out = np.empty_like(r)
    getattr(lib or default_library(), name)(
        _ptr("r", r, np.float32), _ptr("t", t, np.float32), _ptr("out", out, np.float32),
        _int32("n", r.size))
    return out


def host_soft_amplitude(r, t, *, lib: ctypes.CDLL | None = None) -> np.ndarray:
    """csc_soft_amplitude elementwise on float32 arrays (broadcast)."""
    return _float32_amplitude("csc_soft_amplitude_array_host", r, t, lib)


def host_gauss_amplitude(r, t, *, lib: ctypes.CDLL | None = None) -> np.ndarray:
    """csc_gauss_amplitude elementwise on float32 arrays (broadcast): r / (1 + t)."""
    return _float32_amplitude("csc_gauss_amplitude_array_host", r, t, lib)


def host_cauchy_amplitude(r, t, sigma, *, lib: ctypes.CDLL | None = None) -> np.ndarray:
    """csc_cauchy_amplitude elementwise on float64 arrays (broadcast)."""
    r, t, sigma = (np.ascontiguousarray(a, dtype=np.float64)
                   for a in np.broadcast_arrays(r, t, sigma))
    out = np.empty_like(r)
    (lib or default_library()).csc_cauchy_amplitude_array_host(
        _ptr("r", r, np.float64), _ptr("t", t, np.float64), _ptr("sigma", sigma, np.float64),
        _ptr("out", out, np.float64), _int32("n", r.size))
    return out


def host_tv_denoise(y, out, n, lam, stride: int = 1, *,
                    lib: ctypes.CDLL | None = None) -> np.ndarray:
    """csc_tv_denoise on elements y[0], y[stride], …, y[(n-1)·stride] of a flat float32 buffer,
    into the same positions of `out` (which may be y itself)."""
    n = _int32("n", n)
    stride = _int32("stride", stride, minimum=1)
    need = (n - 1) * stride + 1 if n else 0
    for name, a in (("y", y), ("out", out)):
        if not isinstance(a, np.ndarray) or a.size < need:
            raise ValueError(f"{name}: needs at least {need} elements")
    (lib or default_library()).csc_tv_denoise_host(
        _ptr("y", y, np.float32), _ptr("out", out, np.float32, writable=True), n, stride,
        float(lam))
    return out
