"""Peak memory of one float32 `encode` call, measured in a fresh interpreter.

`encode_peak_memory` (and `csc_peak_memory` for a benchmark `Problem`) runs this module
(`python -m csc.testing.bench.memory PROBLEM.npz`), whose `probe` reads the kernel's resident-set
high-water mark (VmHWM after resetting it through /proc/self/clear_refs; else ru_maxrss), so
BLAS and Numba buffers are included, and the tracemalloc peak of the same call (the arrays NumPy
allocates, whether or not their pages are touched). `scripts/encode_memory.py` prints both in
units of one (N, 2K) float32 code array.
"""
from __future__ import annotations

import gc
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

import csc
from csc.core.inference import encode
from csc.testing.bench.problem import Problem

PROBE_MODULE = "csc.testing.bench.memory"  # this module, run in the child interpreter


def _status_kib(key: str) -> int:
    """A /proc/self/status field in KiB."""
    with open("/proc/self/status") as fh:
        return int(re.search(rf"^{key}:\s+(\d+)", fh.read(), re.M).group(1))


def probe(path: str) -> dict:
    """Peak memory of one float32 encode call on the problem saved in `path` (npz of X, D, lam,
    backend, max_iter and optionally batch_bytes): compiles with a tiny call, resets the
    high-water mark, encodes under tracemalloc. Returns KiB figures (RSS before, RSS peak,
    tracemalloc peak), the RSS method, the size of the codes in bytes and the batches run."""
    data = np.load(path)
    X = np.ascontiguousarray(data["X"])
    D = np.ascontiguousarray(data["D"])
    lam, backend, max_iter = float(data["lam"]), str(data["backend"]), int(data["max_iter"])
    kw = dict(sparsity="l1", lam=lam, slowness="none", backend=backend, tol=0.0)
    if "batch_bytes" in data.files:  # absent: the encode default (and encodes that predate it)
        kw["batch_bytes"] = int(data["batch_bytes"])
    encode(X[:1, :4], D, max_iter=2, **kw)
    gc.collect()
    rss0 = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        method = "VmHWM after clear_refs reset"
    except OSError:
        method = "ru_maxrss (not reset: lower bound if earlier peak was higher)"
    tracemalloc.start()
    Z, info = encode(X, D, max_iter=max_iter, return_info=True, **kw)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if method.startswith("VmHWM"):
        peak = _status_kib("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_before_kib": rss0, "peak_kib": peak, "traced_peak_kib": traced / 1024,
            "method": method, "z_bytes": Z.nbytes,
            "n_batches": getattr(info, "n_batches", 1)}


def encode_peak_memory(X: np.ndarray, D: np.ndarray, lam: float, backend: str, max_iter: int,
                       batch_bytes: int | None = None) -> dict:
    """Run `probe` in a fresh interpreter, with the csc package imported here, on X float32
    (n_sequences, n_frames, M) and D complex (K, M) (`max_iter` iterations; `batch_bytes` passed
    to encode unless None). Returns MiB figures and the extra RSS and tracemalloc peaks in units
    of one (N, 2K) float32 array, or {"error": one line}."""
    (B, T, M), K = X.shape, D.shape[0]
    N = B * T
    package_root = str(Path(csc.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    extra = {} if batch_bytes is None else {"batch_bytes": batch_bytes}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "problem.npz")
        np.savez(path, X=X, D=D.astype(np.complex64), lam=lam, backend=backend,
                 max_iter=max_iter, **extra)
        proc = subprocess.run([sys.executable, "-m", PROBE_MODULE, path], capture_output=True,
                              text=True, check=False, env=env)
    if proc.returncode != 0:
        err = proc.stderr.strip()
        return {"error": err.splitlines()[-1] if err else f"rc={proc.returncode}"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    extra_mib = (res["peak_kib"] - res["rss_before_kib"]) / 1024.0
    traced_mib = res["traced_peak_kib"] / 1024.0
    code_mib = N * 2 * K * 4 / 2**20
    return {
        "method": res["method"],
        "peak_extra_mib": extra_mib,
        "traced_peak_mib": traced_mib,
        "output_z_mib": res["z_bytes"] / 2**20,
        "input_x_mib": N * M * 4 / 2**20,
        "code_array_mib": code_mib,
        "extra_in_code_arrays": extra_mib / code_mib,
        "traced_in_code_arrays": traced_mib / code_mib,
        "n_batches": res["n_batches"],
    }


def csc_peak_memory(problem: Problem, backend: str, max_iter: int) -> dict:
    """`encode_peak_memory` of a benchmark problem (float32, `max_iter` iterations, its lam)."""
    return encode_peak_memory(problem.X, problem.D, problem.lam, backend, max_iter)


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])))
