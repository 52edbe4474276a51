"""The solvers of the benchmark as `Runner`s on a `Problem`: csc's encode, SPAMS (`fistaFlat`)
and skglm (`GroupLasso`). The peers are optional (the `bench` extra): `peer_module` and
`dist_version` find out whether they are installed."""
from __future__ import annotations

import time
import warnings
from importlib import import_module, metadata
from types import ModuleType
from typing import Any

import numpy as np

from csc.core.fista import EncodeInfo
from csc.core.inference import encode
from csc.core.model import codes_to_real
from csc.testing.bench.problem import Problem
from csc.testing.bench.timing import Runner

FIXED_ITERS = 50
"""Iterations of the fixed-budget encode timing run."""


def peer_module(name: str) -> ModuleType | None:
    """Import an optional peer solver by name, or None when it is not installed."""
    try:
        return import_module(name)
    except ImportError:
        return None


def dist_version(name: str) -> str | None:
    """Installed distribution version, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- csc


def csc_encode(problem: Problem, dtype, backend: str,
               **kw: Any) -> tuple[np.ndarray, float, EncodeInfo | None]:
    """`encode` of the problem in `dtype` (float32 or float64); returns (Z, seconds, info)."""
    X = problem.X.astype(dtype, copy=False)
    D = problem.D.astype(np.complex64 if dtype == np.float32 else np.complex128)
    t0 = time.perf_counter()
    out = encode(X, D, sparsity="l1", lam=problem.lam, slowness="none", backend=backend, **kw)
    seconds = time.perf_counter() - t0
    Z, info = out if kw.get("return_info") else (out, None)
    return Z, seconds, info


def csc_runner(problem: Problem, backend: str) -> Runner:
    """float32 encode with a given max_iter / tol."""

    def run(setting: dict) -> tuple[np.ndarray, float, float | None]:
        Z, seconds, info = csc_encode(problem, np.float32, backend, return_info=True, **setting)
        return codes_to_real(Z, np.float64), seconds, float(info.n_iter)

    return run


def csc_fixed_iter(problem: Problem, backend: str, repeats: int) -> dict:
    """Per-iteration cost of float32 encode at tol=0.

    per_iter is total time / info.n_iter for max_iter=FIXED_ITERS (best of `repeats`, after a
    warm-up call that compiles Numba); marginal_per_iter is the slope between max_iter=10 and
    FIXED_ITERS (excludes the fixed set-up cost); per_iter_no_info repeats the first with
    return_info=False (no per-iteration energy bookkeeping).
    """
    csc_encode(problem, np.float32, backend, tol=0.0, max_iter=2, return_info=True)

    def timed(max_iter: int, return_info: bool) -> tuple[float, int]:
        best, n_iter = np.inf, max_iter
        for _ in range(repeats):
            _, seconds, info = csc_encode(problem, np.float32, backend, tol=0.0,
                                          max_iter=max_iter, return_info=return_info)
            best = min(best, seconds)
            if info is not None:
                n_iter = info.n_iter
        return best, n_iter

    t_full, n_full = timed(FIXED_ITERS, True)
    t_short, n_short = timed(10, True)
    t_noinfo, _ = timed(FIXED_ITERS, False)
    slope = (t_full - t_short) / max(n_full - n_short, 1)
    return {
        "max_iter": FIXED_ITERS,
        "n_iter": n_full,
        "seconds": t_full,
        "per_iter": t_full / n_full,
        "marginal_per_iter": slope,
        "setup_s": t_short - 10 * slope,
        "per_iter_no_info": t_noinfo / FIXED_ITERS,
    }


def csc_reference(problem: Problem, backend: str, max_iter: int) -> tuple[np.ndarray, dict]:
    """High-accuracy float64 encode (tol=1e-9) for the reference optimum: real-form codes
    (N, 2K) float64 and what the run reported."""
    Z, seconds, info = csc_encode(problem, np.float64, backend, tol=1e-9, max_iter=max_iter,
                                  return_info=True)
    return codes_to_real(Z, np.float64), {"seconds": seconds, "n_iter": info.n_iter,
                                          "converged": info.converged}


# --------------------------------------------------------------------------- SPAMS


def spams_runner(spams: ModuleType, problem: Problem) -> Runner:
    """`spams.fistaFlat` on the real-form problem, float32, all cores.

    SPAMS solves ½‖y − A w‖² + lambda1 Σ_g ‖w_g‖₂ per column of Y (M, N) with design
    A = diag(√w) Wᵀ (M, 2K) and groups given as a 1-based int32 label per variable
    (groups[j] = j mod K + 1; 0-based labels segfault). So lambda1 = lam and y = √w x. Inputs
    are laid out (Fortran order) before the clock starts. The runner keeps SPAMS' info array of
    its last run as `run.last_info` (row 0: SPAMS' own objective per signal).
    """
    K = problem.n_units
    sw = np.sqrt(problem.weights)
    Y = np.asfortranarray((problem.frames() * sw).T, dtype=np.float32)
    A = np.asfortranarray(problem.real_dict().T * sw[:, None], dtype=np.float32)
    groups = (np.arange(2 * K) % K + 1).astype(np.int32)

    def run(setting: dict) -> tuple[np.ndarray, float, float | None]:
        W0 = np.zeros((2 * K, Y.shape[1]), dtype=np.float32, order="F")
        t0 = time.perf_counter()
        Wout, info = spams.fistaFlat(Y, A, W0, True, loss="square", regul="group-lasso-l2",
                                     groups=groups, lambda1=problem.lam, numThreads=-1,
                                     **setting)
        seconds = time.perf_counter() - t0
        run.last_info = info
        return np.asarray(Wout.T, dtype=np.float64), seconds, float(np.mean(info[3]))

    return run


# --------------------------------------------------------------------------- skglm


def skglm_runner(GroupLasso: type, problem: Problem, n_frames: int | None = None) -> Runner:
    """`skglm.GroupLasso`, one regression per frame (float64, 1 core).

    skglm minimises 1/(2 n_samples) ‖y − A w‖² + alpha Σ_g ‖w_g‖ for a single target, with
    n_samples = M; so alpha = lam / M. Columns are interleaved [c_0, c_K, c_1, c_{K+1}, …] so the
    groups are contiguous pairs (groups=2); fit_intercept=False (its default is True).
    `n_frames` limits the run to the first frames (warm-up only).
    """
    K, M = problem.n_units, problem.n_features
    sw = np.sqrt(problem.weights)
    perm = np.stack([np.arange(K), np.arange(K) + K], axis=1).ravel()
    A = np.asfortranarray((problem.real_dict().T * sw[:, None])[:, perm])
    Y = (problem.frames() * sw)[:n_frames]

    def run(setting: dict) -> tuple[np.ndarray, float, float | None]:
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
