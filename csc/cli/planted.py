"""Learn from movies planted with a known complex dictionary and report how well it is recovered.

For each learning rule and prior, fits `ComplexSparseCoding` on `csc.testing.planted.planted_data`
and prints the mean (and worst) best-match subspace similarity between the planted planes
span{R_k, I_k} and the learned ones (1 = identical planes), over several seeds.

    csc-planted                                  # ~1 minute on 2 cores
    python scripts/planted_recovery.py --seeds 5 --n-updates 600
"""
from __future__ import annotations

import time
from typing import Sequence

from csc.cli.common import ArgumentParser, UsageError, fail
from csc.cli.interrupts import stops_on_interrupt
from csc.learning.estimator import ComplexSparseCoding
from csc.testing.planted import planted_data, subspace_similarity
from csc.threads import prefer_passive_openmp

PROG = "csc-planted"

PRIORS = {
    "l1, no slowness": dict(lam=0.1),
    "l1 + TV slowness (kappa 0.3)": dict(lam=0.1, slowness="l1", kappa=0.3),
    "l1 + l2 slowness (kappa 3)": dict(lam=0.1, slowness="l2", kappa=3.0),
    "cauchy + l2 slowness (kappa 3)": dict(sparsity="cauchy", lam=0.05, sigma=0.3,
                                           slowness="l2", kappa=3.0),
}


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Print the recovery table; 0 on success, 2 on bad input."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.threads
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="learning seeds per setting")
    ap.add_argument("--n-updates", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    try:
        args = ap.parse_args(argv)
        for name in ("seeds", "n_updates", "batch_size"):
            if getattr(args, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be a positive integer")
    except UsageError as exc:
        return fail(PROG, exc)
    X, D, _ = planted_data(n_components=8, n_features=32, n_sequences=300, n_frames=16,
                           random_state=0)
    print(f"planted: 8 units, 32 features, X {X.shape}; {args.n_updates} updates of "
          f"{args.batch_size} sequences; similarity = mean (min) over units, per seed\n")
    print("| prior | learning | similarity per seed | seconds |")
    print("|---|---|---|---|")
    for name, prior in PRIORS.items():
        for learning in ("sgd", "online"):
            t0 = time.perf_counter()
            cells = []
            for seed in range(1, args.seeds + 1):
                model = ComplexSparseCoding(8, learning=learning, n_updates=args.n_updates,
                                            batch_size=args.batch_size, random_state=seed,
                                            **prior).fit(X)
                sim = subspace_similarity(D, model.components_)
                cells.append(f"{sim.mean():.3f} ({sim.min():.2f})")
            print(f"| {name} | {learning} | {', '.join(cells)} | "
                  f"{time.perf_counter() - t0:.1f} |")
    return 0
