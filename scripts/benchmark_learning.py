#!/usr/bin/env python
"""Learning throughput in-process and on local Dask clusters of 1 and 2 workers, in one run.

    python scripts/benchmark_learning.py                       # the default run's settings
    python scripts/benchmark_learning.py --batch-size 128 --n-components 256 --json out.json

Each setting trains the same run (the bundled clip and the synthetic camera, `--shards` shards
per update, so all three learn the same dictionary: checked) for --n-updates updates and times
every update after the first --warmup (which include the workers reading the videos). Printed
per setting: median milliseconds per update, sequences and frames learned per second, the speedup
of 2 workers over 1, and the GEMM floor of an update (its inference GEMMs, at the most
iterations any shard ran, over the float32 GEMM rate measured here), with the
time's ratio to it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from csc.cli.interrupts import stops_on_interrupt


def gemm_rate(n: int, k2: int, m: int, repeats: int = 20) -> float:
    """Flop/s of the float32 GEMMs of one FISTA iteration, (n, 2K) @ (2K, M) and (n, M) @ (M, 2K),
    best of `repeats`."""
    rng = np.random.default_rng(0)
    C = rng.standard_normal((n, k2), dtype=np.float32)
    W = rng.standard_normal((k2, m), dtype=np.float32)
    E = rng.standard_normal((n, m), dtype=np.float32)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        C @ W
        E @ W.T
        best = min(best, time.perf_counter() - t)
    return 4.0 * n * k2 * m / best


def time_run(cfg, workers: int | None, warmup: int) -> tuple[np.ndarray, object]:
    """(seconds of each update after `warmup`, model) of a fresh run of `cfg`."""
    from csc.training.run import train

    shutil.rmtree(cfg.out, ignore_errors=True)
    stamps: list[float] = []
    model = train(cfg, progress=False, workers=workers,
                  on_update=lambda done: stamps.append(time.perf_counter()))
    return np.diff(stamps)[warmup:], model


@stops_on_interrupt("benchmark_learning.py")
def main(argv: list[str] | None = None) -> int:
    from csc.resources import videos_dir
    from csc.threads import prefer_passive_openmp
    from csc.training.config import TrainConfig

    prefer_passive_openmp()
    d = TrainConfig(video_dir="", out="")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-updates", type=int, default=80)
    p.add_argument("--warmup", type=int, default=10)
    for name in ("batch_size", "shards", "n_components", "patch_size", "n_frames", "max_iter"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    p.add_argument("--learning", default=d.learning)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)

    out = tempfile.mkdtemp(prefix="csc-bench-learning-")
    settings = {k: getattr(args, k) for k in ("batch_size", "shards", "n_components",
                                              "patch_size", "n_frames", "max_iter", "learning")}
    rows, models = {}, {}
    for label, workers in (("in-process", None), ("1 worker", 1), ("2 workers", 2)):
        cfg = TrainConfig(video_dir=str(videos_dir()), out=os.path.join(out, label),
                          n_updates=args.n_updates, whiten_patches=20000,
                          checkpoint_every=10 * args.n_updates, **settings)
        times, models[label] = time_run(cfg, workers, args.warmup)
        M = models[label].whitener.n_features
        n_iter = np.asarray(models[label].coder.history_["n_iter"][args.warmup + 1:])
        rows[label] = {"ms_per_update": 1e3 * float(np.median(times)),
                       "sequences_per_s": args.batch_size / float(np.median(times)),
                       "frames_per_s": args.batch_size * args.n_frames / float(np.median(times)),
                       "median_iterations": float(np.median(n_iter))}
    same = all(np.array_equal(models[k].components_, models["in-process"].components_)
               for k in models)
    N = args.batch_size * args.n_frames
    rate = gemm_rate(N // max(min(args.shards, args.batch_size), 1), 2 * args.n_components, M)
    floor = rows["in-process"]["median_iterations"] * 4.0 * N * 2 * args.n_components * M / rate
    shutil.rmtree(out, ignore_errors=True)

    print(f"settings: {settings}, {M} whitened features, {N} frames per update")
    print(f"GEMM floor of an update ({rate / 1e9:.1f} GFlop/s): {1e3 * floor:.1f} ms")
    print(f"{'':12} {'ms/update':>10} {'sequences/s':>12} {'frames/s':>9} {'x floor':>8}")
    for label, row in rows.items():
        print(f"{label:12} {row['ms_per_update']:10.1f} {row['sequences_per_s']:12.1f} "
              f"{row['frames_per_s']:9.0f} {row['ms_per_update'] / 1e3 / floor:8.2f}")
    speedup = rows["1 worker"]["ms_per_update"] / rows["2 workers"]["ms_per_update"]
    print(f"speedup 2 workers / 1 worker: {speedup:.2f}x; 2 workers / in-process: "
          f"{rows['in-process']['ms_per_update'] / rows['2 workers']['ms_per_update']:.2f}x; "
          f"same dictionary in all three: {same}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": settings, "features": M, "gemm_flops": rate,
                       "floor_ms": 1e3 * floor, "runs": rows, "speedup_2_over_1": speedup,
                       "same_dictionary": same}, f, indent=2)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
