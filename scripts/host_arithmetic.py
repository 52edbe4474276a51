#!/usr/bin/env python
"""How far device arithmetic moves the CUDA code step: the "device" host build (FMA contraction,
float32 flush-to-zero) against the "exact" one and against the Numba kernels, per prior.

    python scripts/host_arithmetic.py

Needs nvcc (the kernels are compiled for the host, no GPU). For each prior and size: the
fraction of X_new/Y_new outputs that differ between the two builds, and the largest deviation
of each build from Numba, |diff| / max(1, |x|). The kernel tests' tolerance (1e-5) is set with
a margin over these.
"""
from __future__ import annotations

import tempfile

import numpy as np

from csc.backends.cpu import fused
from csc.backends.cuda import ops
from csc.cli.interrupts import stops_on_interrupt
from csc.priors import SLOWNESS_CODE, SPARSITY_CODE
from csc.testing import host_kernels as hb

PRIORS = [("l1", "none"), ("l1", "l2"), ("cauchy", "none"), ("cauchy", "l2"), ("gauss", "none"),
          ("gauss", "l2"), ("l1", "l1")]
SIZES = [(3, 5, 7), (4, 16, 40), (2, 33, 65), (8, 16, 128)]  # (n_seq, n_frames, K)
PARAMS = (0.3, 0.7, 0.5, 0.1, 0.8)  # tau, beta, lam, sigma, kappa


def code_step(module, Y, G, X_old, n_frames, sparsity, slowness):
    N, K2 = Y.shape
    X_new, Y_new = np.empty_like(Y), np.empty_like(Y)
    partials = np.empty(module.code_partials_shape(N // n_frames, n_frames, K2 // 2, slowness))
    module.code_step(Y, G, X_old, X_new, Y_new, n_frames, *PARAMS, sparsity, slowness, partials)
    return X_new, Y_new


@stops_on_interrupt("host_arithmetic.py")
def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        launchers = {v: hb.host_launcher(hb.build_host_library(tmp, v))
                     for v in ("exact", "device")}
        print(f"{'prior':<14}{'changed':>9}{'device-numba':>14}{'exact-numba':>13}")
        for sp, sl in PRIORS:
            sparsity, slowness = SPARSITY_CODE[sp], SLOWNESS_CODE[sl]
            changed, dev, exact = 0.0, 0.0, 0.0
            for n_seq, n_frames, K in SIZES:
                rng = np.random.default_rng([sparsity, slowness, n_seq, n_frames, K])
                Y, G, X_old = (rng.standard_normal((n_seq * n_frames, 2 * K)).astype(np.float32)
                               for _ in range(3))
                out = {}
                for variant, launcher in launchers.items():
                    ops.get_launcher = lambda launcher=launcher: launcher
                    out[variant] = code_step(ops, Y, G, X_old, n_frames, sparsity, slowness)
                ref = code_step(fused, Y, G, X_old, n_frames, sparsity, slowness)
                for i in range(2):
                    scale = np.maximum(1.0, np.abs(ref[i]))
                    changed = max(changed, float(np.mean(out["exact"][i] != out["device"][i])))
                    dev = max(dev, float(np.max(np.abs(out["device"][i] - ref[i]) / scale)))
                    exact = max(exact, float(np.max(np.abs(out["exact"][i] - ref[i]) / scale)))
            print(f"{sp + '+' + sl:<14}{changed:>9.1%}{dev:>14.2e}{exact:>13.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
