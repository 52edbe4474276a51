"""Direction and speed tuning curves of motion units (`csc.second_layer.MotionUnits`).

Each motion unit is shown two kinds of moving stimuli, every one at `directions` directions and
`speeds` speeds, and its mean activity per stimulus gives a tuning curve R(θ, v); from it come
the unit's direction selectivity index (DSI), preferred direction and preferred speed, and a
comparison of the preferred directions under the two kinds (is the unit tuned to the motion, or
to the pattern that moves?).

Conventions
-----------
Movies are float32 (n, T, p, p), indexed (row, column), rows pointing down as displayed, as in
`csc.stimuli` and `csc.video.camera`. A direction θ is the direction in which the content
moves, in degrees counter-clockwise as displayed from the +column axis: θ = 0 moves right (+col),
θ = 90 moves up (−row), θ = 180 left, θ = 270 down. Moving at speed v (pixels per frame) along θ
is the per-frame shift (rows, cols) = (−v sin θ, v cos θ) (`motion_shift`): frame t (x) =
frame 0 (x − t · shift), the convention of `csc.video.camera.transformed_movie`. Directions are
evenly spaced from 0: 0, 360/n, 2·360/n, ... degrees (`direction_angles`, n even so that every
direction's opposite is one of them).

Stimuli
-------
- Drifting sinusoidal gratings (`drifting_gratings`): frame t is
  0.5 + contrast · cos(2π f (⟨u_θ, x⟩ − v t) + φ), where x = (col − c, c − row) is the position
  relative to the patch centre c = (p − 1)/2 with the second axis pointing up, and
  u_θ = (cos θ, sin θ). The stripes are perpendicular to θ and move v pixels per frame along θ;
  at a fixed pixel the phase falls by 2π f v per frame (the pattern advances by 2π f v along θ).
  This is `csc.stimuli.drifting_grating` (wavelength 1/f, orientation θ, contrast
  2·contrast) with a spatial phase φ added. The spatial frequencies f are in cycles per pixel and
  f v must stay below ½ (a phase step of π or more per frame is aliased: the stripes would seem
  to move the other way). The repeats are `n_repeats` spatial phases φ = 2π j / n_repeats.
  The default contrast 0.18 gives a pixel standard deviation of 0.127, that of 16 × 16 crops of
  the noise textures below (0.12–0.13); the training patches of the bundled stills have medians
  0.03–0.14.
- Translating 1/f noise (`translating_noise`): `n_repeats` textures of
  `csc.stimuli.pink_noise` (1/f amplitude spectrum, mean 0.5, standard deviation 0.15,
  values in [0, 1]; side max(4p, p + 2 ⌈(T − 1) v_max⌉ + 8) so that no frame reaches the border),
  each rendered moving along θ at v by `csc.video.camera.transformed_movie` (a centred p × p crop,
  cubic spline as the synthetic camera of the training renders with).
Every direction and speed is shown the same phases, frequencies and textures (from `seed`), so
that a difference between directions is not a difference between images.

Responses
---------
`respond(P) -> W` maps pixel movies (n, T, p, p) to motion-unit activities (n, T − 1, L); the
default is `csc.second_layer.motion_activities(model, ·)` (encode under the second
layer's prior, phase velocities, motion-unit inference). It is called once per stimulus kind
with all of that kind's movies: motion units with a relative mask threshold (`threshold=None`)
mask phase velocities relative to each first-layer unit's largest amplitude within the call, so
one call keeps one threshold for every stimulus of a kind.

1. Mean response m(θ, v): the signed activity w averaged over the T − 1 frame transitions and the
   repeats (phases or textures); for gratings also over the spatial frequencies (the
   per-frequency means are kept as well).
2. Polarity: the model is symmetric under (D_m, w) → (−D_m, −w), so a unit's sign is arbitrary.
   Each unit gets one sign s = ±1 for both kinds: the sign of its mean response of largest
   magnitude over the grating (frequency-averaged) and the noise means together (+1 for a unit
   whose means are all 0). The reported responses are s · m. One sign for both kinds keeps a
   unit that prefers opposite directions under gratings and under noise visibly 180° off.
3. Tuning curve: the half-wave rectified response R(θ, v) = max(s · m(θ, v), 0).
4. Preferred speed v*: the speed of the largest R over all (θ, v); the argmax direction is the
   direction of that largest R (ties: the first in order).
5. Preferred direction: the angle of the vector sum Σ_θ R(θ, v*) e^{iθ} (the circular mean of
   the directions weighted by R), in degrees in [0, 360); the argmax direction where that sum
   is 0 (no positive response, or a perfectly balanced one). Vector strength:
   |Σ_θ R(θ, v*) e^{iθ}| / Σ_θ R(θ, v*) in [0, 1] (0 where Σ R = 0): 1 for a unit answering
   one direction only, 0 for one answering opposite directions equally.
6. Direction selectivity index at v*: DSI = (R_pref − R_opp) / (R_pref + R_opp), R_pref the
   largest R (at the argmax direction) and R_opp the R at the argmax direction + 180°; in
   [0, 1], and 0 where both are 0.
7. Pattern invariance: per unit the angle between the grating's and the noise's preferred
   directions, |wrap(θ_grating − θ_noise)| in [0, 180] degrees; the share of units with an angle
   of at most 30°; the median DSI of each kind.

A caveat in reading the DSI: reversing a stimulus' motion approximately negates its phase
velocities, and the motion-unit energy is symmetric under (δ, w) → (−δ, −w), so a unit's signed
mean response is nearly odd in the motion, m(θ + 180°) ≈ −m(θ), learned or not. After
rectification any unit with a consistent response then has a DSI near 1; the vector strength and
the agreement of the grating and noise preferred directions say more about how a unit is tuned.
For the same reason the polarity of such a unit, and with it its preferred direction up to 180°,
is decided by the small difference between its responses to a direction and to the opposite one;
the axis of its preferred direction is well defined, and since both kinds share the sign, so is
the angle between their preferred directions.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from sklearn.base import clone

from csc.core.phases import wrap
from csc.stimuli import centered_grid, pink_noise
from csc.video.camera import SPLINE_ORDER, transformed_movie

__all__ = ["KINDS", "DEFAULT_SPEEDS", "DEFAULT_FREQUENCIES", "GRATING_CONTRAST",
           "direction_angles", "motion_shift", "drifting_gratings", "noise_textures",
           "translating_noise", "mean_responses", "unit_polarity", "direction_tuning",
           "pattern_invariance", "direction_spread", "speed_tuning", "tuning_curves"]

KINDS = ("grating", "noise")
DEFAULT_SPEEDS = (0.5, 1.0, 1.5)  # pixels per frame
DEFAULT_FREQUENCIES = (0.0625, 0.125, 0.25)  # cycles per pixel: 16, 8 and 4 px wavelengths
GRATING_CONTRAST = 0.18  # amplitude about 0.5: pixel std 0.127, as 16 × 16 crops of pink_noise
INVARIANCE_DEGREES = 30.0  # "same preferred direction" within this angle

Respond = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- stimuli
def direction_angles(n: int) -> np.ndarray:
    """n evenly spaced directions of motion from 0: float64 (n,) degrees, 0, 360/n, ...; n must be
    an even integer ≥ 2 (every direction's opposite is then one of them)."""
    if isinstance(n, bool) or int(n) != n or n < 2 or n % 2:
        raise ValueError(f"directions must be an even integer >= 2, got {n!r}")
    return np.arange(int(n)) * (360.0 / int(n))


def motion_shift(direction: float, speed: float) -> tuple[float, float]:
    """The per-frame shift (rows, cols) of content moving `speed` px/frame along `direction`
    (degrees counter-clockwise as displayed from +col): (−v sin θ, v cos θ)."""
    th = math.radians(direction)
    return (-speed * math.sin(th), speed * math.cos(th))


def _check_positive(values, name: str) -> np.ndarray:
    a = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be one or more finite positive numbers, got {values!r}")
    return a


def drifting_gratings(directions, speeds, frequencies, phases, n_frames: int, size: int, *,
                      contrast: float = GRATING_CONTRAST) -> np.ndarray:
    """Drifting sinusoidal gratings (module docstring): float32 (n_dir, n_speed, n_freq, n_phase,
    n_frames, size, size), frame t = 0.5 + contrast cos(2π f (⟨u_θ, x⟩ − v t) + φ).

    directions: degrees (n_dir,); speeds: px/frame (n_speed,); frequencies: cycles/px (n_freq,),
    with f · v < ½ for every pair; phases: radians (n_phase,).
    """
    th = np.radians(np.atleast_1d(np.asarray(directions, np.float64)))
    v = _check_positive(speeds, "speeds")
    f = _check_positive(frequencies, "frequencies")
    phi = np.atleast_1d(np.asarray(phases, np.float64))
    if f.max() * v.max() >= 0.5:
        raise ValueError(f"frequency × speed must stay below 0.5 cycles per frame (aliasing), "
                         f"got {f.max()} × {v.max()}")
    x, y = centered_grid(size)  # (1, p) and (p, 1): column and upward-row coordinates
    u = x[None] * np.cos(th)[:, None, None] + y[None] * np.sin(th)[:, None, None]  # (n_dir, p, p)
    t = np.arange(n_frames, dtype=np.float64)
    arg = 2 * np.pi * f[None, None, :, None, None, None, None] * (
        u[:, None, None, None, None] - v[None, :, None, None, None, None, None] * t[:, None, None]
    ) + phi[None, None, None, :, None, None, None]
    return (0.5 + contrast * np.cos(arg)).astype(np.float32)


def noise_textures(n: int, size: int, n_frames: int, max_speed: float, seed: int = 0
                   ) -> list[np.ndarray]:
    """`n` 1/f noise textures (`csc.stimuli.pink_noise`), float32 (s, s) with
    s = max(4 size, size + 2 ⌈(n_frames − 1) max_speed⌉ + 8): large enough that a centred
    size × size crop moving at max_speed never reaches the border."""
    side = max(4 * size, size + 2 * math.ceil((n_frames - 1) * max_speed) + 8)
    rng = np.random.default_rng([seed, 1])
    return [pink_noise((side, side), rng) for _ in range(n)]


def translating_noise(directions, speeds, textures: Sequence[np.ndarray], n_frames: int,
                      size: int) -> np.ndarray:
    """Each texture's centred size × size crop moving at each speed along each direction
    (`transformed_movie` with shift `motion_shift(θ, v)`, cubic spline): float32
    (n_dir, n_speed, n_textures, n_frames, size, size)."""
    directions = np.atleast_1d(np.asarray(directions, np.float64))
    speeds = _check_positive(speeds, "speeds")
    out = np.empty((len(directions), len(speeds), len(textures), n_frames, size, size),
                   np.float32)
    for i, th in enumerate(directions):
        for j, v in enumerate(speeds):
            for k, image in enumerate(textures):
                out[i, j, k] = transformed_movie(image, n_frames, size,
                                                 shift=motion_shift(th, v), order=SPLINE_ORDER)
    return out


# --------------------------------------------------------------------------- responses
def mean_responses(respond: Respond, movies: np.ndarray) -> np.ndarray:
    """Mean signed activity per movie and unit: float64 (..., L) for movies (..., T, p, p).

    All movies go to one `respond` call as (n, T, p, p); its activities (n, T − 1, L) are
    averaged over the frame transitions."""
    movies = np.asarray(movies)
    lead = movies.shape[:-3]
    W = np.asarray(respond(movies.reshape((-1,) + movies.shape[-3:])), dtype=np.float64)
    n = int(np.prod(lead))
    if W.ndim != 3 or W.shape[0] != n:
        raise ValueError(f"respond must return activities (n, T-1, L) for {n} movies, got "
                         f"shape {W.shape}")
    return W.mean(axis=1).reshape(lead + (W.shape[-1],))


def unit_polarity(*responses: np.ndarray) -> np.ndarray:
    """One sign per unit, float64 (L,) of ±1: the sign of the unit's mean response of largest
    magnitude over all the given arrays (each (L, ...)); +1 where all are 0."""
    flat = np.concatenate([np.asarray(r, np.float64).reshape(len(r), -1) for r in responses],
                          axis=1)
    peak = flat[np.arange(len(flat)), np.abs(flat).argmax(axis=1)]
    return np.where(peak < 0, -1.0, 1.0)


def direction_tuning(R: np.ndarray, directions, speeds) -> dict[str, np.ndarray]:
    """Tuning measures of rectified responses R float (L, n_dir, n_speed) ≥ 0 (module docstring,
    steps 4–6) at directions (n_dir,) evenly spaced degrees from 0 and speeds (n_speed,).

    Returns float64 (L,) arrays: "dsi", "preferred_direction" (vector sum, degrees in [0, 360)),
    "argmax_direction" (degrees), "preferred_speed", "vector_strength", "peak" (largest R).
    """
    R = np.asarray(R, np.float64)
    directions = np.asarray(directions, np.float64)
    L, n_dir, n_speed = R.shape
    if not np.allclose(directions, direction_angles(n_dir)):
        raise ValueError("directions must be evenly spaced from 0 (direction_angles)")
    best = R.reshape(L, -1).argmax(axis=1)
    i_dir, i_speed = np.unravel_index(best, (n_dir, n_speed))
    units = np.arange(L)
    curve = R[units, :, i_speed]  # (L, n_dir) at the preferred speed
    r_pref = curve[units, i_dir]
    r_opp = curve[units, (i_dir + n_dir // 2) % n_dir]
    total = r_pref + r_opp
    dsi = np.divide(r_pref - r_opp, total, out=np.zeros(L), where=total > 0)
    vec = curve @ np.exp(1j * np.radians(directions))
    mass = curve.sum(axis=1)
    argmax_dir = directions[i_dir]
    angle = np.degrees(np.angle(vec)) % 360.0
    angle = np.where(angle >= 360.0, 0.0, angle)  # −0.0…01 % 360 rounds to 360
    pref = np.where(np.abs(vec) > 1e-12 * np.maximum(mass, 1e-300), angle, argmax_dir)
    strength = np.divide(np.abs(vec), mass, out=np.zeros(L), where=mass > 0)
    return {"dsi": dsi, "preferred_direction": pref, "argmax_direction": argmax_dir,
            "preferred_speed": np.asarray(speeds, np.float64)[i_speed],
            "vector_strength": np.clip(strength, 0.0, 1.0), "peak": r_pref}


def pattern_invariance(grating: dict, noise: dict,
                       within: float = INVARIANCE_DEGREES) -> dict:
    """Per unit the angle float64 (L,) in [0, 180] degrees between the two kinds' preferred
    directions ("angle"), the share of units with an angle ≤ `within` degrees ("share_within",
    with "within_degrees"), and the median DSI of each kind ("median_dsi": {kind: float})."""
    angle = np.abs(np.degrees(wrap(np.radians(grating["preferred_direction"]
                                              - noise["preferred_direction"]))))
    return {"angle": angle, "within_degrees": float(within),
            "share_within": float(np.mean(angle <= within)),
            "median_dsi": {"grating": float(np.median(grating["dsi"])),
                           "noise": float(np.median(noise["dsi"]))}}


def direction_spread(result: dict) -> np.ndarray:
    """float64 (L,): per unit, the circular standard deviation (degrees) of its preferred
    directions over the stimuli of a `tuning_curves` result, each grating frequency and the noise
    taken apart (`direction_tuning` of each): small for a unit tuned to the motion whatever
    moves, large for one whose answer depends on the pattern."""
    speeds = result["speeds"]
    per_stimulus = [np.maximum(r, 0.0) for r in np.moveaxis(
        result["grating"]["responses_per_frequency"], 1, 0)] + [result["noise"]["rectified"]]
    angles = np.stack([direction_tuning(R, result["directions"], speeds)["preferred_direction"]
                       for R in per_stimulus])
    strength = np.abs(np.mean(np.exp(1j * np.radians(angles)), axis=0))
    return np.degrees(np.sqrt(-2 * np.log(np.clip(strength, 1e-12, 1.0))))


def speed_tuning(result: dict, kind: str = "noise") -> np.ndarray:
    """float64 (L, n_speed): per unit, its rectified response to `kind` at its preferred
    direction's argmax, at every speed, over its largest (0 for a unit that never responds)."""
    R = result[kind]["rectified"]
    i_dir = np.searchsorted(result["directions"], result[kind]["argmax_direction"])
    curve = R[np.arange(len(R)), i_dir % R.shape[1]]
    peak = curve.max(axis=1, keepdims=True)
    return np.divide(curve, peak, out=np.zeros_like(curve), where=peak > 0)


# --------------------------------------------------------------------------- everything
def _default_respond(model) -> Respond:
    from csc.second_layer import motion_activities

    return lambda P: motion_activities(model, P)


def random_motion_units(motion_units, seed: int = 0):
    """Motion units with the settings of `motion_units` and random unit columns (what learning
    starts from): the reference a learned dictionary's tuning is compared with."""
    ref = clone(motion_units).set_params(random_state=seed)
    ref._init_components(motion_units.components_.shape[0])
    return ref


def random_reference(model, seed: int = 0, **options) -> dict:
    """`tuning_curves` of `random_motion_units(model.motion_units, seed)` on the same model and
    stimuli (options as for `tuning_curves`)."""
    from csc.second_layer import motion_activities

    ref = random_motion_units(model.motion_units, seed)
    return tuning_curves(model, respond=lambda P: motion_activities(model, P, ref), **options)


#: a unit counts as active when its strongest response is at least this share of the strongest
#: unit's (a sparse prior leaves the units the data do not need silent)
ACTIVE_SHARE = 0.25


def unit_strength(result: dict) -> np.ndarray:
    """float64 (L,): each unit's strongest mean response, over both kinds."""
    return np.maximum(result["grating"]["peak"], result["noise"]["peak"])


def active_units(result: dict, share: float = ACTIVE_SHARE) -> np.ndarray:
    """bool (L,): units whose strongest response is ≥ `share` × the strongest unit's."""
    strength = unit_strength(result)
    return strength >= share * max(float(strength.max()), 1e-300)


def summary(result: dict, share: float = ACTIVE_SHARE) -> dict[str, float]:
    """The headline figures of a `tuning_curves` result, over all units and over the active ones
    (`active_units`, keys ending in "_active"): median DSI and vector strength per kind, the
    share of units whose grating and noise preferred directions agree within 30° and the median
    angle between them, the median `direction_spread`; and "n_units", "n_active"."""
    active = active_units(result, share)
    spread = direction_spread(result)
    out = {"n_units": int(active.size), "n_active": int(active.sum())}
    for suffix, keep in (("", np.ones_like(active)), ("_active", active)):
        for kind in KINDS:
            out[f"median_dsi_{kind}{suffix}"] = float(np.median(result[kind]["dsi"][keep]))
            out[f"median_vector_strength_{kind}{suffix}"] = float(
                np.median(result[kind]["vector_strength"][keep]))
        angle = result["invariance"]["angle"][keep]
        out[f"share_within_30{suffix}"] = float(np.mean(angle <= INVARIANCE_DEGREES))
        out[f"median_angle{suffix}"] = float(np.median(angle))
        out[f"median_direction_spread{suffix}"] = float(np.median(spread[keep]))
    return out


def _kind_result(responses: np.ndarray, directions, speeds) -> dict:
    """Polarity-corrected responses (L, n_dir, n_speed) → the kind's result dict."""
    rectified = np.maximum(responses, 0.0)
    return {"responses": responses, "rectified": rectified,
            **direction_tuning(rectified, directions, speeds)}


def tuning_curves(model, *, directions: int = 16, speeds: Sequence[float] = DEFAULT_SPEEDS,
                  frequencies: Sequence[float] = DEFAULT_FREQUENCIES, n_frames: int = 8,
                  n_repeats: int = 4, seed: int = 0, respond: Respond | None = None,
                  contrast: float = GRATING_CONTRAST, patch_size: int | None = None) -> dict:
    """Direction and speed tuning of every motion unit to drifting gratings and translating 1/f
    noise (the module docstring says how each number is made).

    model: a `PixelModel` with `motion_units` (its `patch_size` sets the movies' size), or None
    when `respond` and `patch_size` are given. directions: how many, evenly spaced from 0
    (even); speeds (px/frame), frequencies (cycles/px); n_frames ≥ 2 per movie; n_repeats grating
    phases and noise textures per condition; seed: the textures; respond(P (n, T, p, p)) → W
    (n, T − 1, L), default `motion_activities(model, ·)`; contrast: the gratings' amplitude.

    Returns a dict:
      "directions" (n_dir,) degrees, "speeds" (n_speed,), "frequencies" (n_freq,), float64;
      "n_frames", "n_repeats", "contrast", "seed";
      "sign" float64 (L,): the polarity applied to every unit's responses;
      "grating" and "noise", each a dict of float64 arrays: "responses" (L, n_dir, n_speed)
        (signed means, polarity applied; gratings averaged over frequencies), "rectified"
        (the same, max(·, 0)), and (L,) "dsi", "preferred_direction", "argmax_direction"
        (degrees), "preferred_speed", "vector_strength", "peak"; "grating" also has
        "responses_per_frequency" (L, n_freq, n_dir, n_speed);
      "invariance": `pattern_invariance` of the two kinds ("angle" (L,), "within_degrees" (30),
        "share_within", "median_dsi" {"grating", "noise"}).
    """
    if patch_size is None and model is None:
        raise ValueError("give a model or patch_size (the side of the movies)")
    size = int(patch_size if patch_size is not None else model.patch_size)
    if isinstance(n_frames, bool) or int(n_frames) != n_frames or n_frames < 2:
        raise ValueError(f"n_frames must be an integer >= 2, got {n_frames!r}")
    if isinstance(n_repeats, bool) or int(n_repeats) != n_repeats or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer, got {n_repeats!r}")
    angles = direction_angles(directions)
    speeds = _check_positive(speeds, "speeds")
    frequencies = _check_positive(frequencies, "frequencies")
    respond = respond if respond is not None else _default_respond(model)

    phases = 2 * np.pi * np.arange(n_repeats) / n_repeats
    gratings = drifting_gratings(angles, speeds, frequencies, phases, n_frames, size,
                                 contrast=contrast)
    m_grating = mean_responses(respond, gratings).mean(axis=3)  # (n_dir, n_speed, n_freq, L)
    del gratings
    textures = noise_textures(n_repeats, size, n_frames, float(speeds.max()), seed)
    noise = translating_noise(angles, speeds, textures, n_frames, size)
    m_noise = mean_responses(respond, noise).mean(axis=2)  # (n_dir, n_speed, L)

    per_frequency = np.transpose(m_grating, (3, 2, 0, 1))  # (L, n_freq, n_dir, n_speed)
    grating_mean = per_frequency.mean(axis=1)
    noise_mean = np.transpose(m_noise, (2, 0, 1))
    sign = unit_polarity(grating_mean, noise_mean)
    s = sign[:, None, None]
    result = {"directions": angles, "speeds": speeds, "frequencies": frequencies,
              "n_frames": int(n_frames), "n_repeats": int(n_repeats),
              "contrast": float(contrast), "seed": seed, "sign": sign,
              "grating": {**_kind_result(s * grating_mean, angles, speeds),
                          "responses_per_frequency": s[:, None] * per_frequency},
              "noise": _kind_result(s * noise_mean, angles, speeds)}
    result["invariance"] = pattern_invariance(result["grating"], result["noise"])
    return result
