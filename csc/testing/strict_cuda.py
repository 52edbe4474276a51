"""The `cupy.cuda` part of the strict CuPy stand-in (`csc.testing.strict_cupy`): one device,
streams, and `RawModule` whose kernels are checked as CUDA and CuPy check a launch, then run by
the host emulation of `csc.testing.host_kernels`.

A kernel call `f(grid, block, args, shared_mem=0)`:
1. grid and block as CUDA takes them: 1 to 3 positive ints each; block x, y ≤ 1024, z ≤ 64,
   x·y·z ≤ `attributes["max_threads_per_block"]`; grid x < 2³¹, y, z ≤ 65535; dynamic shared
   memory ≤ max(48 KiB, `max_dynamic_shared_size_bytes`) (the opt-in above 48 KiB that CUDA
   asks for). Failures raise `CUDADriverError` ("CUDA_ERROR_INVALID_VALUE"), as the driver does.
2. every argument against the kernel's C parameter list parsed from the module source
   (`csc.backends.cuda.signatures.parse_kernel_signatures`): as many arguments as parameters; a
   pointer takes a stand-in array (a NumPy array is refused, as by CuPy) of the pointee's dtype,
   C-contiguous (stricter than CuPy, which passes any pointer: a wrong dtype or layout is a bug
   here); `float`/`double`/`int`/`long long` take exactly `numpy.float32`/`float64`/`int32`/
   `int64` (CuPy marshals a Python float as a double and a Python int as 64 bits, so the kernel
   would read garbage). Failures raise TypeError.
3. the launch, by the kernel's host twin `csc.testing.host_kernels.host_function(name)` (1-D
   launches) on the stand-in arrays' NumPy buffers.

`RawModule` compiles its code with NVRTC for compute_90 when libnvrtc is found
(`csc.backends.cuda.source.find_nvrtc`) and raises `CompileException` with NVRTC's log on an
error, as CuPy does; `get_function` of a name the PTX does not define raises `CUDADriverError`.
"""
from __future__ import annotations

import types
from typing import Any, Sequence

import numpy as np

from csc.backends.cuda.signatures import KernelDecl, parse_kernel_signatures

#: The emulated device: compute capability and limits of an H100.
ARCH = "90"
DEVICE_NAME = b"strict CuPy stand-in (host emulation)"
MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK_DIMS = (1024, 1024, 64)
MAX_GRID_DIMS = (2**31 - 1, 65535, 65535)
SHARED_MEM_DEFAULT = 48 * 1024
SHARED_MEM_OPTIN = 227 * 1024

#: parsed scalar/pointee type → NumPy type
TYPES: dict[str, type] = {"float32": np.float32, "float64": np.float64, "int32": np.int32,
                          "int64": np.int64}


class CUDARuntimeError(RuntimeError):
    """As `cupy.cuda.runtime.CUDARuntimeError`."""


class CUDADriverError(RuntimeError):
    """As `cupy.cuda.driver.CUDADriverError` (a failed launch or symbol lookup)."""


class CompileException(Exception):
    """As `cupy.cuda.compiler.CompileException`: NVRTC refused the source (its log attached)."""

    def __init__(self, msg: str, source: str, name: str, options: Sequence[str]):
        super().__init__(msg)
        self.source, self.name, self.options = source, name, tuple(options)


def _invalid_value(what: str) -> CUDADriverError:
    return CUDADriverError(f"CUDA_ERROR_INVALID_VALUE: invalid argument ({what})")


# ------------------------------------------------------------------------------------------------
# Devices and streams
# ------------------------------------------------------------------------------------------------
def get_device_properties(device: int) -> dict[str, Any]:
    """`cupy.cuda.runtime.getDeviceProperties`: str keys, the name as bytes."""
    if device != 0:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": DEVICE_NAME, "major": int(ARCH[0]), "minor": int(ARCH[1:]),
            "maxThreadsPerBlock": MAX_THREADS_PER_BLOCK, "sharedMemPerBlock": SHARED_MEM_DEFAULT,
            "sharedMemPerBlockOptin": SHARED_MEM_OPTIN, "multiProcessorCount": 132,
            "totalGlobalMem": 80 * 2**30, "warpSize": 32}


class Device:
    """`cupy.cuda.Device`: only device 0 exists."""

    def __init__(self, device: int | None = None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.compute_capability = ARCH

    def synchronize(self) -> None:
        """Nothing to wait for: every launch ran when it was made."""

    def use(self) -> None:
        pass

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        pass


class Stream:
    """`cupy.cuda.Stream`: `ptr`, `synchronize`, `use`, and a context making it current."""

    _next_ptr = 1

    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False):
        self.ptr = 0 if null else Stream._next_ptr
        if not null:
            Stream._next_ptr += 1
        self._previous: list[Stream] = []

    def synchronize(self) -> None:
        pass

    def use(self) -> Stream:
        global _current_stream
        _current_stream = self
        return self

    def __enter__(self) -> Stream:
        self._previous.append(_current_stream)
        return self.use()

    def __exit__(self, *exc) -> None:
        self._previous.pop().use()


_current_stream = Stream(null=True)


def get_current_stream() -> Stream:
    return _current_stream


# ------------------------------------------------------------------------------------------------
# Modules and kernels
# ------------------------------------------------------------------------------------------------
_COMPILED: dict[tuple[str, tuple[str, ...]], tuple[bool, str, str]] = {}


def _compile(code: str, options: tuple[str, ...]) -> str | None:
    """NVRTC's PTX of `code` for compute_90 (cached), None without libnvrtc;
    CompileException on an error."""
    from csc.backends.cuda.source import CUPY_APPENDED_OPTIONS, find_nvrtc, nvrtc_compile

    if find_nvrtc() is None:
        return None
    key = (code, options)
    if key not in _COMPILED:
        _COMPILED[key] = nvrtc_compile(code, ARCH, options=(*options, *CUPY_APPENDED_OPTIONS))
    ok, log, ptx = _COMPILED[key]
    if not ok:
        raise CompileException(log, code, "fused.cu", options)
    return ptx


class RawModule:
    """`cupy.RawModule(code=..., options=...)`; `get_function(name)` gives a checked kernel."""

    def __init__(self, code: str | None = None, *, path: str | None = None,
                 options: Sequence[str] = (), backend: str = "nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        if code is None:
            raise NotImplementedError("strict_cuda.RawModule: only code=... is emulated")
        if backend != "nvrtc":
            raise NotImplementedError(f"strict_cuda.RawModule: backend {backend!r}")
        self.code, self.options = code, tuple(options)
        self._ptx: str | None = None
        self._compiled = False

    def _module(self) -> str | None:
        """Compile on first use, as CuPy does."""
        if not self._compiled:
            self._ptx = _compile(self.code, self.options)
            self._compiled = True
        return self._ptx

    def get_function(self, name: str) -> Kernel:
        from csc.backends.cuda.source import ptx_entries

        ptx = self._module()
        decls = parse_kernel_signatures(self.code)
        if name not in decls or (ptx is not None and name not in ptx_entries(ptx)):
            raise CUDADriverError(f"CUDA_ERROR_NOT_FOUND: named symbol not found ({name})")
        return Kernel(decls[name])


class Kernel:
    """A kernel of a `RawModule`: `kernel(grid, block, args, shared_mem=0)` (see the module
    docstring for the checks)."""

    def __init__(self, decl: KernelDecl):
        self.decl = decl
        self.name = decl.name
        # the compiled kernel's limits (ptxas on CuPy's NVRTC output), as CuPy reports them
        res = _resources().get(self.name)
        self.attributes: dict[str, int] = {
            "max_threads_per_block": res.max_threads_per_block if res else MAX_THREADS_PER_BLOCK,
            "num_regs": res.registers if res else 0,
            "shared_size_bytes": res.shared_bytes if res else 0,
            "max_dynamic_shared_size_bytes": SHARED_MEM_DEFAULT}
        self._max_dynamic_shared = 0
        self._host = None

    @property
    def max_dynamic_shared_size_bytes(self) -> int:
        return self._max_dynamic_shared

    @max_dynamic_shared_size_bytes.setter
    def max_dynamic_shared_size_bytes(self, value: int) -> None:
        if not 0 <= int(value) <= SHARED_MEM_OPTIN:
            raise _invalid_value(f"max_dynamic_shared_size_bytes {value} > {SHARED_MEM_OPTIN}")
        self._max_dynamic_shared = int(value)

    def __call__(self, grid, block, args, *, shared_mem: int = 0, stream=None,
                 enable_cooperative_groups: bool = False) -> None:
        grid, block = _dims("grid", grid, MAX_GRID_DIMS), _dims("block", block, MAX_BLOCK_DIMS)
        threads = block[0] * block[1] * block[2]
        if threads > self.attributes["max_threads_per_block"]:
            raise _invalid_value(f"{self.name}: block {block} has {threads} threads > "
                                 f"{self.attributes['max_threads_per_block']}")
        limit = max(SHARED_MEM_DEFAULT, self._max_dynamic_shared)
        if not 0 <= int(shared_mem) <= limit:
            raise _invalid_value(f"{self.name}: shared_mem {shared_mem} > {limit} bytes")
        if not isinstance(args, tuple):
            raise TypeError(f"{self.name}: args must be a tuple, got {type(args).__name__}")
        host_args = check_args(self.decl, args)
        if grid[1:] != (1, 1) or block[1:] != (1, 1):
            raise NotImplementedError(f"{self.name}: the host emulation runs 1-D launches only")
        if self._host is None:
            from csc.testing.host_kernels import host_function

            self._host = host_function(self.name)
        self._host((grid[0],), (block[0],), host_args, shared_mem=shared_mem)


def _resources() -> dict:
    """Per-kernel resources of the installed module for the emulated device ({} without ptxas
    or libnvrtc: then the device limits stand in)."""
    from csc.testing.kernel_resources import kernel_resources

    try:
        return kernel_resources(ARCH)
    except (OSError, RuntimeError):
        return {}


def _dims(what: str, value, limits: tuple[int, int, int]) -> tuple[int, int, int]:
    dims = value if isinstance(value, tuple) else (value,)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, np.integer))
                                          and not isinstance(d, bool) for d in dims):
        raise TypeError(f"{what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    dims = tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
    for d, limit in zip(dims, limits):
        if not 1 <= d <= limit:
            raise _invalid_value(f"{what} {dims}: each dimension must be in [1, {limit}]")
    return dims  # type: ignore[return-value]


def check_args(decl: KernelDecl, args: tuple) -> list:
    """The host values of a kernel call's arguments (NumPy buffers of the stand-in arrays, the
    NumPy scalars), after checking each against the parsed parameter (see the module
    docstring); TypeError naming the parameter otherwise."""
    from csc.testing.strict_cupy import ndarray

    if len(args) != len(decl.params):
        raise TypeError(f"{decl.name}: {len(args)} arguments for {len(decl.params)} parameters")
    out = []
    for p, v in zip(decl.params, args):
        where = f"{decl.name}: parameter {p.ctype} {p.name}"
        base = p.ctype.rstrip("*")
        if base not in TYPES:
            raise NotImplementedError(f"{where}: type not emulated")
        np_type = TYPES[base]
        if p.ctype.endswith("*"):
            if not isinstance(v, ndarray):
                raise TypeError(f"{where}: Unsupported type {type(v)} (a device array is "
                                "needed)")
            if v.dtype != np.dtype(np_type) or not v.flags.c_contiguous:
                raise TypeError(f"{where}: needs a C-contiguous {np.dtype(np_type).name} array, "
                                f"got {v.dtype.name}{'' if v.flags.c_contiguous else ' strided'}")
            out.append(v._a)
        else:
            if type(v) is not np_type:
                raise TypeError(f"{where}: needs numpy.{np_type.__name__}, got "
                                f"{type(v).__module__}.{type(v).__qualname__} (CuPy would pass "
                                "it as another C type)")
            out.append(v)
    return out


# ------------------------------------------------------------------------------------------------
# The namespace
# ------------------------------------------------------------------------------------------------
def attach(mod: types.ModuleType) -> None:
    """Give the stand-in namespace `cuda` (runtime, compiler, Device, Stream, ...) and
    `RawModule`."""
    if hasattr(mod, "RawModule"):
        return
    runtime = types.ModuleType("cupy.cuda.runtime")
    runtime.getDeviceCount = lambda: 1
    runtime.getDeviceProperties = get_device_properties
    runtime.getDevice = lambda: 0
    runtime.deviceSynchronize = lambda: None
    runtime.CUDARuntimeError = CUDARuntimeError
    compiler = types.ModuleType("cupy.cuda.compiler")
    compiler.CompileException = CompileException
    driver = types.ModuleType("cupy.cuda.driver")
    driver.CUDADriverError = CUDADriverError
    cuda = types.ModuleType("cupy.cuda")
    cuda.runtime, cuda.compiler, cuda.driver = runtime, compiler, driver
    cuda.Device, cuda.Stream, cuda.get_current_stream = Device, Stream, get_current_stream
    cuda.is_available = lambda: True
    mod.cuda = cuda
    mod.RawModule = RawModule
