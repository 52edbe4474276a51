"""What each kernel costs a GPU's multiprocessor, without a GPU: registers, spills, shared memory.

The module source is compiled by NVRTC with CuPy's exact options (`source.CUPY_NVRTC_OPTIONS`,
what `cupy.RawModule` compiles on a GPU machine) for an architecture, and `ptxas -v` assembles
the PTX for that architecture's SM and reports per kernel:

    ptxas info    : Compiling entry function 'csc_recon_step' for 'sm_90'
    ptxas info    : Function properties for csc_recon_step
        0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    ptxas info    : Used 36 registers, used 1 barriers, 2048 bytes smem, ...

A launch fails ("too many resources requested for launch") when registers × threads per block
exceed the SM's 64K registers; spills go to slow local memory. `max_threads_per_block` gives
the largest block the driver accepts for a kernel, as `cupy.RawKernel.attributes` would.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from csc.backends.cuda import source

#: 32-bit registers per SM (and per block) on sm_80 and sm_90.
REGISTERS_PER_SM = 65536
#: Registers are allocated per warp in units of 256 (8 per thread).
_REGISTER_UNIT = 8


@dataclass(frozen=True)
class Resources:
    """One kernel on one architecture. registers: per thread; spill_stores / spill_loads: bytes;
    shared_bytes: static shared memory per block; max_ntid: its `__launch_bounds__` (0 if none)."""

    registers: int
    spill_stores: int
    spill_loads: int
    shared_bytes: int
    max_ntid: int

    @property
    def max_threads_per_block(self) -> int:
        """The largest block (whole warps) whose registers fit, capped by the launch bounds."""
        per_warp = -(-self.registers // _REGISTER_UNIT) * _REGISTER_UNIT * 32
        fit = min(1024, REGISTERS_PER_SM // max(per_warp, 1) * 32)
        return min(fit, self.max_ntid) if self.max_ntid else fit


def ptxas_path() -> str | None:
    """ptxas: on PATH, or beside nvcc."""
    from csc.testing.host_kernels import nvcc_path

    found = shutil.which("ptxas")
    if found:
        return found
    nvcc = nvcc_path()
    candidate = Path(nvcc).with_name("ptxas") if nvcc else None
    return str(candidate) if candidate and candidate.is_file() else None


_ENTRY = re.compile(r"Compiling entry function '(\w+)' for 'sm_\d+'")
_SPILL = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?")
_MAXNTID = re.compile(r"\.entry\s+(\w+)\s*\([^)]*\)\s*(?:\.\w+[^\n]*\n\s*)*?\.maxntid\s+(\d+)",
                      re.S)


def parse_ptxas(log: str, ptx: str = "") -> dict[str, Resources]:
    """Per-kernel resources from `ptxas -v` output (and `.maxntid` from the PTX)."""
    max_ntid = {m.group(1): int(m.group(2)) for m in _MAXNTID.finditer(ptx)}
    out: dict[str, Resources] = {}
    name, spills = None, (0, 0)
    for line in log.splitlines():
        if m := _ENTRY.search(line):
            name, spills = m.group(1), (0, 0)
        elif (m := _SPILL.search(line)) and name:
            spills = (int(m.group(1)), int(m.group(2)))
        elif (m := _USED.search(line)) and name:
            out[name] = Resources(int(m.group(1)), *spills, int(m.group(2) or 0),
                                  max_ntid.get(name, 0))
            name = None
    return out


@functools.lru_cache(maxsize=None)
def kernel_resources(arch: str) -> dict[str, Resources]:
    """Kernel name → Resources for `arch` ("80", "90") of the module CuPy compiles.

    Raises FileNotFoundError without libnvrtc or ptxas, RuntimeError when either fails."""
    ptxas = ptxas_path()
    if ptxas is None:
        raise FileNotFoundError("ptxas not found (CUDA toolkit)")
    ok, log, ptx = source.nvrtc_compile(source.kernel_source(), arch)
    if not ok:
        raise RuntimeError(f"NVRTC failed for compute_{arch}:\n{log}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fused.ptx"
        path.write_text(ptx)
        proc = subprocess.run([ptxas, "-v", f"--gpu-name=sm_{arch}", str(path), "-o",
                               str(Path(tmp) / "fused.cubin")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ptxas failed for sm_{arch}:\n{proc.stderr}")
    return parse_ptxas(proc.stderr + proc.stdout, ptx)
