#!/usr/bin/env python
"""Peak memory of one `csc.encode` call in units of one (N, 2K) float32 code array.

    python scripts/encode_memory.py                       # issue 11's size, default budget
    python scripts/encode_memory.py --batch-bytes 0 67108864 268435456

Random float32 data (n_sequences, n_frames, M) and a random complex dictionary (K, M); l1
sparsity, max_iter iterations (memory does not depend on them). Each measurement runs in a
fresh interpreter (`csc.testing.bench.memory`): the extra resident set over the call (VmHWM, so
BLAS and Numba buffers count) and the tracemalloc peak (NumPy's allocations). N = n_sequences ·
n_frames; the output Z alone is 1 unit, the input X is M / 2K units. --batch-bytes 0 means
encode's default budget.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from csc.cli.interrupts import stops_on_interrupt
from csc.testing.bench.memory import encode_peak_memory


@stops_on_interrupt("encode_memory.py")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequences", type=int, default=20000)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--features", type=int, default=256)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--max-iter", type=int, default=3)
    p.add_argument("--batch-bytes", type=int, nargs="+", default=[0],
                   help="encode budgets to measure; 0: the default")
    p.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "auto"])
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.sequences, args.frames, args.features), dtype=np.float32)
    D = (rng.standard_normal((args.units, args.features))
         + 1j * rng.standard_normal((args.units, args.features)))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    N, K = args.sequences * args.frames, args.units
    print(f"N = {N} frames, M = {args.features}, K = {K}: one (N, 2K) float32 array = "
          f"{N * 2 * K * 4 / 2**20:.1f} MiB; max_iter {args.max_iter}, backend {args.backend}")
    print("| batch_bytes | batches | extra RSS (MiB) | in arrays | tracemalloc peak (MiB) "
          "| in arrays |")
    print("| --- | --- | --- | --- | --- | --- |")
    for budget in args.batch_bytes:
        m = encode_peak_memory(X, D, 0.1, args.backend, args.max_iter, budget or None)
        if "error" in m:
            print(f"| {budget or 'default'} | error: {m['error']} |")
            continue
        print(f"| {budget or 'default'} | {m['n_batches']} | {m['peak_extra_mib']:.0f} | "
              f"{m['extra_in_code_arrays']:.2f} | {m['traced_peak_mib']:.0f} | "
              f"{m['traced_in_code_arrays']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
