"""Measure a learned model's bases in pixel space: localised? oriented? band-pass? in quadrature?

    csc-analyze RUN_DIR/model.npz [--video-dir HELD_OUT_DIR] [--stills HELD_OUT_STILLS]
    python scripts/analyze_bases.py RUN_DIR/model.npz [--video-dir DIR] [--stills DIR] [--json F]

Prints first the paper's measures (`csc.analysis.first_layer`): the share of quadrature pairs and
the median localisation, with units drawn in whitened and in pixel space, learned and random; with
--video-dir (videos) or --stills (the synthetic camera over still images), also the variance of
held-out sequences explained by encode → decode and how much more persistent amplitudes are than
real parts there. Then, for the learned units and for a baseline of random whitened-space units
shown through the same whitener, the median of: envelope localisation (energy within p/4 of the
centroid), envelope width, orientation selectivity, DC share of the spectrum, peak spatial
frequency, and quadrature (similarity of the real and imaginary parts' amplitude spectra, and
their phase offset).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from csc.analysis import first_layer
from csc.analysis import geometry as bg
from csc.cli.common import ArgumentParser, UsageError, check_counts, check_output_file, fail
from csc.cli.interrupts import stops_on_interrupt
from csc.io import write_json
from csc.model_files import load
from csc.run_folder import RunError
from csc.threads import prefer_passive_openmp
from csc.training.run import run_sequences
from csc.video.pixel_model import PixelModel
from csc.video.reader import VideoError

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


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (and write --json); 0 on success, 2 on bad input."""
    prefer_passive_openmp()  # before the first Numba pass: see csc.threads
    ap = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--video-dir", default=None,
                    help="held-out videos: also measure reconstruction and persistence there")
    ap.add_argument("--stills", default=None,
                    help="held-out still images: also measure there, under the synthetic camera")
    ap.add_argument("--n-sequences", type=int, default=200,
                    help="held-out sequences drawn (with --video-dir or --stills)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random units and sequences")
    ap.add_argument("--json", default=None)
    try:
        args = ap.parse_args(argv)
        check_counts(args, {"n_sequences": 1})
        check_output_file(args.json, "--json")
        model = load(args.model)
        if not isinstance(model, PixelModel):
            raise RunError("the model has no whitener (not from learn_dictionary.py)")
        paper = first_layer.model_measures(model, args.seed)
        sources = {"video": {"video_dir": args.video_dir}, "camera": {"stills": args.stills}}
        heldout = {
            name: first_layer.heldout_measures(
                model, run_sequences(args.model, args.n_sequences, args.seed, **where)[1])
            for name, where in sources.items() if None not in where.values()}
    except (UsageError, ValueError, OSError, VideoError) as exc:
        return fail(PROG, exc)
    K = model.components_.shape[0]
    print(f"{K} units, {model.patch_size}x{model.patch_size} patches\n")
    print(paper_table(paper, heldout))
    learned = measures(model.bases_pixels())
    noise = first_layer.random_units(model, args.seed)
    baseline = measures(first_layer.draw_units(noise, model.whitener, "pixels"))
    print("\nPixel space, medians over units\n")
    print("| measure | learned | random units (same whitener) |")
    print("|---|---|---|")
    for name in learned:
        print(f"| {name} | {np.median(learned[name]):.3g} | {np.median(baseline[name]):.3g} |")
    if args.json:
        try:
            write_json(args.json, {"paper": paper, "heldout": heldout,
                                   "learned": {k: v.tolist() for k, v in learned.items()},
                                   "baseline": {k: v.tolist() for k, v in baseline.items()}})
        except OSError as exc:  # e.g. the disk filled during the analysis
            return fail(PROG, exc)
    return 0


HELDOUT_SOURCES = {"video": "held-out video", "camera": "held-out stills, synthetic camera"}


def paper_table(paper: dict[str, dict[str, float]], heldout: dict[str, dict[str, float]]) -> str:
    """The paper's measures as a Markdown table: `first_layer.model_measures`, then the
    `first_layer.heldout_measures` of each source in `heldout` ("video", "camera")."""
    rows = ["| measure | learned | random units |", "|---|---|---|"]
    for space in first_layer.SPACES:
        for name in ("quadrature", "localisation"):
            what = "quadrature pairs" if name == "quadrature" else "localisation, median"
            rows.append(f"| {what}, {space} space | {paper[f'learned {space}'][name]:.3g} | "
                        f"{paper[f'random {space}'][name]:.3g} |")
    for source, measures in heldout.items():
        for name, value in measures.items():
            rows.append(f"| {name}, {HELDOUT_SOURCES[source]} | {value:.3g} | |")
    return "\n".join(rows)
