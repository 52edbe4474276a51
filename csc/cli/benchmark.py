"""Benchmark `csc.encode` (convex case) against the GEMM floor and peer solvers.

    csc-benchmark --quick             # < 1 minute on 2 cores
    csc-benchmark --json bench.json   # M=256, K=256, N in {1024, 8192}
    python scripts/benchmark.py [options]

The problem is the convex complex sparse-coding objective (l1 sparsity, no slowness) on planted
data, a group lasso in real form (`csc.testing.bench.problem`); every solver's codes are scored by
the same energy (`csc.energy`). What is measured, in one run and on one machine:

1. GEMM rate: float32 `dot` for the two GEMM shapes of one FISTA iteration, (N, 2K) @ (2K, M)
   and (N, M) @ (M, 2K), with the backend's array module (NumPy on the CPU; CuPy, the device
   synchronised, with --backend gpu); the per-iteration floor is the sum of the best times of
   the two (= 4·M·2K·N flops at the measured rate).
2. `csc.encode` time per iteration with tol=0, max_iter=50 after a warm-up call (Numba
   compilation), its ratio to the floor and the overhead fraction 1 − floor / time per iteration;
   by prior, the time per iteration without setup ((t(40 iterations) − t(20)) / 20); the
   learning throughput.
3. Time to reach E ≤ E* (1 + 1e-4) for `csc.encode`, SPAMS (`spams.fistaFlat`) and skglm
   (`skglm.GroupLasso`), where E* is the best energy seen (a float64 high-accuracy `csc.encode`
   run plus every benchmark run), certified by the duality gap of `csc.core.duality`. Each solver
   runs with an increasing sequence of budgets (iterations or decreasing tolerances) and the
   fastest run that reaches the target is reported. Peers not installed (the `bench` extra) are
   reported as such.
4. Peak memory of one `csc.encode` call, measured in a fresh interpreter from the resident-set
   high-water mark (`csc.testing.bench.memory`), so BLAS and Numba buffers are included, and
   its tracemalloc peak; `scripts/encode_memory.py` measures it alone at any size and budget.
5. Learning against scikit-learn (largest size): `partial_fit` frames per second and the
   reconstruction error of the learned dictionary, csc (both rules, default and paper's prior)
   against `MiniBatchDictionaryLearning(fit_algorithm="cd")` on the same frames and mini-batches
   with 2K real atoms (`csc.testing.bench.learning`).
6. The goals of issue 14, each with its measured figure and met / not met
   (`csc.testing.bench.goals`), printed last.

The JSON report (--json) describes the machine (CPU model, logical CPUs, memory, BLAS, GPU).
Reference runs are kept under docs/benchmarks/ (one JSON per machine and date, from a full run on
a quiet machine), so later runs can be compared with them.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Sequence

from csc.cli.common import ArgumentParser, UsageError, fail
from csc.cli.interrupts import stops_on_interrupt
from csc.io import write_json
from csc.testing.bench.goals import goals
from csc.testing.bench.problem import LAM_RATIO, SEQ_LEN
from csc.testing.bench.suite import PRIOR_ITERS, Config, bench_size, environment
from csc.testing.bench.timing import TARGET_REL, gemm_floor_best
from csc.threads import prefer_passive_openmp

PROG = "csc-benchmark"


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="small sizes (M=K=64, N=256); under a minute")
    p.add_argument("--json", default="benchmark.json",
                   help="output JSON path (default: benchmark.json)")
    p.add_argument("--sizes", type=int, nargs="+", help=f"frame counts N (multiples of {SEQ_LEN})")
    p.add_argument("--n-features", type=int, help="M (default 256, quick 64)")
    p.add_argument("--n-units", type=int, help="K complex units (default 256, quick 64)")
    p.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "auto"],
                   help="passed to csc.encode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sklearn-alpha", type=float,
                   help="alpha of scikit-learn's MiniBatchDictionaryLearning in the learning "
                        "comparison (default: scikit-learn's, 1)")
    return p


def make_config(args: argparse.Namespace) -> Config:
    """Quick or full configuration, with the command-line overrides."""
    quick = args.quick
    iters = [5, 8, 12, 18, 27, 40, 60, 90, 135, 200, 300, 450, 675, 1000, 1500, 2250, 3400, 5000]
    tols = [1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 1e-7, 1e-8]
    cfg = Config(
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
        learn_updates=3 if quick else 16,
        sklearn_alpha=args.sklearn_alpha,
    )
    bad = [n for n in cfg.sizes if n < SEQ_LEN or n % SEQ_LEN]
    if bad:
        raise UsageError(f"--sizes must be positive multiples of {SEQ_LEN}, got {bad[0]}")
    if cfg.sklearn_alpha is not None and not cfg.sklearn_alpha > 0:
        raise UsageError(f"--sklearn-alpha must be positive, got {cfg.sklearn_alpha}")
    if cfg.n_features < 1 or cfg.n_units < 1:
        raise UsageError("--n-features and --n-units must be positive")
    return cfg


def _fmt(x: float | None, scale: float = 1.0, spec: str = ".3f") -> str:
    """A number, or a dash for None."""
    return "—" if x is None else format(x * scale, spec)


def solver_table(sizes: Sequence[dict]) -> str:
    """One row per solver × size."""
    lines = ["| solver | frames | time/iter (ms) | floor/iter (ms) | overhead | time to 1e-4 (s) "
             "| vs csc | setting reaching 1e-4 | best rel. err |", "|" + "---|" * 9]
    for size in sizes:
        floor = size["gemm"]["floor_s_per_iter"]
        for name, s in size["solvers"].items():
            if s["status"] != "ok":
                lines.append(f"| {name} | {size['n_frames']} | {s['status']} | "
                             f"{floor * 1e3:.3f} | — | — | — | — | — |")
                continue
            overhead = (_fmt(s.get("overhead"), 100, ".1f")
                        + ("%" if s.get("overhead") is not None else ""))
            ttt = _fmt(s["time_to_target"]) if s["time_to_target"] else "not reached"
            ratio = _fmt(s["ratio_vs_csc"], 1, ".2f") + ("x" if s["ratio_vs_csc"] else "")
            setting = json.dumps(s["target_setting"]) if s["target_setting"] else "—"
            lines.append(f"| {name} | {size['n_frames']} | {_fmt(s['time_per_iter'], 1e3)} | "
                         f"{floor * 1e3:.3f} | {overhead} | {ttt} | {ratio} | `{setting}` | "
                         f"{_fmt(s['best_rel_err'], 1, '.1e')} |")
    return "\n".join(lines)


def prior_table(sizes: Sequence[dict]) -> str:
    """csc time per iteration by prior, per size."""
    short, long = PRIOR_ITERS
    rows = [f"| prior | frames | time/iter without setup (ms): (t({long}) − t({short})) / "
            f"{long - short} | / GEMM floor |", "|---|---|---|---|"]
    for size in sizes:
        for name, r in size.get("csc_by_prior", {}).items():
            rows.append(f"| {name} | {size['n_frames']} | {r['per_iter'] * 1e3:.2f} | "
                        f"{r['floor_ratio']:.2f} |")
    return "\n".join(rows)


def throughput_table(sizes: Sequence[dict]) -> str:
    """Achieved GEMM rate of encode and the learning throughput, per size."""
    rows = ["| frames | GFLOP/iter | GEMM rate (GFLOP/s) | achieved (GFLOP/s) | fraction of floor "
            "| encode frames·iter/s | learning updates/s | learning frames/s |",
            "|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        lt, g = size.get("learning"), size["gemm"]
        tpi = size["solvers"]["csc"]["time_per_iter"]
        if lt and tpi:
            flops = 4 * size["n_features"] * 2 * size["n_units"] * size["n_frames"]
            rows.append(f"| {size['n_frames']} | {flops / 1e9:.3g} | {g['gflops']:.0f} | "
                        f"{flops / tpi / 1e9:.0f} | {g['floor_s_per_iter'] / tpi:.2f} | "
                        f"{size['n_frames'] / tpi:.3g} | {lt['updates_per_s']:.3g} | "
                        f"{lt['frames_per_s']:.3g} |")
    return "\n".join(rows)


def memory_table(sizes: Sequence[dict]) -> str:
    """Peak memory of the csc encode call, per size."""
    lines = ["| frames | csc peak extra RSS (MiB) | X (MiB) | Z out (MiB) "
             "| one (N,2K) f32 array (MiB) | extra / that | tracemalloc peak / that |",
             "|---|---|---|---|---|---|---|"]
    for size in sizes:
        m = size["csc_memory"]
        if "error" in m:
            lines.append(f"| {size['n_frames']} | {m['error']} | | | | | |")
            continue
        lines.append(f"| {size['n_frames']} | {m['peak_extra_mib']:.1f} | "
                     f"{m['input_x_mib']:.1f} | {m['output_z_mib']:.1f} | "
                     f"{m['code_array_mib']:.1f} | {m['extra_in_code_arrays']:.1f} | "
                     f"{m['traced_in_code_arrays']:.1f} |")
    return "\n".join(lines)


def learning_table(sizes: Sequence[dict]) -> str:
    """csc's learning against scikit-learn's, where it was compared."""
    rows = ["| frames | learner | prior | rule | partial_fit frames/s | rel. recon. error "
            "| vs sklearn | goal | error <= sklearn's |", "|" + "---|" * 9]
    for size in sizes:
        lv = size.get("learning_vs_sklearn")
        if lv is None:
            continue
        if lv["status"] != "ok":
            rows.append(f"| {size['n_frames']} | sklearn | — | — | {lv['status']} | | | | |")
            continue
        sk, st = lv["sklearn"], lv["settings"]
        nothing = " (codes nothing)" if lv["sklearn_codes_nothing"] else ""
        rows.append(f"| {size['n_frames']} | sklearn cd, {st['real_atoms']} atoms, "
                    f"alpha={st['sklearn']['alpha']:g}{nothing} | l1 | — | "
                    f"{sk['frames_per_s']:.0f} | "
                    f"{sk['rel_error']:.4f} | 1 | — | — |")
        for r in lv["csc"]:
            rows.append(f"| {size['n_frames']} | csc, {st['n_units']} complex units | "
                        f"{r['prior']} | {r['rule']} | {r['frames_per_s']:.0f} | "
                        f"{r['rel_error']:.4f} | {r['ratio']:.1f}x | >= {r['goal_ratio']:g}x | "
                        f"{'yes' if r['error_ok'] else 'no'} |")
    return "\n".join(rows)


def goals_table(rows: Sequence[dict]) -> str:
    """The goals of issue 14 with the measured figure and met / not met."""
    lines = ["| goal | measured | met |", "|---|---|---|"]
    for g in rows:
        met = {True: "met", False: "not met", None: "—"}[g["met"]]
        lines.append(f"| {g['goal']} | {g['measured']} | {met} |")
    return "\n".join(lines)


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables and write the JSON report; 2 on bad options."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.threads
    try:
        args = build_parser().parse_args(argv)
        cfg = make_config(args)
    except UsageError as exc:
        return fail(PROG, exc)
    t0 = time.perf_counter()
    # GEMM floors first, before any solver has started OpenMP/Numba threads
    gemms = {}
    for n in cfg.sizes:
        g = gemms[n] = gemm_floor_best(n, cfg.n_features, cfg.n_units, cfg.gemm_repeats,
                                       args.seed, args.backend)
        print(f"GEMM N={n} ({g['gemm_device']}): {g['gflops']:.1f} GFLOP/s "
              f"({g['blas_threads']} BLAS threads) -> floor {g['floor_s_per_iter'] * 1e3:.3f} "
              f"ms/iter", flush=True)
    try:
        sizes = [bench_size(n, cfg, args.backend, args.seed, gemms[n],
                            compare_learning=n == max(cfg.sizes)) for n in cfg.sizes]
    except ValueError as exc:  # a size without a usable planted problem
        return fail(PROG, exc)
    except RuntimeError as exc:  # no reference optimum could be computed
        fail(PROG, exc)
        return 1
    report = {
        "environment": environment(args.backend),
        "config": asdict(cfg) | {"backend": args.backend, "seed": args.seed, "quick": args.quick,
                                 "target_rel": TARGET_REL, "seq_len": SEQ_LEN},
        "sizes": sizes,
        "goals": goals(sizes),
        "wall_s": time.perf_counter() - t0,
    }
    for table in (solver_table, prior_table, throughput_table, memory_table, learning_table):
        print("\n" + table(sizes))
    for size in sizes:
        ref = size["reference"]
        print(f"\nN={size['n_frames']}: lam={size['lam']:.4g} (= {LAM_RATIO} lam_max), "
              f"E*={ref['e_star']:.8g}, certified rel. gap {ref['certified_rel_gap']:.1e}, "
              f"active units {ref['active_fraction']:.1%}")
    print("\n" + goals_table(report["goals"]))
    try:
        write_json(args.json, report, default=float)
    except OSError as exc:
        return fail(PROG, exc)
    print(f"\nwrote {args.json} ({report['wall_s']:.0f} s)")
    return 0
