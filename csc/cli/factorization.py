"""Does a learned model factor video into amplitude (what) and phase (how it moves)?

    csc-factorization RUN_DIR/model.npz [--video-dir DIR] [--n-sequences 200]
        [--fit-sequences 1000] [--alpha A] [--seed 0] [--json OUT.json]
    python scripts/factorization_stats.py RUN_DIR/model.npz [options]

Rebuilds the run's clip cache from RUN_DIR/config.json (as training does; --video-dir overrides
the folder), samples --n-sequences evaluation sequences with a fixed seed, encodes them with the
model, and fits an ordinary real-valued sparse coding with 2K real units (scikit-learn
MiniBatchDictionaryLearning, on --fit-sequences other sequences of the same whitened data, same
reconstruction weights, l1 penalty --alpha, default the model's λ / sqrt(max w_m), which
puts its threshold where csc's is). Prints a Markdown table:
median over units of the lag-1 autocorrelation over time of the amplitudes, the real parts, the
imaginary parts and the real sparse codes (|c| and signed c), and the share of frame-to-frame
code change carried by phase vs amplitude (see csc.analysis).
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from csc import analysis
from csc.cli.common import ArgumentParser, UsageError, fail
from csc.cli.interrupts import stops_on_interrupt
from csc.core.inference import encode
from csc.io import write_json
from csc.run_folder import RunError
from csc.threads import prefer_passive_openmp
from csc.training.run import load_run
from csc.video.reader import VideoError
from csc.video.sampling import sample_sequences

PROG = "csc-factorization"


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--video-dir", default=None)
    ap.add_argument("--n-sequences", type=int, default=200)
    ap.add_argument("--fit-sequences", type=int, default=1000)
    ap.add_argument("--alpha", type=float, default=None)
    ap.add_argument("--n-iter", type=int, default=20, help="passes of dictionary learning")
    ap.add_argument("--no-early-stopping", action="store_true",
                    help="run all --n-iter passes of dictionary learning (slow)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    return ap


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (and write --json); 0 on success, 2 on bad input."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.threads
    try:
        args = build_parser().parse_args(argv)
        if args.n_sequences < 1 or args.fit_sequences < 1 or args.n_iter < 1:
            raise UsageError("--n-sequences, --fit-sequences and --n-iter must be positive")
        model, cfg, cache = load_run(args.model, args.video_dir)
    except (UsageError, RunError, VideoError, ValueError, TypeError, OSError) as exc:
        return fail(PROG, exc)
    T, p = cfg.n_frames, model.patch_size
    rng = np.random.default_rng([args.seed, 3])  # evaluation, then fitting sequences
    P_eval = sample_sequences(cache, args.n_sequences, T, p, rng)
    P_fit = sample_sequences(cache, args.fit_sequences, T, p, rng)
    t0 = time.perf_counter()
    Z = model.encode_patches(P_eval)
    t_enc = time.perf_counter() - t0
    K = Z.shape[-1]
    coder = model.coder
    # sklearn's atoms have unit norm in the sqrt(w)-scaled space, csc's in the whitened space:
    # λ / sqrt(max w) puts the real code's l1 threshold where csc's is (exactly, for equal w).
    w = np.asarray(model.whitener.weights_, dtype=np.float64)
    alpha = args.alpha if args.alpha is not None else float(coder.lam) / float(np.sqrt(w.max()))
    X_eval = model.whitener.transform(P_eval)
    X_fit = model.whitener.transform(P_fit)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # sklearn's coordinate descent warns on unconverged steps
        warnings.simplefilter("ignore", ConvergenceWarning)
        C, D_real = analysis.real_sparse_codes(
            X_eval, 2 * K, alpha, weights=w, n_iter=args.n_iter, random_state=args.seed,
            X_fit=X_fit, early_stopping=not args.no_early_stopping, return_dictionary=True)
    t_real = time.perf_counter() - t0
    stats = analysis.factorization_stats(Z, C)
    # the same dictionary without the slowness prior: how much persistence the dictionary gives
    # by itself rather than the prior imposing it (the real baseline has no slowness either)
    kw = dict(coder.prior().as_dict(), slowness="none", kappa=0.0)
    Z0 = encode(X_eval, coder.components_, max_iter=coder.transform_max_iter,
                tol=coder.transform_tol, backend=coder.backend, **kw)
    stats0 = analysis.factorization_stats(Z0)
    # reconstruction SNR (dB) under the model's weights, Σ w x² / Σ w (x − x̂)²
    Xw = X_eval.reshape(-1, X_eval.shape[-1]).astype(np.float64) * np.sqrt(w)

    def snr(resid):
        return float(10 * np.log10((Xw**2).sum() / (resid**2).sum()))

    sw = np.sqrt(w)
    snrs = [snr((X_eval - coder.inverse_transform(Zi)).reshape(Xw.shape) * sw) for Zi in (Z, Z0)]
    snrs.append(snr(Xw - C.reshape(-1, C.shape[-1]) @ D_real))
    for st, v in zip((stats, stats0), snrs):
        st["snr_db"] = v
    stats["snr_db_real_sc"] = snrs[2]

    passes = "all" if args.no_early_stopping else "early-stopped, at most"
    print(f"{K} complex units ({coder.sparsity} λ={coder.lam:g}, slowness {coder.slowness} "
          f"κ={coder.kappa:g}); {args.n_sequences} sequences of {T} frames, {p}x{p} patches, "
          f"seed {args.seed}; real sparse coding: {2 * K} units, l1 α={alpha:g}, no slowness, "
          f"fitted on {args.fit_sequences * T} other frames ({passes} {args.n_iter} passes, "
          f"{t_real:.0f} s); encode {t_enc:.1f} s\n")

    def f(v):
        return "—" if v is None else f"{v:.3f}"

    def units(st, key):
        return f" ({st['n_units_' + key]} units)" if st["n_units_" + key] != K else ""

    print(f"| median over units | csc codes ({coder.slowness} slowness κ={coder.kappa:g}) "
          f"| csc codes, slowness off | real sparse codes ({2 * K} units) |")
    print("|---|---|---|---|")
    n_r = stats["n_units_real_sc_abs"]
    print(f"| lag-1 autocorrelation of amplitude \\|z\\| / of \\|c\\| | "
          f"{f(stats['persistence_amplitude'])}{units(stats, 'amplitude')} | "
          f"{f(stats0['persistence_amplitude'])}{units(stats0, 'amplitude')} | "
          f"{f(stats['persistence_real_sc_abs'])} ({n_r} units) |")
    print(f"| lag-1 autocorrelation of Re z / of signed c | {f(stats['persistence_real'])} | "
          f"{f(stats0['persistence_real'])} | {f(stats['persistence_real_sc_signed'])} |")
    print(f"| lag-1 autocorrelation of Im z | {f(stats['persistence_imag'])} | "
          f"{f(stats0['persistence_imag'])} | — |")
    print(f"| share of Σ\\|Δz\\|² carried by phase (tangential) | {f(stats['phase_share'])} | "
          f"{f(stats0['phase_share'])} | — |")
    print(f"| share of Σ\\|Δz\\|² carried by amplitude (radial) | "
          f"{f(stats['amplitude_share'])} | {f(stats0['amplitude_share'])} | — |")
    print(f"| phase share, pairs with both codes non-zero | {f(stats['phase_share_active'])} | "
          f"{f(stats0['phase_share_active'])} | — |")
    print(f"| active fraction of codes | {f(stats['active_fraction'])} | "
          f"{f(stats0['active_fraction'])} | {f(stats['active_fraction_real_sc'])} |")
    print(f"| reconstruction SNR (dB, weighted) | {snrs[0]:.2f} | {snrs[1]:.2f} | {snrs[2]:.2f} |")
    if args.json:
        write_json(args.json, {"stats": stats, "stats_no_slowness": stats0,
                               "model": str(Path(args.model)), "n_sequences": args.n_sequences,
                               "fit_sequences": args.fit_sequences, "alpha": alpha,
                               "seed": args.seed, "n_iter": args.n_iter})
    return 0
