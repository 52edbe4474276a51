"""Build the CUDA kernels without a GPU: PTX for the target architectures, and a host library.

docs/design.md §6: every kernel body in `kernels/*.cu` is a `__host__ __device__` function, and
`kernels/fused.cu` exports for each kernel an `extern "C"` `<name>_host(grid, block, ...)` that
runs all (block, thread) pairs of the launch in sequence. `nvcc -shared` turns that into an
ordinary shared library (no GPU or driver needed to load or run it), which the tests call through
ctypes and compare with the Numba kernels in `csc.backends.cpu`.

- `compile_ptx(arch, out_dir)`: `nvcc -ptx` every `kernels/*.cu` for one architecture.
- `build_host_library(out_dir)`: the host library, cached in `out_dir` by a hash of the kernel
  sources, the nvcc version and the flags, so that repeated calls compile once.
- `host_function(name)` / `host_launcher()`: a kernel's host twin called like CuPy's RawKernel,
  and the typed launcher over them, so `csc.backends.cuda.ops` runs unchanged on NumPy arrays.
- `host_*` helpers for the per-element math (amplitude proxes, TV denoiser).
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
from csc.resources import kernels_dir

#: Architectures the kernels must compile for (A100 and H100/H200).
PTX_ARCHES = tuple(f"sm_{a}" for a in ARCHES)
HOST_LIB_SOURCE = "fused.cu"
HOST_FLAGS = ("-shared", "-Xcompiler", "-fPIC", "-O2", "-x", "cu", *define_options())
#: Host-library builds. "exact": plain IEEE arithmetic. "device": the arithmetic a GPU runs the
#: kernels with, as near as a CPU gets: a·b + c contracted into FMAs (NVRTC's default) and
#: float32 denormals flushed to zero (CuPy appends -ftz=true); the x86 MXCSR flush-to-zero and
#: denormals-are-zero bits are set around each call (they also flush doubles, which a GPU does
#: not: doubles below 2.2e-308 are the one difference). "sanitized": AddressSanitizer and
#: UndefinedBehaviorSanitizer; load it in a process started with LD_PRELOAD of their runtimes
#: (`sanitizer_environment`).
VARIANT_FLAGS: dict[str, tuple[str, ...]] = {
    "exact": (),
    "device": ("-Xcompiler", "-mfma", "-Xcompiler", "-ffp-contract=fast"),
    # one flag per -Xcompiler: nvcc splits its argument at commas
    "sanitized": ("-g", "-Xcompiler", "-fsanitize=address", "-Xcompiler", "-fsanitize=undefined",
                  "-Xcompiler", "-fno-sanitize-recover=all", "-Xcompiler",
                  "-fno-omit-frame-pointer", "-lasan", "-lubsan"),
}
#: MXCSR get/set for the "device" build (x86-64), compiled into the same library.
_FP_MODE_SOURCE = """
extern "C" unsigned csc_host_mxcsr(unsigned set, int write)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned old = __builtin_ia32_stmxcsr();
    if (write)
        __builtin_ia32_ldmxcsr(set);
    return old;
#else
    return 0;
#endif
}
"""
_FTZ_DAZ = 0x8040  # MXCSR flush-to-zero (bit 15) and denormals-are-zero (bit 6)

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

def _source_hash(variant: str = "exact") -> str:
    h = hashlib.sha256()
    for path in sorted([*kernels_dir().glob("*.cu"), *kernels_dir().glob("*.cuh")]):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    h.update(_nvcc_version(_nvcc()).encode())
    h.update(" ".join((*HOST_FLAGS, *VARIANT_FLAGS[variant], _FP_MODE_SOURCE)).encode())
    return h.hexdigest()[:16]


def host_library_file(out_dir: str | os.PathLike, variant: str = "exact") -> Path:
    """The host library of kernels/fused.cu for `variant` (a key of VARIANT_FLAGS) in out_dir,
    compiled unless a build of the same sources, flags and variant is there; not loaded (the
    "sanitized" build is loaded only by a process with the sanitizer runtimes preloaded)."""
    if variant not in VARIANT_FLAGS:
        raise ValueError(f"unknown host-library variant {variant!r}; one of {list(VARIANT_FLAGS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lib_path = out_dir / f"libcsc_fused_host_{variant}_{_source_hash(variant)}.so"
    with _LOAD_LOCK:
        if not lib_path.exists():
            # build under a temporary name, then rename: a concurrent or interrupted build never
            # leaves a truncated library under the final name
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
            os.close(fd)
            # one translation unit: the kernels' source and the MXCSR helper
            unit = Path(tmp).with_suffix(".cu")
            unit.write_text(f'#include "{HOST_LIB_SOURCE}"\n{_FP_MODE_SOURCE}')
            try:
                _run_nvcc([*HOST_FLAGS, *VARIANT_FLAGS[variant], "-I", str(kernels_dir()),
                           str(unit), "-o", tmp])
                os.replace(tmp, lib_path)
            finally:
                for leftover in (tmp, unit):
                    if os.path.exists(leftover):
                        os.unlink(leftover)
    return lib_path


def build_host_library(out_dir: str | os.PathLike, variant: str = "exact") -> ctypes.CDLL:
    """`host_library_file`, loaded (once per process) with its ctypes signatures declared."""
    lib_path = host_library_file(out_dir, variant)
    with _LOAD_LOCK:
        key = str(lib_path)
        if key not in _LOADED:
            lib = ctypes.CDLL(key)
            _declare(lib)
            lib.csc_host_variant = variant
            _LOADED[key] = lib
        return _LOADED[key]


_f32p = ctypes.POINTER(ctypes.c_float)
_f64p = ctypes.POINTER(ctypes.c_double)
_i32p = ctypes.POINTER(ctypes.c_int)
_i64p = ctypes.POINTER(ctypes.c_longlong)
_int = ctypes.c_int
_flt = ctypes.c_float

#: ctypes signatures of the exported per-element test functions (all return void). The kernels'
#: `<name>_host` twins are declared from the parsed source instead (`host_function`).
HOST_SIGNATURES: dict[str, list] = {
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
    lib.csc_host_mxcsr.argtypes = [ctypes.c_uint, ctypes.c_int]
    lib.csc_host_mxcsr.restype = ctypes.c_uint


def call_in_device_arithmetic(lib: ctypes.CDLL, fn, *args) -> None:
    """fn(*args), with flush-to-zero and denormals-are-zero set for the call when `lib` is the
    "device" build (restored afterwards: NumPy in this process keeps IEEE arithmetic)."""
    if getattr(lib, "csc_host_variant", "exact") != "device":
        fn(*args)
        return
    old = lib.csc_host_mxcsr(0, 0)
    lib.csc_host_mxcsr(old | _FTZ_DAZ, 1)
    try:
        fn(*args)
    finally:
        lib.csc_host_mxcsr(old, 1)



def default_library() -> ctypes.CDLL:
    """The host library built in $CSC_KERNEL_CACHE (default ~/.cache/csc/kernels), of the
    variant $CSC_HOST_KERNELS ("exact" unless set; see VARIANT_FLAGS)."""
    cache = os.environ.get("CSC_KERNEL_CACHE") or Path.home() / ".cache" / "csc" / "kernels"
    return build_host_library(cache, os.environ.get("CSC_HOST_KERNELS") or "exact")


def sanitizer_environment() -> dict[str, str]:
    """Environment for a child process that loads the "sanitized" host library: the ASan and
    UBSan runtimes preloaded (Python itself is not instrumented), leaks ignored (Python's own),
    every finding fatal."""
    runtimes = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                              text=True).stdout.strip()
        if not os.path.isabs(path):
            raise FileNotFoundError(f"{name} not found (gcc -print-file-name)")
        runtimes.append(path)
    return {**os.environ, "LD_PRELOAD": " ".join(runtimes), "CSC_HOST_KERNELS": "sanitized",
            "PYTHONMALLOC": "malloc",  # objects from malloc, which ASan watches
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:verify_asan_link_order=0",
            "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}


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


# ------------------------------------------------------------------------------------------------
# the kernels' host twins, called like CuPy's RawKernel

_CTYPES = {"float32": ctypes.c_float, "float64": ctypes.c_double, "int32": ctypes.c_int,
           "int64": ctypes.c_longlong}


def host_function(name: str, lib: ctypes.CDLL | None = None):
    """Kernel `name`'s host twin `<name>_host(int grid, int block, ...)` as a callable
    `f(grid: (g,), block: (b,), args: tuple, shared_mem=0)`, the calling convention of CuPy's
    RawKernel. Argument types come from the kernel's parameter list in the source: each array a
    C-contiguous NumPy array of the parameter's dtype, each scalar a NumPy scalar of exactly the
    parameter's type (what the launcher passes); anything else is a TypeError."""
    from csc.backends.cuda.signatures import parse_kernel_signatures
    from csc.backends.cuda.source import kernel_source

    decl = parse_kernel_signatures(kernel_source()).get(name)
    if decl is None:
        raise KeyError(f"no kernel {name!r} in the CUDA source")
    lib = lib or default_library()
    fn = getattr(lib, f"{name}_host")
    fn.argtypes = [_int, _int, *(_PTR[np.dtype(p.ctype[:-1])] if p.ctype.endswith("*")
                                  else _CTYPES[p.ctype] for p in decl.params)]
    fn.restype = None

    def call(grid: tuple, block: tuple, args: tuple, shared_mem: int = 0) -> None:
        if len(args) != len(decl.params):
            raise TypeError(f"{name}: {len(args)} arguments for {len(decl.params)} parameters")
        converted = []
        for p, a in zip(decl.params, args):
            if p.ctype.endswith("*"):
                converted.append(_ptr(p.name, a, p.ctype[:-1]))
            elif type(a) is not np.dtype(p.ctype).type:
                raise TypeError(f"{name}: parameter {p.name!r} ({p.ctype}) got "
                                f"{type(a).__name__}")
            else:
                converted.append(a.item())
        (g,), (b,) = grid, block
        call_in_device_arithmetic(lib, fn, _int32("grid", g), _int32("block", b, minimum=1),
                                  *converted)

    return call


def host_launcher(lib: ctypes.CDLL | None = None):
    """The typed `Launcher` over the host twins, on NumPy arrays: what `csc.backends.cuda.ops`
    launches, run on the CPU (`monkeypatch.setattr(ops, "get_launcher", lambda: launcher)`)."""
    from csc.backends.cuda.launcher import Launcher

    lib = lib or default_library()
    return Launcher(lambda name: host_function(name, lib), array_type=np.ndarray)


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
