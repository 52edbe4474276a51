"""The kernels' host builds under AddressSanitizer and UndefinedBehaviorSanitizer.

A child pytest runs tests/test_kernels.py's comparisons (every kernel and prior, ragged sizes,
λ = 0, κ = 0, ties, empty problems, in-place aliasing) against the "sanitized" host library, with
the sanitizer runtimes preloaded and every finding fatal. A second child runs a kernel that
writes one element past its buffer, to show that a finding does fail the run.
"""
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import toolchain_missing

from csc.testing import host_kernels as hb

if not hb.nvcc_available():
    toolchain_missing("nvcc not found: the kernels' host builds cannot be compiled")
try:
    ENV = hb.sanitizer_environment()
except (FileNotFoundError, OSError) as e:
    toolchain_missing(f"the ASan/UBSan runtimes are not available: {e}")

TESTS = Path(__file__).parent
pytestmark = pytest.mark.toolchain


def _child(args: list[str], cache: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=TESTS.parent,
                          env={**ENV, "CSC_KERNEL_CACHE": str(cache), "NUMBA_NUM_THREADS": "1"})


def test_kernels_run_clean_under_the_sanitizers(tmp_path):
    hb.host_library_file(tmp_path, "sanitized")  # built here: nvcc does not run under ASan
    # os._exit: the interpreter's own teardown is not instrumented for ASan and can crash
    args = ["-q", "-x", "-p", "no:cacheprovider", "-k",
            "not ptx and not nvcc and not cached and not device_arithmetic",
            str(TESTS / "test_kernels.py")]
    proc = _child(["-c", f"import os, sys, pytest; rc = pytest.main({args!r}); "
                         "sys.stdout.flush(); sys.stderr.flush(); os._exit(int(rc))"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "ERROR: AddressSanitizer" not in proc.stderr
    assert any(p.name.startswith("libcsc_fused_host_sanitized") for p in tmp_path.iterdir())


def test_an_out_of_bounds_write_fails_the_run(tmp_path):
    """The control: the same build flags and environment catch a one-past-the-end write."""
    bad = tmp_path / "bad.cu"
    bad.write_text('extern "C" void write_past(float* x, int n) { x[n] = 1.0f; }\n')
    lib = tmp_path / "libbad.so"
    hb._run_nvcc([*hb.HOST_FLAGS, *hb.VARIANT_FLAGS["sanitized"], str(bad), "-o", str(lib)])
    script = ("import ctypes, numpy as np\n"
              f"f = ctypes.CDLL({str(lib)!r}).write_past\n"
              "a = np.zeros(1000, np.float32)\n"  # NumPy's data buffer comes from malloc
              "f(a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), a.size)\n"
              "import os; os._exit(0)\n")
    proc = _child(["-c", script], tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "AddressSanitizer" in proc.stderr and "overflow" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("variant", ["exact", "device"])
def test_variant_names_are_checked(variant, tmp_path):
    with pytest.raises(ValueError, match="unknown host-library variant"):
        hb.build_host_library(tmp_path, variant + "x")
