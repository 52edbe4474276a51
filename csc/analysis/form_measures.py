"""What a form unit's weights gather: the orientation, place and spatial-frequency band of its
strongest first-layer inputs, and which form units are used at all.

A form unit's column b (K,) weights the first-layer units' normalised log-amplitudes. Its
*strongest inputs* are the `N_INPUTS` (8) first-layer units of largest |b_k|; each measure
weights them by |b_k|:

- orientation concentration |Σ |b_k| e^{2iθ_k}| / Σ |b_k| (θ_k the unit's orientation in
  [0, π), `geometry.orientation`): 1 when they share one orientation, about 1/√N for random.
  It is taken over the strongest *oriented* inputs: a first-layer unit whose spectrum peaks at
  zero frequency (a blob; the pretrained model has 2 of 128) has no orientation, and
  `geometry.orientation` would call it 0;
- spatial spread: the weighted root-mean-square distance (pixels) of their envelope centres
  from their weighted mean (`geometry.envelope_centre`);
- octave spread: the weighted standard deviation of log₂ |f_k|, their spatial frequencies in
  octaves (`geometry.unit_frequency`, unsigned).

A unit is *active* when inference uses it: its activity is non-zero in at least
`ACTIVE_FRAMES` (2%) of the frames of the codes measured (the l1 prior of `FormUnits` makes
an unused unit exactly 0). Random columns of the same shape are the reference.
"""
from __future__ import annotations

import numpy as np

#: the strongest inputs a form unit is described by
N_INPUTS = 8
#: frequencies below this (cycles/pixel: a 32-pixel wavelength) count as this in octave spreads
MIN_FREQUENCY = 1 / 32
#: the share of frames in which an active unit is non-zero
ACTIVE_FRAMES = 0.02


def input_measures(components: np.ndarray, orientation: np.ndarray, centres: np.ndarray,
                   frequency: np.ndarray, n_inputs: int = N_INPUTS,
                   min_frequency: float = MIN_FREQUENCY) -> dict[str, np.ndarray]:
    """Per form unit (columns of components (K, L)): float64 (L,) "orientation_concentration" and
    "mean_orientation" (radians in [0, π)) of its `n_inputs` strongest oriented inputs,
    "spatial_spread" (pixels) and "octave_spread" of its `n_inputs` strongest inputs (module
    docstring); orientation (K,) radians, centres (K, 2) pixels, frequency (K, 2) cycles/pixel
    of the first-layer units (zero: no orientation; floored at `min_frequency` for octaves, so
    that such a unit counts as the lowest band, not minus infinity)."""
    B = np.abs(np.asarray(components, np.float64))
    K, L = B.shape
    if not 1 <= n_inputs <= K:
        raise ValueError(f"n_inputs must be in [1, {K}], got {n_inputs}")
    frequency = np.asarray(frequency, float)
    oriented = np.hypot(*frequency.T) > 0
    if oriented.sum() < n_inputs:
        raise ValueError(f"n_inputs must be at most the {oriented.sum()} oriented units (non-zero "
                         f"frequency), got {n_inputs}")
    top = np.argsort(-B, axis=0)[:n_inputs]  # (n, L)
    w = _normalised(np.take_along_axis(B, top, 0))
    top_oriented = np.argsort(-np.where(oriented[:, None], B, -1.0), axis=0)[:n_inputs]
    w_oriented = _normalised(np.take_along_axis(B, top_oriented, 0))
    doubled = np.sum(w_oriented * np.exp(2j * np.asarray(orientation, float)[top_oriented]), 0)
    c = np.asarray(centres, float)[top]  # (n, L, 2)
    mean_c = np.sum(w[..., None] * c, 0)
    spread = np.sqrt(np.sum(w * np.sum((c - mean_c) ** 2, -1), 0))
    octave = np.log2(np.maximum(np.hypot(*frequency.T), min_frequency))[top]
    mean_o = np.sum(w * octave, 0)
    return {"orientation_concentration": np.abs(doubled),
            "mean_orientation": np.mod(np.angle(doubled) / 2, np.pi),
            "spatial_spread": spread,
            "octave_spread": np.sqrt(np.sum(w * (octave - mean_o) ** 2, 0))}


def _normalised(w: np.ndarray) -> np.ndarray:
    """Weights w (n, L) scaled to sum 1 over axis 0."""
    return w / np.maximum(w.sum(0), 1e-300)


def active_units(V: np.ndarray, share: float = ACTIVE_FRAMES) -> np.ndarray:
    """bool (L,): units whose activity V (..., L) is non-zero in at least `share` of frames."""
    V = np.asarray(V).reshape(-1, np.shape(V)[-1])
    return np.mean(V != 0, axis=0) >= share


def summary(measures: dict[str, np.ndarray], active: np.ndarray) -> dict:
    """Medians of `input_measures` over all units and over the active ones, and the counts."""
    out = {"n_units": int(active.size), "n_active": int(active.sum())}
    for key in ("orientation_concentration", "spatial_spread", "octave_spread"):
        out[f"median_{key}"] = float(np.median(measures[key]))
        out[f"median_{key}_active"] = (float(np.median(measures[key][active]))
                                       if active.any() else float("nan"))
    return out


def form_unit_measures(model, P: np.ndarray, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Form units of a `PixelModel`: which are active on pixel movies P (n, T, p, p), and the
    input measures (over all oriented first-layer inputs where there are fewer than `N_INPUTS`)
    of the learned columns and of random columns of the same shape (inferred on the same codes,
    so that "active" means the same for both). Returns the figures {"learned": summary, "random":
    summary, "units": per-unit lists of the learned units, "activity": the share of frames each
    learned unit is non-zero in} and the learned units' activities float64 (n, T, L)."""
    from sklearn.base import clone

    from csc.analysis.first_layer import whitened_bases
    from csc.analysis.geometry import envelope_centre, orientation, unit_frequency
    from csc.analysis.motion_templates import random_columns
    from csc.second_layer import second_layer_codes

    B = whitened_bases(model)
    geometry = (orientation(B), envelope_centre(B), unit_frequency(B, signed=False))
    fu = model.form_units
    ell = fu.features(second_layer_codes(model, P))
    random = clone(fu)
    random.components_ = random_columns(fu.components_.shape, seed)
    random.feature_stats_ = fu.feature_stats_
    n_oriented = int(np.sum(np.hypot(*geometry[2].T) > 0))
    out, activities = {}, None
    for name, units in (("learned", fu), ("random", random)):
        V = units.transform(ell)
        measures = input_measures(units.components_, *geometry,
                                  n_inputs=min(N_INPUTS, n_oriented))
        active = active_units(V)
        out[name] = summary(measures, active)
        if name == "learned":
            out["units"] = {k: v.tolist() for k, v in measures.items()}
            out["units"]["active"] = active.tolist()
            out["activity"] = np.mean(V.reshape(-1, V.shape[-1]) != 0, 0).tolist()
            activities = V
    return out, activities
