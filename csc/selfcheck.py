"""Check the GPU backend against the CPU one on a small random problem: `python -m csc.selfcheck`.

For every prior combination it runs `csc.encode` with backend="cpu" and backend="gpu" on the same
float32 data, and reports the largest code difference, the relative difference of the energies
(both evaluated in float64 on the host by `csc.energy`) and the timings. Exit status: 0 if every
prior agrees within `--rtol` (relative energy), 1 otherwise. Without a usable GPU (no CuPy, or no
CUDA device) it prints one line saying that the GPU was NOT checked and why, and exits 0 (1 with
`--require-gpu`).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: The prior combinations checked (cauchy + l1 slowness is not supported by csc).
PRIORS: tuple[dict[str, Any], ...] = (
    dict(sparsity="l1", lam=1.0, slowness="none"),
    dict(sparsity="l1", lam=1.0, slowness="l2", kappa=0.5),
    dict(sparsity="l1", lam=1.0, slowness="l1", kappa=0.5),
    dict(sparsity="cauchy", lam=1.0, sigma=0.4, slowness="none"),
    dict(sparsity="cauchy", lam=1.0, sigma=0.4, slowness="l2", kappa=0.5),
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


def _to_host(a: Any) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a)


def _timed_encode(X: np.ndarray, D: np.ndarray, backend: str, prior: dict[str, Any],
                  max_iter: int, tol: float) -> tuple[np.ndarray, int, float]:
    from csc import encode

    start = time.perf_counter()
    Z, info = encode(X, D, backend=backend, max_iter=max_iter, tol=tol, return_info=True, **prior)
    Z = _to_host(Z)  # synchronises the device
    return Z, int(info.n_iter), time.perf_counter() - start


def run_checks(n_sequences: int = 8, n_frames: int = 16, n_features: int = 64,
               n_components: int = 32, seed: int = 0, max_iter: int = 500,
               tol: float = 1e-6) -> list[PriorResult]:
    """Encode one random float32 problem under every prior in PRIORS on both backends."""
    from csc import energy
    from csc.testing.planted import random_dictionary

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m csc.selfcheck", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--rtol", type=float, default=RTOL,
                        help="largest relative energy difference accepted (default %(default)g)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--require-gpu", action="store_true",
                        help="exit 1 (instead of 0) when no GPU can be checked")
    args = parser.parse_args(argv)

    from csc.backends.cuda.ops import available

    ok, reason = available()
    if not ok:
        print(f"csc selfcheck: GPU NOT checked (no GPU backend here: {reason})")
        return 1 if args.require_gpu else 0
    print(f"csc selfcheck: GPU vs CPU encode, 8 sequences x 16 frames, 64 features, 32 "
          f"components, float32 ({reason})")
    agree, lines = report(run_checks(seed=args.seed), args.rtol)
    print("\n".join(lines))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
