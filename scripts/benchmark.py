#!/usr/bin/env python
"""Benchmark ``csc.encode`` (convex case) against the GEMM floor and peer solvers.

The problem is the convex complex sparse-coding objective, written in real form.
For a complex dictionary ``D`` (K, M), ``W = [D.real; D.imag]`` (2K, M) and each
frame ``x`` (M,) is coded independently by ``c`` (2K,)::

    E(c) = 0.5 * sum_m w_m (x_m - (W.T @ c)_m)^2 + lam * sum_k ||(c_k, c_{K+k})||_2

i.e. a group lasso whose groups are the pairs ``{k, K+k}`` (complex amplitudes
``|z_k|`` with ``z = c[:K] + 1j c[K:]``).  The same objective is evaluated for
every solver by :func:`objective` (float64 numpy, summed over all frames).

What is measured, in one run and on one machine:

1. GEMM rate: ``np.dot`` float32 for the two GEMM shapes of one FISTA iteration,
   ``(N, 2K) @ (2K, M)`` and ``(N, M) @ (M, 2K)``; the per-iteration floor is the
   sum of the best times of the two (= ``4 M 2K N`` flops at the measured rate).
2. ``csc.encode`` time per iteration with ``tol=0, max_iter=50`` after a warm-up
   call (numba compilation), its ratio to the floor and the overhead fraction
   ``1 - floor / time_per_iter``.
3. Time to reach ``E <= E* (1 + 1e-4)`` for ``csc.encode``, SPAMS
   (``spams.fistaFlat``) and skglm (``skglm.GroupLasso``), where ``E*`` is the best
   energy seen (a float64 high-accuracy ``csc.encode`` run plus every benchmark
   run), certified by a duality-gap lower bound.  Each solver is run with an
   increasing sequence of budgets (iterations or decreasing tolerances) and the
   fastest run that reaches the target is reported.
4. Peak memory of one ``csc.encode`` call, measured in a subprocess from the
   kernel's resident-set high-water mark (``VmHWM`` after resetting it through
   ``/proc/self/clear_refs``; falls back to ``ru_maxrss``), so BLAS and numba
   buffers are included.

Usage::

    python scripts/benchmark.py --quick             # < 1 minute on 2 cores
    python scripts/benchmark.py --json bench.json   # M=256, K=256, N in {1024, 8192}
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from csc.core.model import codes_to_real, dictionary_to_real
from csc.testing.planted import random_dictionary

SEQ_LEN = 64
"""Frames per sequence: N frames are laid out as ``N // SEQ_LEN`` sequences."""

TARGET_REL = 1e-4
"""Relative energy accuracy that defines "solved": ``E <= E* (1 + TARGET_REL)``."""

LAM_RATIO = 0.1
"""``lam = LAM_RATIO * lam_max``."""

FIXED_ITERS = 50
"""Iterations of the fixed-budget ``csc.encode`` timing run."""


# --------------------------------------------------------------------------- #
# Problem                                                                     #
# --------------------------------------------------------------------------- #


@dataclass
class Problem:
    """One benchmark instance (convex case, unit feature weights).

    Attributes:
        D: complex128 dictionary (K, M), each complex row of unit l2 norm.
        X: float32 data (n_sequences, SEQ_LEN, M).
        lam: group-lasso weight used by every solver.
        lam_max: smallest ``lam`` giving all-zero codes.
        weights: float64 feature weights (M,), all ones here.
    """

    D: np.ndarray
    X: np.ndarray
    lam: float
    lam_max: float
    weights: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of complex units K."""
        return self.D.shape[0]

    @property
    def n_features(self) -> int:
        """Number of features M."""
        return self.D.shape[1]

    @property
    def n_frames(self) -> int:
        """Total number of frames N."""
        return self.X.shape[0] * self.X.shape[1]

    def real_dict(self, dtype: Any = np.float64) -> np.ndarray:
        """Real-form dictionary ``W = [D.real; D.imag]``, shape (2K, M)."""
        return dictionary_to_real(self.D).astype(dtype)

    def frames(self, dtype: Any = np.float64) -> np.ndarray:
        """Data as a (N, M) matrix of frames."""
        return self.X.reshape(-1, self.n_features).astype(dtype)


def planted_codes(n_seq: int, n_units: int, density: float, rng: np.random.Generator) -> np.ndarray:
    """Sparse complex codes (n_seq, SEQ_LEN, K) with slowly rotating phases.

    Each sequence activates ``density * K`` units; an active unit keeps a fixed
    (Rayleigh) amplitude and its phase advances by a unit-specific angular
    velocity per frame, mimicking the amplitude/phase structure of video codes.
    """
    n_active = max(1, int(round(density * n_units)))
    Z = np.zeros((n_seq, SEQ_LEN, n_units), dtype=np.complex128)
    t = np.arange(SEQ_LEN)[:, None]
    for s in range(n_seq):
        active = rng.choice(n_units, size=n_active, replace=False)
        amp = rng.rayleigh(1.0, size=n_active)
        phase0 = rng.uniform(0, 2 * np.pi, size=n_active)
        omega = rng.normal(0.0, 0.3, size=n_active)
        Z[s, :, active] = (amp * np.exp(1j * (phase0 + omega * t))).T
    return Z


def lam_max_of(X2: np.ndarray, W: np.ndarray, weights: np.ndarray) -> float:
    """``max_{n,k} ||(W diag(w) x_n)[[k, K+k]]||_2``: smallest lam with zero codes."""
    K = W.shape[0] // 2
    G = (X2 * weights) @ W.T
    return float(np.hypot(G[:, :K], G[:, K:]).max())


def make_problem(
    n_frames: int,
    n_features: int,
    n_units: int,
    seed: int,
    density: float = 0.05,
    noise: float = 0.1,
) -> Problem:
    """Build a planted-code problem.

    ``X = Re(Z.conj() @ D) + noise * rms(clean) * N(0, 1)`` stored as float32, with
    ``Z`` from :func:`planted_codes`; ``lam = LAM_RATIO * lam_max``.
    """
    if n_frames % SEQ_LEN:
        raise ValueError(f"n_frames={n_frames} must be a multiple of {SEQ_LEN}")
    rng = np.random.default_rng(seed)
    D = random_dictionary(n_units, n_features, rng, normalize="complex")
    Z = planted_codes(n_frames // SEQ_LEN, n_units, density, rng)
    clean = (Z.conj() @ D).real
    X = clean + noise * np.sqrt(np.mean(clean**2)) * rng.standard_normal(clean.shape)
    X = X.astype(np.float32)
    weights = np.ones(n_features)
    lmax = lam_max_of(X.reshape(-1, n_features).astype(np.float64), dictionary_to_real(D), weights)
    return Problem(D=D, X=X, lam=LAM_RATIO * lmax, lam_max=lmax, weights=weights)


# --------------------------------------------------------------------------- #
# Common evaluation                                                           #
# --------------------------------------------------------------------------- #


def objective(problem: Problem, C: np.ndarray) -> float:
    """The common energy (float64) of real-form codes ``C`` (N, 2K), summed over frames."""
    K = problem.n_units
    C = np.asarray(C, dtype=np.float64)
    R = problem.frames() - C @ problem.real_dict()
    recon = 0.5 * float(np.sum(problem.weights * R * R))
    sparse = problem.lam * float(np.hypot(C[:, :K], C[:, K:]).sum())
    return recon + sparse


def dual_bound(problem: Problem, C: np.ndarray) -> float:
    """Lower bound on the optimal energy from the dual point built from ``C``.

    With ``y = sqrt(w) x`` and ``A = diag(sqrt(w)) W.T`` the dual of each frame is
    ``max_theta theta.y - ||theta||^2 / 2`` s.t. ``||A_g^T theta|| <= lam``.  The
    residual ``r = y - A c`` is scaled by the best feasible ``s`` per frame.
    """
    K = problem.n_units
    W = problem.real_dict()
    sw = np.sqrt(problem.weights)
    Y = problem.frames() * sw
    R = Y - (np.asarray(C, dtype=np.float64) @ W) * sw
    G = (R * sw) @ W.T
    gmax = np.hypot(G[:, :K], G[:, K:]).max(axis=1)
    s_max = np.where(gmax > 0, np.minimum(1.0, problem.lam / np.maximum(gmax, 1e-300)), 1.0)
    ry = np.einsum("nm,nm->n", R, Y)
    rr = np.einsum("nm,nm->n", R, R)
    s = np.clip(ry / np.maximum(rr, 1e-300), 0.0, s_max)
    return float(np.sum(s * ry - 0.5 * s * s * rr))


def active_fraction(problem: Problem, C: np.ndarray, rel: float = 1e-6) -> float:
    """Fraction of (frame, unit) amplitudes above ``rel * max amplitude``."""
    K = problem.n_units
    amp = np.hypot(C[:, :K], C[:, K:])
    return float(np.mean(amp > rel * max(amp.max(), 1e-300)))


# --------------------------------------------------------------------------- #
# Timing helpers                                                              #
# --------------------------------------------------------------------------- #


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """Best wall-clock time of ``repeats`` calls of ``fn`` (after one untimed call)."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_floor(n_frames: int, n_features: int, n_units: int, repeats: int, seed: int) -> dict:
    """Time the two float32 GEMMs of one FISTA iteration with ``np.dot``.

    Returns GFLOP/s per shape and the per-iteration floor (sum of the best times
    of the two shapes), i.e. ``4 M 2K N`` flops at the measured rates.
    """
    rng = np.random.default_rng(seed)
    N, M, K2 = n_frames, n_features, 2 * n_units
    C = rng.standard_normal((N, K2), dtype=np.float32)
    W = rng.standard_normal((K2, M), dtype=np.float32)
    X = rng.standard_normal((N, M), dtype=np.float32)
    out_x = np.empty((N, M), dtype=np.float32)
    out_c = np.empty((N, K2), dtype=np.float32)
    flops = 2.0 * N * K2 * M
    t_synth = best_time(lambda: np.dot(C, W, out=out_x), repeats)  # (N,2K)@(2K,M)
    t_grad = best_time(lambda: np.dot(X, W.T, out=out_c), repeats)  # (N,M)@(M,2K)
    floor = t_synth + t_grad
    return {
        "synth_shape": f"({N},{K2})@({K2},{M})",
        "grad_shape": f"({N},{M})@({M},{K2})",
        "synth_gflops": flops / t_synth / 1e9,
        "grad_gflops": flops / t_grad / 1e9,
        "flops_per_iter": 2 * flops,
        "floor_s_per_iter": floor,
        "gflops": 2 * flops / floor / 1e9,
    }


def gemm_floor_best(n_frames: int, n_features: int, n_units: int, repeats: int, seed: int) -> dict:
    """:func:`gemm_floor` with the default BLAS threads and with one thread; keeps the faster.

    On this 2-core VM a contended second core can make two BLAS threads no
    faster than one, so the floor is the best of both (both are in the JSON).
    Uses ``threadpoolctl`` when installed (it comes with scikit-learn).
    """
    default = gemm_floor(n_frames, n_features, n_units, repeats, seed)
    default["blas_threads"] = "default"
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:
        return {**default, "variants": [default]}
    with threadpool_limits(1, user_api="blas"):
        single = gemm_floor(n_frames, n_features, n_units, repeats, seed)
    single["blas_threads"] = 1
    best = min((default, single), key=lambda g: g["floor_s_per_iter"])
    return {**best, "variants": [default, single]}


@dataclass
class RunRecord:
    """One timed solver run and the common energy of its codes."""

    setting: dict
    seconds: float
    energy: float
    n_iter: Optional[float] = None


@dataclass
class SolverResult:
    """Everything measured for one solver on one size."""

    solver: str
    status: str = "ok"  # "ok" | "not installed" | "error: ..."
    version: Optional[str] = None
    runs: list = field(default_factory=list)
    time_per_iter: Optional[float] = None
    time_per_iter_note: str = ""
    extra: dict = field(default_factory=dict)


Runner = Callable[[dict], "tuple[np.ndarray, float, Optional[float]]"]


def sweep(run: Runner, settings: Sequence[dict], problem: Problem, target: float, label: str) -> list:
    """Run ``run`` on increasing budgets until the common energy reaches ``target``.

    Returns every :class:`RunRecord` (the sweep stops after the first hit).
    """
    records = []
    for setting in settings:
        C, seconds, n_iter = run(setting)
        rec = RunRecord(setting=dict(setting), seconds=seconds, energy=objective(problem, C), n_iter=n_iter)
        records.append(rec)
        rel = (rec.energy - target / (1 + TARGET_REL)) / (target / (1 + TARGET_REL))
        print(f"    {label:6s} {setting}: {seconds:8.3f} s  rel.err {rel:9.2e}", flush=True)
        if rec.energy <= target:
            break
    return records


def time_to_target(runs: Sequence[RunRecord], e_star: float) -> Optional[RunRecord]:
    """Fastest run whose energy is within ``TARGET_REL`` of ``e_star`` (or None)."""
    hits = [r for r in runs if r.energy <= e_star * (1 + TARGET_REL)]
    return min(hits, key=lambda r: r.seconds) if hits else None


# --------------------------------------------------------------------------- #
# csc                                                                         #
# --------------------------------------------------------------------------- #


def import_csc() -> Any:
    """Import csc or return None."""
    try:
        import csc  # noqa: PLC0415
    except ImportError:
        return None
    return csc


def _info_get(info: Any, key: str) -> Any:
    """Read ``key`` from the ``info`` returned by ``csc.encode`` (dict or object)."""
    return info[key] if isinstance(info, dict) else getattr(info, key)


def csc_encode(csc: Any, problem: Problem, dtype: Any, backend: str, **kw: Any) -> "tuple[np.ndarray, float, Any]":
    """Call ``csc.encode`` on the problem in ``dtype``; returns (Z, seconds, info)."""
    X = problem.X.astype(dtype, copy=False)
    D = problem.D.astype(np.complex64 if dtype == np.float32 else np.complex128)
    t0 = time.perf_counter()
    out = csc.encode(X, D, sparsity="l1", lam=problem.lam, slowness="none", backend=backend, **kw)
    seconds = time.perf_counter() - t0
    Z, info = out if kw.get("return_info") else (out, None)
    return Z, seconds, info


def csc_runner(csc: Any, problem: Problem, backend: str) -> Runner:
    """Runner for :func:`sweep`: float32 ``csc.encode`` with a given max_iter/tol."""

    def run(setting: dict) -> "tuple[np.ndarray, float, Optional[float]]":
        Z, seconds, info = csc_encode(csc, problem, np.float32, backend, return_info=True, **setting)
        return codes_to_real(Z, np.float64), seconds, float(_info_get(info, "n_iter"))

    return run


def csc_fixed_iter(csc: Any, problem: Problem, backend: str, repeats: int) -> dict:
    """Per-iteration cost of float32 ``csc.encode`` at ``tol=0``.

    ``per_iter`` is total time / ``info.n_iter`` for ``max_iter=FIXED_ITERS``
    (best of ``repeats``, after a warm-up call that compiles numba);
    ``marginal_per_iter`` is the slope between ``max_iter=10`` and
    ``FIXED_ITERS`` (excludes fixed set-up cost); ``per_iter_no_info`` repeats the
    first with ``return_info=False`` (no per-iteration energy bookkeeping).
    """
    csc_encode(csc, problem, np.float32, backend, tol=0.0, max_iter=2, return_info=True)  # warm-up/compile

    def timed(max_iter: int, return_info: bool) -> "tuple[float, int]":
        best, n_iter = np.inf, max_iter
        for _ in range(repeats):
            _, seconds, info = csc_encode(
                csc, problem, np.float32, backend, tol=0.0, max_iter=max_iter, return_info=return_info
            )
            best = min(best, seconds)
            if info is not None:
                n_iter = int(_info_get(info, "n_iter"))
        return best, n_iter

    t_full, n_full = timed(FIXED_ITERS, True)
    t_short, n_short = timed(10, True)
    t_noinfo, _ = timed(FIXED_ITERS, False)
    return {
        "max_iter": FIXED_ITERS,
        "n_iter": n_full,
        "seconds": t_full,
        "per_iter": t_full / n_full,
        "marginal_per_iter": (t_full - t_short) / max(n_full - n_short, 1),
        "setup_s": t_short - 10 * (t_full - t_short) / max(n_full - n_short, 1),
        "per_iter_no_info": t_noinfo / FIXED_ITERS,
    }


def csc_reference(csc: Any, problem: Problem, backend: str, max_iter: int) -> "tuple[np.ndarray, dict]":
    """High-accuracy float64 ``csc.encode`` (tol=1e-9) used for ``E*``."""
    Z, seconds, info = csc_encode(csc, problem, np.float64, backend, tol=1e-9, max_iter=max_iter, return_info=True)
    return codes_to_real(Z, np.float64), {
        "seconds": seconds,
        "n_iter": int(_info_get(info, "n_iter")),
        "converged": bool(_info_get(info, "converged")),
        "csc_energy_total": float(
            csc.energy(problem.X.astype(np.float64), Z, problem.D, sparsity="l1", lam=problem.lam, slowness="none")[
                "total"
            ]
        ),
    }


# --------------------------------------------------------------------------- #
# SPAMS                                                                       #
# --------------------------------------------------------------------------- #


def spams_runner(spams: Any, problem: Problem) -> Runner:
    """Runner for ``spams.fistaFlat`` on the real-form problem, float32.

    SPAMS solves ``0.5 ||y - A w||^2 + lambda1 sum_g ||w_g||_2`` per column of
    ``Y`` (M, N) with design ``A = diag(sqrt w) W.T`` (M, 2K) and groups given as
    a 1-based int32 label per variable (``groups[j] = j mod K + 1``; 0-based
    labels segfault).  So ``lambda1 = lam`` and ``y = sqrt(w) x``.  Inputs are
    laid out (Fortran order) before the clock starts.
    """
    K = problem.n_units
    sw = np.sqrt(problem.weights)
    Y = np.asfortranarray((problem.frames() * sw).T, dtype=np.float32)
    A = np.asfortranarray(problem.real_dict().T * sw[:, None], dtype=np.float32)
    groups = (np.arange(2 * K) % K + 1).astype(np.int32)

    def run(setting: dict) -> "tuple[np.ndarray, float, Optional[float]]":
        W0 = np.zeros((2 * K, Y.shape[1]), dtype=np.float32, order="F")
        t0 = time.perf_counter()
        Wout, info = spams.fistaFlat(
            Y, A, W0, True, loss="square", regul="group-lasso-l2", groups=groups,
            lambda1=problem.lam, numThreads=-1, **setting,
        )
        seconds = time.perf_counter() - t0
        run.last_info = info  # type: ignore[attr-defined]
        return np.asarray(Wout.T, dtype=np.float64), seconds, float(np.mean(info[3]))

    return run


# --------------------------------------------------------------------------- #
# skglm                                                                       #
# --------------------------------------------------------------------------- #


def skglm_runner(GroupLasso: Any, problem: Problem, n_frames: Optional[int] = None) -> Runner:
    """Runner for ``skglm.GroupLasso``, one regression per frame (float64, 1 core).

    skglm minimises ``1/(2 n_samples) ||y - A w||^2 + alpha sum_g ||w_g||`` for a
    single target, with ``n_samples = M``; so ``alpha = lam / M``.  Columns are
    interleaved ``[c_0, c_K, c_1, c_{K+1}, ...]`` so the groups are contiguous
    pairs (``groups=2``); ``fit_intercept=False`` (its default is True).
    ``n_frames`` limits the run to the first frames (warm-up only).
    """
    K, M = problem.n_units, problem.n_features
    sw = np.sqrt(problem.weights)
    perm = np.stack([np.arange(K), np.arange(K) + K], axis=1).ravel()
    A = np.asfortranarray((problem.real_dict().T * sw[:, None])[:, perm])
    Y = (problem.frames() * sw)[:n_frames]

    def run(setting: dict) -> "tuple[np.ndarray, float, Optional[float]]":
        est = GroupLasso(groups=2, alpha=problem.lam / M, fit_intercept=False, **setting)
        C = np.zeros((Y.shape[0], 2 * K))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at loose budgets
            for n in range(Y.shape[0]):
                est.fit(A, Y[n])
                C[n, perm] = est.coef_
        return C, time.perf_counter() - t0, None

    return run


# --------------------------------------------------------------------------- #
# Peak memory (subprocess)                                                    #
# --------------------------------------------------------------------------- #


def _status_kib(key: str) -> int:
    """A ``/proc/self/status`` field in KiB."""
    with open("/proc/self/status") as fh:
        return int(re.search(rf"^{key}:\s+(\d+)", fh.read(), re.M).group(1))


def memory_probe_child(path: str) -> None:
    """Subprocess body: peak RSS increase of one float32 ``csc.encode`` call.

    Loads X, D from ``path`` (npz), compiles with a tiny call, then resets the
    RSS high-water mark (``echo 5 > /proc/self/clear_refs``) and reads ``VmHWM``
    after the call; falls back to ``ru_maxrss`` if the reset is not allowed.
    Prints one JSON line.
    """
    data = np.load(path)
    X = np.ascontiguousarray(data["X"])
    D = np.ascontiguousarray(data["D"])
    lam, backend, max_iter = float(data["lam"]), str(data["backend"]), int(data["max_iter"])
    import csc  # noqa: PLC0415

    kw = dict(sparsity="l1", lam=lam, slowness="none", backend=backend, tol=0.0)
    csc.encode(X[:1, :4], D, max_iter=2, **kw)
    gc.collect()
    rss0 = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        method = "VmHWM after clear_refs reset"
    except OSError:
        method = "ru_maxrss (not reset: lower bound if earlier peak was higher)"
    Z = csc.encode(X, D, max_iter=max_iter, **kw)
    peak = _status_kib("VmHWM") if method.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rss_before_kib": rss0, "peak_kib": peak, "method": method, "z_bytes": Z.nbytes}))


def csc_peak_memory(problem: Problem, backend: str) -> dict:
    """Run :func:`memory_probe_child` in a fresh interpreter; returns MiB figures."""
    N, M, K = problem.n_frames, problem.n_features, problem.n_units
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "problem.npz")
        np.savez(path, X=problem.X, D=problem.D.astype(np.complex64), lam=problem.lam,
                 backend=backend, max_iter=FIXED_ITERS)
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-probe", path],
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc={proc.returncode}"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    mib = 1024.0
    extra = (res["peak_kib"] - res["rss_before_kib"]) / mib
    code_mib = N * 2 * K * 4 / 2**20
    return {
        "method": res["method"],
        "peak_extra_mib": extra,
        "output_z_mib": res["z_bytes"] / 2**20,
        "input_x_mib": N * M * 4 / 2**20,
        "code_array_mib": code_mib,
        "extra_in_code_arrays": extra / code_mib,
    }


# --------------------------------------------------------------------------- #
# Driver                                                                      #
# --------------------------------------------------------------------------- #


@dataclass
class Config:
    """Benchmark knobs (quick vs full)."""

    sizes: list
    n_features: int
    n_units: int
    gemm_repeats: int
    csc_repeats: int
    ref_max_iter: int
    csc_iters: list
    csc_tols: list
    spams_tols: list
    skglm_tols: list


def make_config(args: argparse.Namespace) -> Config:
    """Quick or full configuration, with CLI overrides."""
    quick = args.quick
    iters = [5, 8, 12, 18, 27, 40, 60, 90, 135, 200, 300, 450, 675, 1000, 1500, 2250, 3400, 5000]
    tols = [1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 1e-7, 1e-8]
    return Config(
        sizes=args.sizes or ([256] if quick else [1024, 8192]),
        n_features=args.n_features or (64 if quick else 256),
        n_units=args.n_units or (64 if quick else 256),
        gemm_repeats=5 if quick else 7,
        csc_repeats=2 if quick else 3,
        ref_max_iter=2000 if quick else 3000,
        csc_iters=iters,
        csc_tols=tols,
        spams_tols=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6, 1e-7],
        skglm_tols=tols,
    )


def bench_size(n_frames: int, cfg: Config, args: argparse.Namespace, gemm: dict) -> dict:
    """All measurements for one frame count (``gemm``: its floor); returns a JSON-able dict."""
    print(f"\n== N={n_frames} frames (M={cfg.n_features}, K={cfg.n_units}) ==", flush=True)
    problem = make_problem(n_frames, cfg.n_features, cfg.n_units, args.seed)
    csc = import_csc()
    ref_C, ref_info, csc_error = reference_codes(csc, problem, cfg, args.backend)
    e_ref = objective(problem, ref_C)
    target = e_ref * (1 + TARGET_REL)

    results = [
        bench_csc(csc, csc_error, problem, cfg, args, target, gemm),
        bench_spams(problem, cfg, target),
        bench_skglm(problem, cfg, target),
    ]

    # E* = best energy seen; certificate from the dual bound of the best codes.
    all_runs = [r for res in results for r in res.runs]
    e_star = min([e_ref] + [r.energy for r in all_runs])
    lower = dual_bound(problem, ref_C)
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
                      "active_fraction": active_fraction(problem, ref_C),
                      "csc_energy_vs_common": (ref_info["csc_energy_total"] / e_ref - 1)
                      if "csc_energy_total" in ref_info else None},
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
            "same_problem_verified": (best is not None and best <= e_star * (1 + TARGET_REL)),
            "runs": [asdict(r) | {"rel_err": r.energy / e_star - 1} for r in res.runs],
            **res.extra,
        }
    for name, s in out["solvers"].items():
        s["ratio_vs_csc"] = s["time_to_target"] / t_csc if (t_csc and s["time_to_target"]) else None
        tpi = s["time_per_iter"]
        if tpi:
            s["floor_ratio"] = tpi / gemm["floor_s_per_iter"]
            s["overhead"] = 1 - gemm["floor_s_per_iter"] / tpi
    if csc is not None and csc_error is None:
        out["csc_by_prior"] = csc_cost_by_prior(problem, args.backend, gemm["floor_s_per_iter"],
                                                cfg.csc_repeats)
        out["learning"] = learning_throughput(problem, args.backend)
        fixed = out["solvers"]["csc"].get("fixed_iter", {})
        if fixed:
            out["encode_frames_per_s_per_iter"] = problem.n_frames / fixed["per_iter"]
        out["csc_memory"] = csc_peak_memory(problem, args.backend)
    else:
        out["csc_memory"] = {"error": csc_error or "csc not installed"}
    return out


PRIOR_SETTINGS = {
    "l1": dict(sparsity="l1"),
    "l1 + l2 slowness": dict(sparsity="l1", slowness="l2", kappa=0.5),
    "l1 + TV slowness": dict(sparsity="l1", slowness="l1", kappa=0.5),
    "cauchy": dict(sparsity="cauchy", sigma=0.4),
    "cauchy + l2 slowness": dict(sparsity="cauchy", sigma=0.4, slowness="l2", kappa=0.5),
}


def csc_cost_by_prior(problem: Problem, backend: str, floor: float, repeats: int) -> dict:
    """float32 ``csc.encode`` time per iteration (tol=0, 20 iterations, best of ``repeats``) for
    every prior combination, and its ratio to the GEMM floor ``floor`` (s/iter)."""
    import csc

    out = {}
    for name, prior in PRIOR_SETTINGS.items():
        kw = dict(lam=problem.lam, weights=problem.weights, backend=backend, tol=0.0, **prior)
        csc.encode(problem.X, problem.D.astype(np.complex64), max_iter=2, **kw)  # compile
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            csc.encode(problem.X, problem.D.astype(np.complex64), max_iter=20, **kw)
            best = min(best, time.perf_counter() - t)
        out[name] = {"per_iter": best / 20, "floor_ratio": best / 20 / floor}
    return out


def learning_throughput(problem: Problem, backend: str, n_updates: int = 5) -> dict:
    """Dictionary updates per second (online rule, l1 + TV slowness, 30 inference iterations per
    update) with the whole problem as one batch, and the frames per second that makes."""
    import csc

    K = problem.n_units
    model = csc.ComplexSparseCoding(K, lam=problem.lam, slowness="l1", kappa=problem.lam,
                                    learning="online", max_iter=30, tol=0.0, random_state=0,
                                    backend=backend)
    model.partial_fit(problem.X)  # compile, initialise
    t = time.perf_counter()
    for _ in range(n_updates):
        model.partial_fit(problem.X)
    seconds = (time.perf_counter() - t) / n_updates
    return {"seconds_per_update": seconds, "updates_per_s": 1 / seconds,
            "frames_per_s": problem.n_frames / seconds}


def prior_table(sizes: Sequence[dict]) -> str:
    """Markdown table of csc time per iteration by prior, per size."""
    rows = ["| prior | frames | time/iter (ms) | / GEMM floor |", "|---|---|---|---|"]
    for size in sizes:
        for name, r in size.get("csc_by_prior", {}).items():
            rows.append(f"| {name} | {size['n_frames']} | {r['per_iter'] * 1e3:.2f} | "
                        f"{r['floor_ratio']:.2f} |")
    return "\n".join(rows)


def _try_import(name: str) -> Any:
    """Import a module by name or return None."""
    try:
        return __import__(name)
    except ImportError:
        return None


def reference_codes(csc: Any, problem: Problem, cfg: Config, backend: str) -> "tuple[np.ndarray, dict, Optional[str]]":
    """High-accuracy codes for ``E*``: float64 ``csc.encode``, else SPAMS float32 at tol=1e-7.

    Returns (codes, info, error of csc.encode or None).
    """
    csc_error = None
    if csc is not None:
        try:
            C, info = csc_reference(csc, problem, backend, cfg.ref_max_iter)
            print(f"  reference: csc float64 tol=1e-9 n_iter={info['n_iter']} ({info['seconds']:.1f} s)", flush=True)
            return C, {"solver": "csc float64 tol=1e-9", **info}, None
        except Exception as exc:  # noqa: BLE001 - e.g. backend="gpu" unavailable; reported in the table
            csc_error = f"error: {type(exc).__name__}: {exc}"
            print(f"  csc.encode failed: {csc_error}", flush=True)
    spams = _try_import("spams")
    if spams is None:
        raise SystemExit("no reference optimum: csc.encode unusable and spams not installed")
    C, seconds, n_iter = spams_runner(spams, problem)({"tol": 1e-7, "max_it": 5000, "it0": 10})
    print(f"  reference: spams tol=1e-7 ({seconds:.1f} s)", flush=True)
    return C, {"solver": "spams float32 tol=1e-7", "seconds": seconds, "n_iter": n_iter}, csc_error


def bench_csc(csc: Any, csc_error: Optional[str], problem: Problem, cfg: Config, args: argparse.Namespace,
              target: float, gemm: dict) -> SolverResult:
    """Fixed-iteration timing and time-to-target sweeps for ``csc.encode``."""
    res = SolverResult("csc")
    if csc is None or csc_error:
        res.status = csc_error or "not installed"
        return res
    res.version = getattr(csc, "__version__", None)
    fixed = csc_fixed_iter(csc, problem, args.backend, cfg.csc_repeats)
    res.time_per_iter = fixed["per_iter"]
    res.time_per_iter_note = f"total/info.n_iter, tol=0, max_iter={FIXED_ITERS}, best of {cfg.csc_repeats}"
    res.extra["fixed_iter"] = fixed
    print(f"  csc: {fixed['per_iter'] * 1e3:.3f} ms/iter "
          f"({fixed['per_iter'] / gemm['floor_s_per_iter']:.2f}x floor)", flush=True)
    run = csc_runner(csc, problem, args.backend)
    res.runs = sweep(run, [{"max_iter": k, "tol": 0.0} for k in cfg.csc_iters], problem, target, "csc")
    res.runs += sweep(run, [{"max_iter": 5000, "tol": t} for t in cfg.csc_tols], problem, target, "csc")
    return res


def bench_spams(problem: Problem, cfg: Config, target: float) -> SolverResult:
    """Time-to-target sweep over ``tol`` for ``spams.fistaFlat`` (float32, all cores)."""
    res = SolverResult("spams")
    spams = _try_import("spams")
    if spams is None:
        res.status = "not installed"
        return res
    res.version = _dist_version("spams-bin") or _dist_version("spams")
    run = spams_runner(spams, problem)
    settings = [{"tol": t, "max_it": 20000, "it0": 10} for t in cfg.spams_tols]
    try:
        res.runs = sweep(run, settings, problem, target, "spams")
    except Exception as exc:  # noqa: BLE001 - report, never fake
        res.status = f"error: {exc!r}"
        return res
    # Verify SPAMS' own objective (info row 0, per signal) against ours.
    info = run.last_info  # type: ignore[attr-defined]
    res.extra["spams_own_objective_rel_diff"] = float(np.sum(info[0], dtype=np.float64) / res.runs[-1].energy - 1)
    last = res.runs[-1]
    res.time_per_iter = last.seconds / last.n_iter if last.n_iter else None
    res.time_per_iter_note = "run time / mean per-signal iterations (equivalent full pass), last run"
    return res


def bench_skglm(problem: Problem, cfg: Config, target: float) -> SolverResult:
    """Time-to-target sweep over ``tol`` for ``skglm.GroupLasso``, looping over frames."""
    res = SolverResult("skglm")
    try:
        from skglm import GroupLasso  # noqa: PLC0415
    except ImportError:
        res.status = "not installed"
        return res
    res.version = _dist_version("skglm")
    settings = [{"tol": t, "max_iter": 1000, "max_epochs": 100_000} for t in cfg.skglm_tols]
    skglm_runner(GroupLasso, problem, n_frames=16)(settings[-1])  # numba compilation, untimed
    run = skglm_runner(GroupLasso, problem)
    res.runs = sweep(run, settings, problem, target, "skglm")
    res.time_per_iter_note = "n/a (working-set block coordinate descent, one fit per frame, 1 core)"
    return res


def _dist_version(name: str) -> Optional[str]:
    """Installed distribution version or None."""
    from importlib import metadata  # noqa: PLC0415

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _fmt(x: Optional[float], scale: float = 1.0, spec: str = ".3f") -> str:
    """Format a number or a dash."""
    return "—" if x is None else format(x * scale, spec)


def markdown_table(sizes: Sequence[dict]) -> str:
    """One row per solver x size."""
    head = ("| solver | frames | time/iter (ms) | floor/iter (ms) | overhead | time to 1e-4 (s) | vs csc "
            "| setting reaching 1e-4 | best rel. err |")
    lines = [head, "|" + "---|" * 9]
    for size in sizes:
        floor = size["gemm"]["floor_s_per_iter"]
        for name, s in size["solvers"].items():
            if s["status"] != "ok":
                lines.append(f"| {name} | {size['n_frames']} | {s['status']} | {floor * 1e3:.3f} | — | — | — | — | — |")
                continue
            overhead = _fmt(s.get("overhead"), 100, ".1f") + ("%" if s.get("overhead") is not None else "")
            ttt = _fmt(s["time_to_target"]) if s["time_to_target"] else "not reached"
            ratio = _fmt(s["ratio_vs_csc"], 1, ".2f") + ("x" if s["ratio_vs_csc"] else "")
            setting = json.dumps(s["target_setting"]) if s["target_setting"] else "—"
            lines.append(
                f"| {name} | {size['n_frames']} | {_fmt(s['time_per_iter'], 1e3)} | {floor * 1e3:.3f} | {overhead} "
                f"| {ttt} | {ratio} | `{setting}` | {_fmt(s['best_rel_err'], 1, '.1e')} |"
            )
    return "\n".join(lines)


def memory_table(sizes: Sequence[dict]) -> str:
    """Peak memory of the csc encode call per size."""
    lines = ["| frames | csc peak extra RSS (MiB) | X (MiB) | Z out (MiB) | one (N,2K) f32 array (MiB) | extra / that |",
             "|---|---|---|---|---|---|"]
    for size in sizes:
        m = size.get("csc_memory")
        if not m or "error" in m:
            lines.append(f"| {size['n_frames']} | {m['error'] if m else 'csc not installed'} | | | | |")
            continue
        lines.append(f"| {size['n_frames']} | {m['peak_extra_mib']:.1f} | {m['input_x_mib']:.1f} | "
                     f"{m['output_z_mib']:.1f} | {m['code_array_mib']:.1f} | {m['extra_in_code_arrays']:.1f} |")
    return "\n".join(lines)


def environment() -> dict:
    """Machine and library versions."""
    blas = None
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        pass
    return {"python": platform.python_version(), "numpy": np.__version__, "blas": blas,
            "cpus": os.cpu_count(), "machine": platform.machine(), "platform": platform.platform()}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line interface."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (M=K=64, N=256); under a minute")
    p.add_argument("--json", default="benchmark.json", help="output JSON path (default: benchmark.json)")
    p.add_argument("--sizes", type=int, nargs="+", help=f"frame counts N (multiples of {SEQ_LEN})")
    p.add_argument("--n-features", type=int, help="M (default 256, quick 64)")
    p.add_argument("--n-units", type=int, help="K complex units (default 256, quick 64)")
    p.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "auto"], help="passed to csc.encode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--memory-probe", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.memory_probe:
        memory_probe_child(args.memory_probe)
        return 0
    cfg = make_config(args)
    t0 = time.perf_counter()
    # GEMM floors first, before any solver has started OpenMP/numba threads.
    gemms = {}
    for n in cfg.sizes:
        gemms[n] = gemm_floor_best(n, cfg.n_features, cfg.n_units, cfg.gemm_repeats, args.seed)
        g = gemms[n]
        print(f"GEMM N={n}: {g['gflops']:.1f} GFLOP/s ({g['blas_threads']} BLAS threads) "
              f"-> floor {g['floor_s_per_iter'] * 1e3:.3f} ms/iter", flush=True)
    sizes = [bench_size(n, cfg, args, gemms[n]) for n in cfg.sizes]
    report = {
        "environment": environment(),
        "config": asdict(cfg) | {"backend": args.backend, "seed": args.seed, "quick": args.quick,
                                 "target_rel": TARGET_REL, "seq_len": SEQ_LEN},
        "sizes": sizes,
        "wall_s": time.perf_counter() - t0,
    }
    print("\n" + markdown_table(sizes))
    print("\n" + prior_table(sizes))
    print("\n| frames | GFLOP/iter | GEMM rate (GFLOP/s) | achieved (GFLOP/s) | fraction of floor "
          "| encode frames·iter/s | learning updates/s | learning frames/s |")
    print("|---|---|---|---|---|---|---|---|")
    for size in sizes:
        lt, g = size.get("learning"), size["gemm"]
        tpi = size["solvers"]["csc"]["time_per_iter"]
        if lt and tpi:
            flops = 4 * size["n_features"] * 2 * size["n_units"] * size["n_frames"]
            print(f"| {size['n_frames']} | {flops / 1e9:.3g} | {g['gflops']:.0f} | "
                  f"{flops / tpi / 1e9:.0f} | {g['floor_s_per_iter'] / tpi:.2f} | "
                  f"{size['n_frames'] / tpi:.3g} | {lt['updates_per_s']:.3g} | "
                  f"{lt['frames_per_s']:.3g} |")
    print("\n" + memory_table(sizes))
    for size in sizes:
        ref = size["reference"]
        print(f"\nN={size['n_frames']}: lam={size['lam']:.4g} (= {LAM_RATIO} lam_max), E*={ref['e_star']:.8g}, "
              f"certified rel. gap {ref['certified_rel_gap']:.1e}, active units {ref['active_fraction']:.1%}")
    with open(args.json, "w") as fh:
        json.dump(report, fh, indent=1, default=float)
    print(f"\nwrote {args.json} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
