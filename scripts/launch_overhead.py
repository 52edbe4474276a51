#!/usr/bin/env python
"""Host time the typed launcher spends per GPU launch: a full `prepare` against a `rebind`.

    python scripts/launch_overhead.py                  # training sizes: 32 x 16 frames, K=128
    python scripts/launch_overhead.py --sequences 512 --units 256

Runs without a GPU: the launcher's function lookup is a no-op, so the figures are csc's own
Python cost per launch (validation and scalar conversion), not CuPy's or the driver's. A FISTA
solve prepares each launch once per set of buffers and then rebinds only the floats that change
(the momentum β; the step τ after backtracking). One run, microseconds per launch.
"""
from __future__ import annotations

import argparse
import timeit

import numpy as np

from csc.backends.cuda.launcher import Launcher, pointwise_blocks
from csc.cli.interrupts import stops_on_interrupt


@stops_on_interrupt("launch_overhead.py")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequences", type=int, default=32)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20000)
    a = p.parse_args(argv)
    launcher = Launcher(lambda name: (lambda grid, block, args, shared_mem=0: None))
    n_seq, T, K = a.sequences, a.frames, a.units

    def codes():
        return np.zeros((n_seq * T, 2 * K), np.float32)

    kw = dict(Y=codes(), G=codes(), X_old=codes(), X_new=codes(), Y_new=codes(), n_seq=n_seq,
              n_frames=T, K=K, tau=0.5, beta=0.25, lam=0.1, sigma=0.4, kappa=0.1,
              partials=np.zeros((pointwise_blocks(n_seq, T, K), 4)))
    name = "csc_code_step_cauchy_l2"
    prepared = launcher.prepare(name, **kw)
    n = a.repeats
    full = timeit.timeit(lambda: launcher.launch(launcher.prepare(name, **kw)), number=n) / n
    rebound = timeit.timeit(lambda: launcher.launch(launcher.rebind(prepared, beta=0.2)),
                            number=n) / n
    bare = timeit.timeit(lambda: launcher.launch(prepared), number=n) / n
    print(f"{name}, {n_seq} sequences x {T} frames, K={K} (host time per launch, one run)")
    print(f"  prepare + launch : {full * 1e6:7.1f} us")
    print(f"  rebind β + launch: {rebound * 1e6:7.1f} us   ({full / rebound:.1f}x less)")
    print(f"  launch only      : {bare * 1e6:7.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
