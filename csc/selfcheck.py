"""Check the GPU path of this installation: `python -m csc.selfcheck` (or `csc-selfcheck`).

Three checks, each reported on its own line(s):
1. kernel sources: the CUDA sources installed with the package are found and their kernels'
   parameter lists match the typed launcher's declarations (no GPU needed);
2. NVRTC: the module source compiles with NVRTC (the compiler CuPy uses) for every target
   architecture and exports every kernel (no GPU needed; skipped, and said so, without libnvrtc);
3. GPU vs CPU: for every prior combination, `csc.encode` with backend="cpu" and backend="gpu" on
   the same float32 data: the largest code difference, the relative difference of the energies
   (both evaluated in float64 on the host by `csc.energy`) and the timings. Without a usable GPU
   (no CuPy, or no CUDA device) one line says that the GPU was NOT checked and why.

Exit status: 1 if a check that ran failed (sources mismatch, NVRTC error, or a prior disagrees
beyond `--rtol`), or if a required check could not run (`--require-gpu`; `--require-nvrtc`, also
set by the environment variable CSC_REQUIRE_NVCC=1); 0 otherwise.
"""
from __future__ import annotations

import csc.cli  # noqa: F401 -- first, before NumPy loads: sets the OpenBLAS spin time

# isort: split
import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from csc.backends.backend import to_numpy
from csc.backends.cuda import ops, source
from csc.backends.cuda.launcher import KERNELS, check_source
from csc.cli.interrupts import stops_on_interrupt
from csc.core.energy import energy
from csc.core.inference import encode
from csc.resources import kernels_dir
from csc.testing.planted import random_dictionary
from csc.threads import prefer_passive_openmp

#: The prior combinations checked (cauchy or gauss + l1 slowness is not supported by csc).
PRIORS: tuple[dict[str, Any], ...] = (
    dict(sparsity="l1", lam=1.0, slowness="none"),
    dict(sparsity="l1", lam=1.0, slowness="l2", kappa=0.5),
    dict(sparsity="l1", lam=1.0, slowness="l1", kappa=0.5),
    dict(sparsity="cauchy", lam=1.0, sigma=0.4, slowness="none"),
    dict(sparsity="cauchy", lam=1.0, sigma=0.4, slowness="l2", kappa=0.5),
    dict(sparsity="gauss", lam=1.0, slowness="l2", kappa=0.5),
)
RTOL = 1e-4


@dataclass
class PriorResult:
    """One prior's comparison. energies: float64 `csc.energy` totals of the returned codes;
    max_code_diff: max |Z_gpu − Z_cpu|; code_scale: max |Z_cpu|; times in seconds; error: the
    exception text if a run failed (then the numbers are NaN)."""

    label: str
    energy_cpu: float = math.nan
    energy_gpu: float = math.nan
    max_code_diff: float = math.nan
    code_scale: float = math.nan
    time_cpu: float = math.nan
    time_gpu: float = math.nan
    iters_cpu: int = 0
    iters_gpu: int = 0
    error: str | None = None

    @property
    def rel_energy_diff(self) -> float:
        return abs(self.energy_gpu - self.energy_cpu) / max(abs(self.energy_cpu), 1e-30)

    def agrees(self, rtol: float) -> bool:
        return self.error is None and self.rel_energy_diff <= rtol  # False for NaN


def prior_label(prior: dict[str, Any]) -> str:
    return f"{prior['sparsity']} + {prior['slowness']} slowness"


def report(results: Sequence[PriorResult], rtol: float = RTOL) -> tuple[bool, list[str]]:
    """(all agree, report lines): a table of the results and a verdict line."""
    lines = [f"{'prior':<26}{'max|dZ|':>10}{'max|Z|':>9}{'rel dE':>10}{'cpu s':>8}{'gpu s':>8}"
             f"{'iters cpu/gpu':>15}  result"]
    for r in results:
        if r.error is not None:
            lines.append(f"{r.label:<26}  FAILED: {r.error}")
            continue
        verdict = "ok" if r.agrees(rtol) else "DISAGREE"
        lines.append(f"{r.label:<26}{r.max_code_diff:>10.2e}{r.code_scale:>9.3f}"
                     f"{r.rel_energy_diff:>10.2e}{r.time_cpu:>8.3f}{r.time_gpu:>8.3f}"
                     f"{f'{r.iters_cpu}/{r.iters_gpu}':>15}  {verdict}")
    ok = bool(results) and all(r.agrees(rtol) for r in results)
    n_bad = sum(not r.agrees(rtol) for r in results)
    lines.append(f"GPU checked: all {len(results)} priors agree with the CPU (relative energy "
                 f"difference <= {rtol:g})" if ok else
                 f"GPU checked: FAILED — {n_bad} of {len(results)} priors do not agree with the "
                 f"CPU within relative energy difference {rtol:g}")
    return ok, lines


def _timed_encode(X: np.ndarray, D: np.ndarray, backend: str, prior: dict[str, Any],
                  max_iter: int, tol: float) -> tuple[np.ndarray, int, float]:
    start = time.perf_counter()
    Z, info = encode(X, D, backend=backend, max_iter=max_iter, tol=tol, return_info=True, **prior)
    Z = to_numpy(Z)  # synchronises the device
    return Z, int(info.n_iter), time.perf_counter() - start


def run_checks(n_sequences: int = 8, n_frames: int = 16, n_features: int = 64,
               n_components: int = 32, seed: int = 0, max_iter: int = 500,
               tol: float = 1e-6) -> list[PriorResult]:
    """Encode one random float32 problem under every prior in PRIORS on both backends."""
    rng = np.random.default_rng(seed)
    D = random_dictionary(n_components, n_features, rng, normalize="complex")
    X = rng.standard_normal((n_sequences, n_frames, n_features)).astype(np.float32)
    # warm-up: Numba and NVRTC compilation are not what the timings should show
    for backend in ("cpu", "gpu"):
        try:
            _timed_encode(X, D, backend, PRIORS[0], 1, 0.0)
        except Exception:
            pass  # reported per prior below
    results = []
    for prior in PRIORS:
        r = PriorResult(prior_label(prior))
        try:
            Zc, r.iters_cpu, r.time_cpu = _timed_encode(X, D, "cpu", prior, max_iter, tol)
            Zg, r.iters_gpu, r.time_gpu = _timed_encode(X, D, "gpu", prior, max_iter, tol)
            r.energy_cpu = energy(X, Zc, D, **prior)["total"]
            r.energy_gpu = energy(X, Zg, D, **prior)["total"]
            r.max_code_diff = float(np.max(np.abs(Zg - Zc)))
            r.code_scale = float(np.max(np.abs(Zc)))
        except Exception as e:
            r.error = f"{type(e).__name__}: {e}"
        results.append(r)
    return results


def check_kernel_sources() -> tuple[bool, str]:
    """(ok, report line): the installed CUDA sources exist and match the launcher's KERNELS."""
    try:
        problems = check_source(source.kernel_source())
    except FileNotFoundError as e:
        return False, f"kernel sources: FAILED — {e}"
    if problems:
        return False, "kernel sources: FAILED — " + "; ".join(p.replace("\n", " ")
                                                              for p in problems)
    return True, (f"kernel sources: ok ({kernels_dir()}; {len(KERNELS)} kernels match the "
                  f"launcher's signatures)")


def check_nvrtc() -> tuple[bool | None, str]:
    """(ok, report line) of compiling the module source with NVRTC for every architecture in
    `source.ARCHES`; ok is None when no libnvrtc was found (nothing was checked)."""
    path = source.find_nvrtc()
    if path is None:
        return None, ("NVRTC NOT checked: libnvrtc not found (pip install "
                      "nvidia-cuda-nvrtc-cu12, or set CSC_NVRTC_LIB)")
    try:
        code = source.kernel_source()
        for arch in source.ARCHES:
            ok, log, ptx = source.nvrtc_compile(code, arch, path)
            if not ok:
                first = next((ln for ln in log.splitlines() if "error" in ln), log.strip())
                return False, f"NVRTC: FAILED for compute_{arch}: {first}"
            missing = set(KERNELS) - source.ptx_entries(ptx)
            if missing:
                return False, f"NVRTC: FAILED for compute_{arch}: no kernel {sorted(missing)}"
    except (OSError, RuntimeError) as e:
        return False, f"NVRTC: FAILED — {type(e).__name__}: {e}"
    archs = ", ".join(f"compute_{a}" for a in source.ARCHES)
    return True, f"NVRTC: ok (the module compiles for {archs} with {path})"


@stops_on_interrupt("csc-selfcheck")
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m csc.selfcheck", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--rtol", type=float, default=RTOL,
                        help="largest relative energy difference accepted (default %(default)g)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--require-gpu", action="store_true",
                        help="exit 1 (instead of 0) when no GPU can be checked")
    parser.add_argument("--require-nvrtc", action="store_true",
                        default=os.environ.get("CSC_REQUIRE_NVCC") == "1",
                        help="exit 1 (instead of 0) when NVRTC cannot be checked (default: on "
                             "when CSC_REQUIRE_NVCC=1)")
    args = parser.parse_args(argv)
    prefer_passive_openmp()  # before the first Numba pass: see csc.threads

    status = 0
    ok, line = check_kernel_sources()
    print(f"csc selfcheck: {line}")
    status |= not ok
    ok, line = check_nvrtc()
    print(f"csc selfcheck: {line}")
    status |= ok is False or (ok is None and args.require_nvrtc)

    available, reason = ops.available()
    if not available:
        print(f"csc selfcheck: GPU NOT checked (no GPU backend here: {reason})")
        return int(status or args.require_gpu)
    print(f"csc selfcheck: GPU vs CPU encode, 8 sequences x 16 frames, 64 features, 32 "
          f"components, float32 ({reason})")
    agree, lines = report(run_checks(seed=args.seed), args.rtol)
    print("\n".join(lines))
    return int(status or not agree)


if __name__ == "__main__":
    sys.exit(main())
