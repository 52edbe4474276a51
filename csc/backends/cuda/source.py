"""The CUDA C sources as the compilers see them, and NVRTC without a GPU.

- `kernel_source()`: `fused.cu` with its local `#include "..."` headers inlined. Inlining (instead
  of passing -I to NVRTC) puts the headers into the text that CuPy hashes for its on-disk kernel
  cache, so an edited header can never leave a stale binary in use.
- `define_options()`: the prior codes of `csc.priors` and the block sizes `BLOCKS` as `-D`
  options; every compile (NVRTC here and in CuPy, nvcc in `csc.testing.host_kernels`) passes
  them, so each is defined once.
- `find_nvrtc()` / `nvrtc_compile()`: NVRTC, the compiler `cupy.RawModule` uses, called through
  ctypes. It needs no GPU or driver, so the self-check and the tests can compile exactly what CuPy
  will compile on a GPU machine.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
from pathlib import Path

from csc.priors import kernel_defines
from csc.resources import kernels_dir

#: The source CuPy compiles (it includes the others).
KERNEL_FILE = "fused.cu"
#: Architectures the kernels must compile for (A100 and H100/H200).
ARCHES = ("80", "90")
#: Threads per block of each kernel family (powers of two: the block reductions add by halves),
#: compiled into the kernels as CSC_<FAMILY>_BLOCK. The pointwise code step covers tiles of
#: POINTWISE_UNITS units × (block / POINTWISE_UNITS) frames.
BLOCKS: dict[str, int] = {"pointwise": 256, "chain": 64, "recon": 256, "sums": 256, "sample": 256}
POINTWISE_UNITS = 32
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[ \t]*$', re.M)


def define_options() -> tuple[str, ...]:
    """`-DNAME=value` for every prior code (`csc.priors.kernel_defines`) and block size."""
    defines = {**kernel_defines(), **{f"CSC_{family.upper()}_BLOCK": block
                                      for family, block in BLOCKS.items()},
               "CSC_POINTWISE_UNITS": POINTWISE_UNITS}
    return tuple(f"-D{name}={value}" for name, value in defines.items())


#: NVRTC options csc gives `cupy.RawModule`.
NVRTC_OPTIONS = ("-std=c++17", *define_options())
#: What CuPy appends to them before calling NVRTC (`cupy.cuda.compiler._compile_with_cache_cuda`:
#: `options += ('-ftz=true',)`, then the architecture). Every NVRTC check here compiles with
#: `CUPY_NVRTC_OPTIONS`, so it sees the code a GPU will run (denormals flushed to zero).
CUPY_APPENDED_OPTIONS = ("-ftz=true",)
CUPY_NVRTC_OPTIONS = (*NVRTC_OPTIONS, *CUPY_APPENDED_OPTIONS)


def kernel_source(name: str = KERNEL_FILE) -> str:
    """The CUDA source `name` with its local `#include "..."` files inlined."""
    kdir = kernels_dir()
    path = kdir / name
    if not path.is_file():
        raise FileNotFoundError(f"CUDA source {path} not found: the package data csc.kernels is "
                                f"incomplete (reinstall csc)")
    seen: set[Path] = set()

    def inline(p: Path) -> str:
        seen.add(p)

        def sub(m: re.Match) -> str:
            inc = kdir / m.group(1)
            if not inc.is_file():
                return m.group(0)  # not ours: leave it to the compiler
            return "" if inc in seen else f"// ---- {m.group(1)} ----\n{inline(inc)}\n"

        return _INCLUDE.sub(sub, p.read_text(encoding="utf-8"))

    return inline(path)


def find_nvrtc() -> str | None:
    """Path of libnvrtc: $CSC_NVRTC_LIB, the pip package nvidia-cuda-nvrtc-cu12, the system
    library path, a CUDA toolkit under /usr/local; None if there is none."""
    if os.environ.get("CSC_NVRTC_LIB"):
        return os.environ["CSC_NVRTC_LIB"]
    candidates: list[str] = []
    try:
        import nvidia.cuda_nvrtc as pkg

        for root in pkg.__path__:
            candidates += sorted(glob.glob(str(Path(root) / "lib" / "libnvrtc.so*")))
    except ImportError:
        pass
    found = ctypes.util.find_library("nvrtc")
    candidates += [found] if found else []
    candidates += sorted(glob.glob("/usr/local/cuda*/lib*/libnvrtc.so*"))
    candidates = [c for c in candidates if "builtins" not in c and ".alt." not in c]
    return candidates[0] if candidates else None


def nvrtc_compile(source: str, arch: str, lib_path: str | None = None,
                  options: tuple[str, ...] = CUPY_NVRTC_OPTIONS) -> tuple[bool, str, str]:
    """Compile `source` with NVRTC for `arch` ("80", "90"): (succeeded, log, PTX).

    Raises FileNotFoundError when no libnvrtc is found (see `find_nvrtc`)."""
    path = lib_path or find_nvrtc()
    if path is None:
        raise FileNotFoundError("libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12, or set "
                                "CSC_NVRTC_LIB)")
    lib = ctypes.CDLL(path)
    prog = ctypes.c_void_p()
    if lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), KERNEL_FILE.encode(), 0, None,
                              None) != 0:
        raise RuntimeError(f"nvrtcCreateProgram failed ({path})")
    try:
        opts = [*options, f"--gpu-architecture=compute_{arch}"]
        rc = lib.nvrtcCompileProgram(prog, len(opts),
                                     (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts]))
        n = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
        log = ctypes.create_string_buffer(n.value)
        lib.nvrtcGetProgramLog(prog, log)
        ptx = b""
        if rc == 0:
            lib.nvrtcGetPTXSize(prog, ctypes.byref(n))
            buf = ctypes.create_string_buffer(n.value)
            lib.nvrtcGetPTX(prog, buf)
            ptx = buf.value
        return rc == 0, log.value.decode(errors="replace"), ptx.decode(errors="replace")
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def ptx_entries(ptx: str) -> set[str]:
    """Names of the kernels (`.entry`) in PTX text."""
    return set(re.findall(r"\.entry\s+(\w+)", ptx))
