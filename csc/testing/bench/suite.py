"""All the measurements of one problem size: the reference optimum E* (certified by the duality
gap), csc's cost per iteration (overall and by prior) and learning throughput, every solver's time
to E* (1 + TARGET_REL), and csc's peak memory. `bench_size` returns them as a JSON-able dict."""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

import csc
from csc.core.inference import encode
from csc.testing.bench.learning import learning_throughput, learning_vs_sklearn
from csc.testing.bench.memory import csc_peak_memory
from csc.testing.bench.problem import LAM_RATIO, SEQ_LEN, Problem, make_problem
from csc.testing.bench.solvers import (
    FIXED_ITERS,
    csc_fixed_iter,
    csc_reference,
    csc_runner,
    dist_version,
    peer_module,
    skglm_runner,
    spams_runner,
)
from csc.testing.bench.timing import TARGET_REL, SolverResult, sweep, time_to_target


@dataclass
class Config:
    """Benchmark knobs: sizes, repeats and the budgets swept per solver."""

    sizes: list[int]
    n_features: int
    n_units: int
    gemm_repeats: int
    csc_repeats: int
    ref_max_iter: int
    csc_iters: list[int]
    csc_tols: list[float]
    spams_tols: list[float]
    skglm_tols: list[float]
    learn_updates: int = 3
    learn_batch_sequences: int = 32
    sklearn_alpha: float | None = None


PRIOR_SETTINGS = {
    "l1": dict(sparsity="l1"),
    "l1 + l2 slowness": dict(sparsity="l1", slowness="l2", kappa=0.5),
    "l1 + TV slowness": dict(sparsity="l1", slowness="l1", kappa=0.5),
    "cauchy": dict(sparsity="cauchy", sigma=0.4),
    "cauchy + l2 slowness": dict(sparsity="cauchy", sigma=0.4, slowness="l2", kappa=0.5),
}


PRIOR_ITERS = (20, 40)
"""The two encode budgets whose time difference gives a prior's time per iteration."""


def csc_cost_by_prior(problem: Problem, backend: str, floor: float, repeats: int) -> dict:
    """float32 encode time per iteration without setup, for every prior of PRIOR_SETTINGS, and
    its ratio to the GEMM floor `floor` (s/iter).

    Time per iteration = (t(40 iterations) − t(20 iterations)) / 20, each t the best of `repeats`
    encode calls at tol=0 after a warm-up call (Numba compilation): the set-up (validation,
    transfers, the step size's power iteration) is in both times and cancels.
    """
    D = problem.D.astype(np.complex64)
    short, long = PRIOR_ITERS
    out = {}
    for name, prior in PRIOR_SETTINGS.items():
        kw = dict(lam=problem.lam, weights=problem.weights, backend=backend, tol=0.0, **prior)
        encode(problem.X, D, max_iter=2, **kw)  # compile
        best = {}
        for max_iter in PRIOR_ITERS:
            best[max_iter] = np.inf
            for _ in range(repeats):
                t = time.perf_counter()
                encode(problem.X, D, max_iter=max_iter, **kw)
                best[max_iter] = min(best[max_iter], time.perf_counter() - t)
        per_iter = (best[long] - best[short]) / (long - short)
        out[name] = {"per_iter": per_iter, "floor_ratio": per_iter / floor,
                     "seconds": {str(k): v for k, v in best.items()},
                     "setup_s": best[short] - short * per_iter}
    return out


def reference_codes(problem: Problem, cfg: Config,
                    backend: str) -> tuple[np.ndarray, dict, str | None]:
    """High-accuracy codes for E*: float64 encode, else SPAMS float32 at tol=1e-7.

    Returns (real-form codes (N, 2K), what the run reported, the error of encode or None).
    """
    try:
        C, info = csc_reference(problem, backend, cfg.ref_max_iter)
        print(f"  reference: csc float64 tol=1e-9 n_iter={info['n_iter']} "
              f"({info['seconds']:.1f} s)", flush=True)
        return C, {"solver": "csc float64 tol=1e-9", **info}, None
    except Exception as exc:  # noqa: BLE001 - e.g. backend="gpu" unavailable; in the table
        csc_error = f"error: {type(exc).__name__}: {exc}"
        print(f"  csc.encode failed: {csc_error}", flush=True)
    spams = peer_module("spams")
    if spams is None:
        raise RuntimeError("no reference optimum: csc.encode failed and spams is not installed")
    C, seconds, n_iter = spams_runner(spams, problem)({"tol": 1e-7, "max_it": 5000, "it0": 10})
    print(f"  reference: spams tol=1e-7 ({seconds:.1f} s)", flush=True)
    info = {"solver": "spams float32 tol=1e-7", "seconds": seconds, "n_iter": n_iter}
    return C, info, csc_error


def bench_csc(csc_error: str | None, problem: Problem, cfg: Config, backend: str,
              target: float, gemm: dict) -> SolverResult:
    """Fixed-iteration timing and time-to-target sweeps of encode."""
    res = SolverResult("csc")
    if csc_error:
        res.status = csc_error
        return res
    res.version = csc.__version__
    fixed = csc_fixed_iter(problem, backend, cfg.csc_repeats)
    res.time_per_iter = fixed["per_iter"]
    res.time_per_iter_note = (f"total/info.n_iter, tol=0, max_iter={FIXED_ITERS}, "
                              f"best of {cfg.csc_repeats}")
    res.extra["fixed_iter"] = fixed
    print(f"  csc: {fixed['per_iter'] * 1e3:.3f} ms/iter "
          f"({fixed['per_iter'] / gemm['floor_s_per_iter']:.2f}x floor)", flush=True)
    run = csc_runner(problem, backend)
    res.runs = sweep(run, [{"max_iter": k, "tol": 0.0} for k in cfg.csc_iters], problem,
                     target, "csc")
    res.runs += sweep(run, [{"max_iter": 5000, "tol": t} for t in cfg.csc_tols], problem,
                      target, "csc")
    return res


def bench_spams(problem: Problem, cfg: Config, target: float) -> SolverResult:
    """Time-to-target sweep over tol of `spams.fistaFlat` (float32, all cores)."""
    res = SolverResult("spams")
    spams = peer_module("spams")
    if spams is None:
        res.status = "not installed"
        return res
    res.version = dist_version("spams-bin") or dist_version("spams")
    run = spams_runner(spams, problem)
    settings = [{"tol": t, "max_it": 20000, "it0": 10} for t in cfg.spams_tols]
    try:
        res.runs = sweep(run, settings, problem, target, "spams")
    except Exception as exc:  # noqa: BLE001 - report, never fake
        res.status = f"error: {exc!r}"
        return res
    # SPAMS' own objective (info row 0, per signal) against the common energy
    res.extra["spams_own_objective_rel_diff"] = float(
        np.sum(run.last_info[0], dtype=np.float64) / res.runs[-1].energy - 1)
    last = res.runs[-1]
    res.time_per_iter = last.seconds / last.n_iter if last.n_iter else None
    res.time_per_iter_note = (
        "run time / mean per-signal iterations (equivalent full pass), last run")
    return res


def bench_skglm(problem: Problem, cfg: Config, target: float) -> SolverResult:
    """Time-to-target sweep over tol of `skglm.GroupLasso`, one fit per frame."""
    res = SolverResult("skglm")
    skglm = peer_module("skglm")
    if skglm is None:
        res.status = "not installed"
        return res
    res.version = dist_version("skglm")
    settings = [{"tol": t, "max_iter": 1000, "max_epochs": 100_000} for t in cfg.skglm_tols]
    skglm_runner(skglm.GroupLasso, problem, n_frames=16)(settings[-1])  # Numba compilation
    res.runs = sweep(skglm_runner(skglm.GroupLasso, problem), settings, problem, target, "skglm")
    res.time_per_iter_note = "n/a (working-set block coordinate descent, one fit per frame, 1 core)"
    return res


def bench_size(n_frames: int, cfg: Config, backend: str, seed: int, gemm: dict,
               compare_learning: bool = False) -> dict:
    """All measurements for one frame count (`gemm`: its floor), with the learning comparison
    against scikit-learn if `compare_learning`; returns a JSON-able dict."""
    print(f"\n== N={n_frames} frames (M={cfg.n_features}, K={cfg.n_units}) ==", flush=True)
    problem = make_problem(n_frames, cfg.n_features, cfg.n_units, seed)
    ref_C, ref_info, csc_error = reference_codes(problem, cfg, backend)
    e_ref = problem.energy(ref_C)
    target = e_ref * (1 + TARGET_REL)
    results = [bench_csc(csc_error, problem, cfg, backend, target, gemm),
               bench_spams(problem, cfg, target),
               bench_skglm(problem, cfg, target)]

    # E* = the best energy seen; certified by the dual bound of the reference codes
    e_star = min([e_ref] + [r.energy for res in results for r in res.runs])
    lower = problem.dual_bound(ref_C)
    out = {
        "n_frames": n_frames,
        "n_features": cfg.n_features,
        "n_units": cfg.n_units,
        "n_sequences": n_frames // SEQ_LEN,
        "lam": problem.lam,
        "lam_max": problem.lam_max,
        "lam_ratio": LAM_RATIO,
        "gemm": gemm,
        "reference": {**ref_info, "energy": e_ref, "e_star": e_star, "dual_lower_bound": lower,
                      "certified_rel_gap": (e_star - lower) / e_star,
                      "active_fraction": problem.active_fraction(ref_C)},
        "solvers": {},
    }
    t_csc = None
    for res in results:
        hit = time_to_target(res.runs, e_star)
        if res.solver == "csc" and hit is not None:
            t_csc = hit.seconds
        best = min((r.energy for r in res.runs), default=None)
        out["solvers"][res.solver] = {
            "status": res.status,
            "version": res.version,
            "time_per_iter": res.time_per_iter,
            "time_per_iter_note": res.time_per_iter_note,
            "time_to_target": hit.seconds if hit else None,
            "target_setting": hit.setting if hit else None,
            "best_rel_err": (best / e_star - 1) if best is not None else None,
            "same_problem_verified": best is not None and best <= e_star * (1 + TARGET_REL),
            "runs": [asdict(r) | {"rel_err": r.energy / e_star - 1} for r in res.runs],
            **res.extra,
        }
    for s in out["solvers"].values():
        s["ratio_vs_csc"] = (s["time_to_target"] / t_csc
                             if (t_csc and s["time_to_target"]) else None)
        if s["time_per_iter"]:
            s["floor_ratio"] = s["time_per_iter"] / gemm["floor_s_per_iter"]
            s["overhead"] = 1 - gemm["floor_s_per_iter"] / s["time_per_iter"]
    if csc_error is None:
        out["csc_by_prior"] = csc_cost_by_prior(problem, backend, gemm["floor_s_per_iter"],
                                                cfg.csc_repeats)
        out["learning"] = learning_throughput(problem, backend)
        if compare_learning:
            out["learning_vs_sklearn"] = learning_vs_sklearn(
                problem, backend, cfg.learn_updates, cfg.learn_batch_sequences, cfg.sklearn_alpha,
                seed)
        fixed = out["solvers"]["csc"]["fixed_iter"]
        out["encode_frames_per_s_per_iter"] = problem.n_frames / fixed["per_iter"]
        out["csc_memory"] = csc_peak_memory(problem, backend, FIXED_ITERS)
    else:
        out["csc_memory"] = {"error": csc_error}
    return out


def _proc_field(path: str, key: str) -> str | None:
    """The value after "key:" on the first line of a /proc file that starts with `key`."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's "model name" in /proc/cpuinfo, else `platform.processor()` (or "unknown")."""
    return _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"


def total_memory_gib() -> float | None:
    """Physical memory in GiB (os.sysconf, else /proc/meminfo MemTotal), or None."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, OSError, ValueError):
        pass
    kib = _proc_field("/proc/meminfo", "MemTotal")  # "23456789 kB"
    return int(kib.split()[0]) / 2**20 if kib else None


def gpu_name(backend: str) -> str | None:
    """The CUDA device 0's name when `backend` resolves to the GPU, else None."""
    if backend == "cpu":
        return None
    try:
        from csc.backends.backend import get_backend

        b = get_backend(backend)
        if b.name != "gpu":
            return None
        name = b.xp.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:  # noqa: BLE001 - informational only
        return f"unknown ({type(exc).__name__}: {exc})"


def environment(backend: str = "cpu") -> dict:
    """Machine and library versions: CPU model, logical CPUs, memory, BLAS and, for a GPU
    backend, the device's name."""
    blas = None
    try:
        build = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        blas = f"{build.get('name')} {build.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        pass
    return {"python": platform.python_version(), "numpy": np.__version__, "blas": blas,
            "cpu_model": cpu_model(), "cpus": os.cpu_count(), "memory_gib": total_memory_gib(),
            "gpu": gpu_name(backend), "backend": backend, "machine": platform.machine(),
            "platform": platform.platform()}
