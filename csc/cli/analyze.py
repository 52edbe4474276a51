"""Measure a learned model's bases in pixel space: localised? oriented? band-pass? in quadrature?

    csc-analyze RUN_DIR/model.npz [--json OUT.json]
    python scripts/analyze_bases.py RUN_DIR/model.npz [--json OUT.json]

Prints, for the learned units and for a baseline of random whitened-space units shown through the
same whitener, the median of: envelope localisation (energy within p/4 of the centroid), envelope
width, orientation selectivity, DC share of the spectrum, peak spatial frequency, and quadrature
(similarity of the real and imaginary parts' amplitude spectra, and their phase offset).
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from csc.analysis import geometry as bg
from csc.backends.cpu.threads import prefer_passive_openmp
from csc.cli.common import ArgumentParser, UsageError, fail
from csc.io import load
from csc.video.pixel_model import PixelModel

PROG = "csc-analyze"


def measures(B: np.ndarray) -> dict[str, np.ndarray]:
    """Per-unit measures of complex bases B (K, p, p): name → (K,) array."""
    sim, offset = bg.quadrature(B)
    return {
        "localisation (energy within p/4)": bg.localisation(B),
        "envelope width (px)": bg.envelope_width(B),
        "orientation selectivity": bg.orientation_selectivity(B),
        "DC share of spectrum": bg.dc_fraction(B),
        "peak frequency (cycles/px)": np.hypot(*bg.unit_frequency(B, signed=False).T),
        "R/I amplitude-spectrum similarity": sim,
        "R/I phase offset (deg)": offset,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (and write --json); 0 on success, 2 on bad input."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.backends.cpu.threads
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--json", default=None)
    try:
        args = ap.parse_args(argv)
        model = load(args.model)
    except (UsageError, ValueError, OSError) as exc:
        return fail(PROG, exc)
    if not isinstance(model, PixelModel):
        return fail(PROG, "the model has no whitener (not from learn_dictionary.py)")
    learned = measures(model.bases_pixels())
    rng = np.random.default_rng(0)
    K, M = model.components_.shape
    noise = rng.standard_normal((K, M)) + 1j * rng.standard_normal((K, M))
    baseline = measures(model.whitener.inverse_transform(noise.real, add_mean=False)
                        + 1j * model.whitener.inverse_transform(noise.imag, add_mean=False))
    print(f"{K} units, {model.patch_size}x{model.patch_size} patches; medians over units\n")
    print("| measure | learned | random units (same whitener) |")
    print("|---|---|---|")
    for name in learned:
        print(f"| {name} | {np.median(learned[name]):.3g} | {np.median(baseline[name]):.3g} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"learned": {k: v.tolist() for k, v in learned.items()},
                       "baseline": {k: v.tolist() for k, v in baseline.items()}}, f)
    return 0
