"""Peak memory of one float32 `encode` call, measured in a fresh interpreter.

`csc_peak_memory` runs this module (`python -m csc.testing.bench.memory PROBLEM.npz`), whose
`probe` reads the kernel's resident-set high-water mark (VmHWM after resetting it through
/proc/self/clear_refs; else ru_maxrss), so BLAS and Numba buffers are included.
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
    """Peak RSS increase of one float32 encode call on the problem saved in `path` (npz of X, D,
    lam, backend, max_iter): compiles with a tiny call, resets the high-water mark, encodes.
    Returns KiB figures, the method used and the size of the codes in bytes."""
    data = np.load(path)
    X = np.ascontiguousarray(data["X"])
    D = np.ascontiguousarray(data["D"])
    lam, backend, max_iter = float(data["lam"]), str(data["backend"]), int(data["max_iter"])
    kw = dict(sparsity="l1", lam=lam, slowness="none", backend=backend, tol=0.0)
    encode(X[:1, :4], D, max_iter=2, **kw)
    gc.collect()
    rss0 = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        method = "VmHWM after clear_refs reset"
    except OSError:
        method = "ru_maxrss (not reset: lower bound if earlier peak was higher)"
    Z = encode(X, D, max_iter=max_iter, **kw)
    if method.startswith("VmHWM"):
        peak = _status_kib("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_before_kib": rss0, "peak_kib": peak, "method": method, "z_bytes": Z.nbytes}


def csc_peak_memory(problem: Problem, backend: str, max_iter: int) -> dict:
    """Run `probe` in a fresh interpreter on the problem (float32, `max_iter` iterations) with
    the csc package imported here; returns MiB figures, or {"error": one line}."""
    N, M, K = problem.n_frames, problem.n_features, problem.n_units
    package_root = str(Path(csc.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "problem.npz")
        np.savez(path, X=problem.X, D=problem.D.astype(np.complex64), lam=problem.lam,
                 backend=backend, max_iter=max_iter)
        proc = subprocess.run([sys.executable, "-m", PROBE_MODULE, path], capture_output=True,
                              text=True, check=False, env=env)
    if proc.returncode != 0:
        err = proc.stderr.strip()
        return {"error": err.splitlines()[-1] if err else f"rc={proc.returncode}"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    extra = (res["peak_kib"] - res["rss_before_kib"]) / 1024.0
    code_mib = N * 2 * K * 4 / 2**20
    return {
        "method": res["method"],
        "peak_extra_mib": extra,
        "output_z_mib": res["z_bytes"] / 2**20,
        "input_x_mib": N * M * 4 / 2**20,
        "code_array_mib": code_mib,
        "extra_in_code_arrays": extra / code_mib,
    }


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])))
