"""Timing: the GEMM floor of one FISTA iteration, and sweeps of a solver's budget until a target
energy is reached."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from csc.testing.bench.problem import Problem

TARGET_REL = 1e-4
"""Relative energy accuracy that defines "solved": E ≤ E* (1 + TARGET_REL)."""

Runner = Callable[[dict], "tuple[np.ndarray, float, float | None]"]
"""A solver run with one budget setting → (real-form codes (N, 2K) float64, seconds, iterations
or None)."""


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """Best wall-clock time of `repeats` calls of fn (after one untimed call)."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _gemm_module(backend: str) -> tuple[Any, str, str | None]:
    """(array module, "cpu" | "gpu", why the host was used instead of the GPU or None) for the
    GEMM floor of `backend`: NumPy for "cpu", else the resolved backend's `xp`."""
    if backend == "cpu":
        return np, "cpu", None
    from csc.backends.backend import get_backend

    try:
        b = get_backend(backend)
    except ValueError as exc:  # no usable GPU: the host's floor, said so
        return np, "cpu", str(exc)
    return b.xp, b.name, None


def gemm_floor(n_frames: int, n_features: int, n_units: int, repeats: int, seed: int,
               backend: str = "cpu") -> dict:
    """Time the two float32 GEMMs of one FISTA iteration with the backend's `dot`.

    The shapes are (N, 2K) @ (2K, M) (reconstruction) and (N, M) @ (M, 2K) (gradient). On the
    CPU `np.dot`; on the GPU (`backend` "gpu", or "auto" resolving to it) the backend's array
    module (CuPy), the device synchronised after each call so the time is the kernel's. Returns
    GFLOP/s per shape and the per-iteration floor (s, sum of the two best times), i.e. 4·M·2K·N
    flops at the measured rates, and the device ("gemm_device") it was timed on.
    """
    xp, device, why = _gemm_module(backend)
    sync = xp.cuda.Device().synchronize if device == "gpu" else (lambda: None)
    rng = np.random.default_rng(seed)
    N, M, K2 = n_frames, n_features, 2 * n_units
    C = xp.asarray(rng.standard_normal((N, K2), dtype=np.float32))
    W = xp.asarray(rng.standard_normal((K2, M), dtype=np.float32))
    X = xp.asarray(rng.standard_normal((N, M), dtype=np.float32))
    out_x = xp.empty((N, M), dtype=np.float32)
    out_c = xp.empty((N, K2), dtype=np.float32)
    flops = 2.0 * N * K2 * M

    def timed(a, b, out) -> float:
        def call() -> None:
            xp.dot(a, b, out=out)
            sync()

        sync()
        return best_time(call, repeats)

    t_synth = timed(C, W, out_x)
    t_grad = timed(X, W.T, out_c)
    floor = t_synth + t_grad
    out = {
        "synth_shape": f"({N},{K2})@({K2},{M})",
        "grad_shape": f"({N},{M})@({M},{K2})",
        "synth_gflops": flops / t_synth / 1e9,
        "grad_gflops": flops / t_grad / 1e9,
        "flops_per_iter": 2 * flops,
        "floor_s_per_iter": floor,
        "gflops": 2 * flops / floor / 1e9,
        "gemm_device": device,
    }
    if why:
        out["gemm_note"] = f"timed on the host: {why}"
    return out


def gemm_floor_best(n_frames: int, n_features: int, n_units: int, repeats: int,
                    seed: int, backend: str = "cpu") -> dict:
    """`gemm_floor` with the default BLAS threads and with one thread; keeps the faster.

    On a small shared machine a contended second core can make two BLAS threads no faster than
    one, so the floor is the best of both (both are under "variants"). Uses threadpoolctl when
    installed (it comes with scikit-learn). On the GPU there is one variant (cuBLAS).
    """
    default = gemm_floor(n_frames, n_features, n_units, repeats, seed, backend)
    if default["gemm_device"] == "gpu":
        default["blas_threads"] = "n/a (gpu)"
        return {**default, "variants": [default]}
    default["blas_threads"] = "default"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return {**default, "variants": [default]}
    with threadpool_limits(1, user_api="blas"):
        single = gemm_floor(n_frames, n_features, n_units, repeats, seed, backend)
    single["blas_threads"] = 1
    best = min((default, single), key=lambda g: g["floor_s_per_iter"])
    return {**best, "variants": [default, single]}


@dataclass
class RunRecord:
    """One timed solver run and the common energy of its codes."""

    setting: dict
    seconds: float
    energy: float
    n_iter: float | None = None


@dataclass
class SolverResult:
    """Everything measured for one solver on one size."""

    solver: str
    status: str = "ok"  # "ok" | "not installed" | "error: ..."
    version: str | None = None
    runs: list[RunRecord] = field(default_factory=list)
    time_per_iter: float | None = None
    time_per_iter_note: str = ""
    extra: dict = field(default_factory=dict)


def sweep(run: Runner, settings: Sequence[dict], problem: Problem, target: float,
          label: str) -> list[RunRecord]:
    """Run `run` on increasing budgets until the common energy reaches `target`; prints one line
    per run. Returns every `RunRecord` (the sweep stops after the first hit)."""
    records = []
    for setting in settings:
        C, seconds, n_iter = run(setting)
        rec = RunRecord(setting=dict(setting), seconds=seconds, energy=problem.energy(C),
                        n_iter=n_iter)
        records.append(rec)
        reference = target / (1 + TARGET_REL)
        rel = (rec.energy - reference) / reference
        print(f"    {label:6s} {setting}: {seconds:8.3f} s  rel.err {rel:9.2e}", flush=True)
        if rec.energy <= target:
            break
    return records


def time_to_target(runs: Sequence[RunRecord], e_star: float) -> RunRecord | None:
    """Fastest run whose energy is within TARGET_REL of e_star (or None)."""
    hits = [r for r in runs if r.energy <= e_star * (1 + TARGET_REL)]
    return min(hits, key=lambda r: r.seconds) if hits else None
