"""What a motion unit's weights encode: fits of its column to the phase-velocity patterns of
global translation, of translation in one quadrant of the patch, of rotation and of expansion.

A first-layer unit k with signed spatial frequency ω_k (radians/pixel, (row, col);
`csc.analysis.transfer.unit_frequencies`) and envelope centre c_k turns its phase by
δ_k ≈ ⟨ω_k, u(c_k)⟩ when the image content near c_k moves by u(c_k) pixels per frame. A motion
unit's column d (K,) adds `w · d` to the predicted phase velocities, so a unit that detects a
motion field u has d ∝ (⟨ω_k, u(c_k)⟩)_k. Each template family below is a (K, n) matrix whose
columns span such patterns; a column's fit is the share of its squared norm the family's span
explains (uncentred R², 0 to 1):

- "global": translation of the whole patch, u = v: columns (ω_k,row, ω_k,col) (n = 2);
- "quadrant": translation of one quadrant q of the patch, the units centred elsewhere at rest:
  the global columns times 1[c_k ∈ q] (n = 2 per quadrant; the best quadrant is reported);
- "rotation": u(c) = J (c − m) about the patch middle m, J the quarter turn (n = 1);
- "expansion": u(c) = c − m (n = 1).

A random column explains about n/K of its norm (2/K for a translation): `random_columns`
gives the reference of the same shape. A unit is a *translation detector* when its global or
best quadrant R² reaches `DETECTOR_R2` (0.5); a detector is *local* when its quadrant R² reaches
`LOCAL_QUADRANT_R2` (0.6) while its global R² stays below `LOCAL_GLOBAL_R2` (0.3).

Direction: the least-squares velocity β (row, col) of a detector's best family gives the
direction in which positive activity moves the content, in degrees counter-clockwise as
displayed from +col (`csc.analysis.motion_tuning`'s convention: θ with shift
(−v sin θ, v cos θ)). The motion-unit energy is symmetric under (d, w) → (−d, −w), so a unit
is a signed detector of the axis θ / θ + 180°: `directions_covered` counts both.
"""
from __future__ import annotations

import numpy as np

#: a translation detector's least global or best-quadrant template R²
DETECTOR_R2 = 0.5
#: a local detector: best-quadrant R² at least this, global R² below `LOCAL_GLOBAL_R2`
LOCAL_QUADRANT_R2 = 0.6
LOCAL_GLOBAL_R2 = 0.3
FAMILIES = ("global", "quadrant", "rotation", "expansion")


def quadrant_of(centres: np.ndarray, patch_size: int) -> np.ndarray:
    """int (K,): the quadrant of each centre (row, col): 0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right, split at the patch middle (p − 1)/2."""
    m = (patch_size - 1) / 2
    centres = np.asarray(centres, float)
    return 2 * (centres[:, 0] > m) + (centres[:, 1] > m)


def templates(omega: np.ndarray, centres: np.ndarray, patch_size: int) -> dict[str, np.ndarray]:
    """The template families of units with frequencies omega float (K, 2) (radians/pixel) and
    envelope centres float (K, 2) (pixels) in a patch of side `patch_size`:
    {"global": (K, 2), "quadrant": (4, K, 2), "rotation": (K, 1), "expansion": (K, 1)}."""
    omega = np.asarray(omega, np.float64)
    rel = np.asarray(centres, np.float64) - (patch_size - 1) / 2
    quad = quadrant_of(centres, patch_size)
    turned = np.stack([-rel[:, 1], rel[:, 0]], 1)  # J (c − m): a quarter turn in (row, col)
    return {"global": omega,
            "quadrant": np.stack([omega * (quad == q)[:, None] for q in range(4)]),
            "rotation": np.sum(omega * turned, 1, keepdims=True),
            "expansion": np.sum(omega * rel, 1, keepdims=True)}


def _fit(T: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of every column of D (K, L) on T (K, n): (R² (L,), coefficients (L, n))."""
    beta, *_ = np.linalg.lstsq(T, D, rcond=None)
    explained = np.sum((T @ beta) ** 2, 0)
    return explained / np.maximum(np.sum(D * D, 0), 1e-300), beta.T


def _direction(beta: np.ndarray) -> np.ndarray:
    """Degrees in [0, 360) of shifts (row, col) (L, 2) in motion_tuning's convention."""
    return np.degrees(np.arctan2(-beta[:, 0], beta[:, 1])) % 360


def template_fits(components: np.ndarray, omega: np.ndarray, centres: np.ndarray,
                  patch_size: int) -> dict[str, np.ndarray]:
    """Template R² of motion-unit columns components (K, L) (module docstring).

    Returns float64 (L,) arrays "global", "quadrant" (the best quadrant's), "rotation",
    "expansion"; int "best_quadrant" (L,); "direction" (L,) degrees of the best translation
    fit (global, or the best quadrant where that fits better); bool "detector" and "local".
    """
    D = np.asarray(components, np.float64)
    if D.ndim != 2 or D.shape[0] != len(omega):
        raise ValueError(f"components must be (K, L) with K = {len(omega)} first-layer units, "
                         f"got shape {D.shape}")
    T = templates(omega, centres, patch_size)
    out = {}
    out["global"], beta_global = _fit(T["global"], D)
    per_quadrant = [_fit(T["quadrant"][q], D) for q in range(4)]
    r2_q = np.stack([r for r, _ in per_quadrant])  # (4, L)
    best = r2_q.argmax(0)
    out["quadrant"] = r2_q.max(0)
    out["best_quadrant"] = best
    beta_q = np.stack([b for _, b in per_quadrant])[best, np.arange(D.shape[1])]
    out["rotation"], _ = _fit(T["rotation"], D)
    out["expansion"], _ = _fit(T["expansion"], D)
    use_global = out["global"] >= out["quadrant"]
    out["direction"] = _direction(np.where(use_global[:, None], beta_global, beta_q))
    out["detector"] = np.maximum(out["global"], out["quadrant"]) >= DETECTOR_R2
    out["local"] = (out["quadrant"] >= LOCAL_QUADRANT_R2) & (out["global"] < LOCAL_GLOBAL_R2)
    return out


def directions_covered(directions: np.ndarray) -> int:
    """How many of the four quadrants of direction ([0, 90), [90, 180), ...) the signed axes
    θ and θ + 180° of the given directions (degrees) reach."""
    d = np.concatenate([np.asarray(directions, float), np.asarray(directions, float) + 180])
    return int(np.unique((d % 360) // 90).size)


def largest_direction_gap(directions: np.ndarray) -> float:
    """The widest gap (degrees) between neighbouring signed axes θ, θ + 180° of the given
    directions around the circle (360 for none)."""
    d = np.sort(np.concatenate([np.asarray(directions, float),
                                np.asarray(directions, float) + 180]) % 360)
    if d.size == 0:
        return 360.0
    return float(np.max(np.diff(np.concatenate([d, d[:1] + 360]))))


def spatial_concentration(components: np.ndarray, centres: np.ndarray, patch_size: int
                          ) -> np.ndarray:
    """float64 (L,): the largest share of a column's squared weight on the units of one
    quadrant (¼ for weight spread evenly, 1 for weight in one quadrant only)."""
    D = np.asarray(components, np.float64) ** 2
    quad = quadrant_of(centres, patch_size)
    per_quadrant = np.stack([D[quad == q].sum(0) for q in range(4)])
    return per_quadrant.max(0) / np.maximum(D.sum(0), 1e-300)


def random_columns(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Gaussian columns of unit norm, float64 `shape` (K, L): what motion units start from."""
    D = np.random.default_rng(seed).standard_normal(shape)
    return D / np.linalg.norm(D, axis=0)


def summary(fits: dict[str, np.ndarray], concentration: np.ndarray) -> dict:
    """Headline figures of `template_fits` and `spatial_concentration`: counts of detectors and
    local detectors, quadrants of direction covered and the widest gap (detectors), median R²
    per family and median concentration, all units."""
    det = fits["detector"]
    return {"n_units": int(det.size), "n_detectors": int(det.sum()),
            "n_local": int(fits["local"].sum()),
            "n_global": int((det & ~fits["local"]).sum()),
            "direction_quadrants": directions_covered(fits["direction"][det]),
            "largest_direction_gap": largest_direction_gap(fits["direction"][det]),
            **{f"median_r2_{f}": float(np.median(fits[f])) for f in FAMILIES},
            "median_concentration": float(np.median(concentration))}


def motion_unit_measures(model, seed: int = 0) -> dict:
    """Template fits and spatial concentration of a `PixelModel`'s motion units, next to random
    columns of the same shape: {"learned": summary, "random": summary, "units": per-unit lists
    of the learned units}."""
    from csc.analysis.first_layer import whitened_bases
    from csc.analysis.geometry import envelope_centre
    from csc.analysis.transfer import unit_frequencies

    B = whitened_bases(model)
    omega, _ = unit_frequencies(B)
    centres = envelope_centre(B)
    p = model.patch_size
    D = model.motion_units.components_
    out = {}
    for name, cols in (("learned", D), ("random", random_columns(D.shape, seed))):
        fits = template_fits(cols, omega, centres, p)
        conc = spatial_concentration(cols, centres, p)
        out[name] = summary(fits, conc)
        if name == "learned":
            out["units"] = {k: np.asarray(v).tolist() for k, v in fits.items()}
            out["units"]["concentration"] = conc.tolist()
    return out
