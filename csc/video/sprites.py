"""A sprite world: independent movers over a moving background, with the true flow of every pixel.

What it is for
--------------
The synthetic camera (`csc.video.camera`) moves whole stills rigidly, so inside a 16-pixel patch
everything moves together, and a second layer learned on it sees only global motion. Here each
clip holds several objects that move on their own, as in natural scenes: a background (a still,
panned at its own velocity or at rest) and, over it, `n_sprites` sprites, each a piece of
another still cut out by a soft random mask, with its own velocity, rotation and change of
scale, drawn in a random occlusion order. Each clip comes with its ground truth: the flow
(where each pixel's content goes from one frame to the next) and which layer owns each pixel.

Layers and motion
-----------------
Layer 0 is the background, layers 1..n the sprites in drawing order (a later one occludes the
earlier ones). A layer's content is a still S seen through a map: at frame t, pixel x (row, col)
of the clip shows S(s₀ + A_t⁻¹ (x − c_t)), where c_t = c₀ + t v is the layer's centre on screen,
A_t = ζ^t R(t ρ) its scale and rotation about that centre (ρ radians per frame, counter-clockwise
as displayed; ζ the zoom per frame) and s₀ the point of the still at the centre. The background
has ρ = 0, ζ = 1 and a centre off-screen where needed, so it is a pan at v. A sprite's mask moves
with its content: α(y) = ½ (1 + tanh((r(θ_y) − |y|) / softness)) in the sprite's own
coordinates y = A_t⁻¹ (x − c_t), with a random star-shaped outline
r(θ) = R (1 + Σ_{n=2}^{4} a_n cos(n θ + φ_n)), R uniform in `radius` × size.
Frames composite the layers in order, frame = (1 − α) frame + α · layer. Pixels come from a
cubic spline (the camera's `SPLINE_ORDER`) of the still.

Ground truth
------------
- flow float32 (T − 1, size, size, 2): (rows, cols) displacement from frame t to t + 1 of the
  content shown at each pixel of frame t, that of its owner: x ↦ c_{t+1} + A_{t+1} A_t⁻¹ (x − c_t);
- owner int8 (T, size, size): the topmost layer whose α exceeds ½ (0 for the background);
- layers: a dict per layer ("still", "centre" c₀, "still_point" s₀, "shift" v, "rotation" ρ,
  "zoom" ζ, "radius" R (inf for the background)).

Conventions as in `csc.video.camera`: arrays are (row, col), rows pointing down; velocities in
pixels per frame; a velocity of speed v along θ is the shift (−v sin θ, v cos θ).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from csc.video.camera import SPLINE_ORDER, _check_clip_arguments

_HARMONICS = (2, 3, 4)  # the mask outline's harmonics
_MAX_WOBBLE = 0.15  # each harmonic's amplitude is uniform in [0, this] of the radius


def _rotation(angle: float) -> np.ndarray:
    """(2, 2) counter-clockwise rotation as displayed, acting on (row, col)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _velocity(rng: np.random.Generator, max_speed: float) -> np.ndarray:
    """A shift (rows, cols) of uniform direction and speed uniform in [0, max_speed]."""
    theta, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0, max_speed)
    return np.array([-speed * np.sin(theta), speed * np.cos(theta)])


class _Layer:
    """One layer of a clip: a still seen through a moving similarity transform, and a mask."""

    def __init__(self, still: np.ndarray, index: int, centre, still_point, shift, rotation: float,
                 zoom: float, radius: float, outline, softness: float, extent: float):
        self.index, self.radius, self.outline, self.softness = index, radius, outline, softness
        self.centre, self.shift = np.asarray(centre, float), np.asarray(shift, float)
        self.rotation, self.zoom = float(rotation), float(zoom)
        self.still_point = np.asarray(still_point, float)
        # prefilter only the part of the still this layer can reach (+ a margin for the spline)
        lo = np.floor(self.still_point - extent - 16).astype(int)
        hi = np.ceil(self.still_point + extent + 17).astype(int)
        lo = np.clip(lo, 0, still.shape)
        hi = np.clip(hi, 0, still.shape)
        self.offset = lo.astype(float)
        self.coeffs = ndimage.spline_filter(np.asarray(still[lo[0]:hi[0], lo[1]:hi[1]],
                                                      np.float64), order=SPLINE_ORDER,
                                            mode="mirror")

    def matrix(self, t: int) -> np.ndarray:
        """A_t = ζ^t R(t ρ) (2, 2)."""
        return self.zoom ** t * _rotation(t * self.rotation)

    def local(self, x: np.ndarray, t: int) -> np.ndarray:
        """Layer coordinates y = A_t⁻¹ (x − c_t) of clip points x (n, 2) at frame t."""
        return (x - self.centre - t * self.shift) @ np.linalg.inv(self.matrix(t)).T

    def content(self, y: np.ndarray) -> np.ndarray:
        """The still at s₀ + y, y (n, 2): float64 (n,)."""
        pts = (self.still_point + y - self.offset).T
        return ndimage.map_coordinates(self.coeffs, pts, order=SPLINE_ORDER, prefilter=False,
                                       mode="mirror")

    def alpha(self, y: np.ndarray) -> np.ndarray:
        """Mask α in [0, 1] at layer coordinates y (n, 2) (1 everywhere for the background)."""
        if not np.isfinite(self.radius):
            return np.ones(len(y))
        theta = np.arctan2(y[:, 0], y[:, 1])
        r = self.radius * (1 + sum(a * np.cos(n * theta + phi) for n, a, phi in self.outline))
        return 0.5 * (1 + np.tanh((r - np.hypot(y[:, 0], y[:, 1])) / self.softness))

    def flow(self, x: np.ndarray, t: int) -> np.ndarray:
        """Displacement (n, 2) from frame t to t + 1 of this layer's content at x (n, 2)."""
        y = self.local(x, t)
        return self.centre + (t + 1) * self.shift + y @ self.matrix(t + 1).T - x

    def describe(self) -> dict:
        return {"still": self.index, "centre": tuple(self.centre.tolist()),
                "still_point": tuple(self.still_point.tolist()),
                "shift": tuple(self.shift.tolist()), "rotation": self.rotation,
                "zoom": self.zoom, "radius": float(self.radius)}


def _still_point(rng, still: np.ndarray, extent: float) -> np.ndarray:
    """A point of the still at least `extent` from its border where possible (else its middle)."""
    shape = np.asarray(still.shape[:2], float)
    first, last = np.full(2, extent), shape - 1 - extent
    draw = rng.uniform(first, np.maximum(first, last))
    return np.where(first <= last, draw, (shape - 1) / 2)


def render_layers(layers: list[_Layer], n_frames: int, size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite `layers` (background first) into (frames float32 (T, size, size) in [0, 1],
    flow float32 (T − 1, size, size, 2), owner int8 (T, size, size))."""
    rows, cols = np.mgrid[0:size, 0:size]
    x = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.float64)
    frames = np.empty((n_frames, size * size))
    owner = np.zeros((n_frames, size * size), np.int8)
    flow = np.empty((max(n_frames - 1, 0), size * size, 2))
    for t in range(n_frames):
        frame = np.zeros(size * size)
        for j, layer in enumerate(layers):
            y = layer.local(x, t)
            a = layer.alpha(y)
            frame = (1 - a) * frame + a * layer.content(y)
            owner[t][a > 0.5] = j
        frames[t] = frame
        if t + 1 < n_frames:
            for j, layer in enumerate(layers):
                own = owner[t] == j
                if own.any():
                    flow[t][own] = layer.flow(x[own], t)
    shape = (size, size)
    return (np.clip(frames, 0, 1).reshape(n_frames, *shape).astype(np.float32),
            flow.reshape(-1, *shape, 2).astype(np.float32), owner.reshape(n_frames, *shape))


def sprite_clips(stills: list[np.ndarray], n_clips: int, n_frames: int, size: int,
                 rng: np.random.Generator, *, n_sprites: tuple[int, int] = (2, 5),
                 radius: tuple[float, float] = (0.2, 0.4), max_speed: float = 1.5,
                 background_max_speed: float = 1.5, still_background: float = 0.5,
                 max_rotation_deg: float = 1.0, max_zoom: float = 0.01, softness: float = 1.0,
                 return_truth: bool = False) -> list[np.ndarray] | tuple[list, list[dict]]:
    """Random sprite-world clips: a list of `n_clips` float32 (n_frames, size, size) in [0, 1].

    stills: grayscale float (H, W) images (`csc.video.camera.load_stills`), each at least
    `size` on both sides; the background and each sprite draw their own still (different ones
    where there are enough). Per clip, from `rng` (reproducible):
    - the background pans at a velocity of uniform direction and speed in
      [0, background_max_speed], or is at rest (probability `still_background`);
    - n uniform in `n_sprites` (inclusive) sprites, each of radius R uniform in `radius` × size,
      velocity of uniform direction and speed in [0, max_speed], rotation uniform within
      ±max_rotation_deg °/frame, zoom (1 + max_zoom)^u per frame, u uniform in [−1, 1], its
      centre at mid-clip uniform over the frame; mask edges `softness` pixels wide.
    With `return_truth`, returns (clips, truths): truths[i] has "flow", "owner" and "layers"
    (the module docstring). Raises ValueError naming a bad argument.
    """
    _check_clip_arguments(stills, n_clips, n_frames, size, rng,
                          {"max_speed": max_speed, "background_max_speed": background_max_speed,
                           "max_rotation_deg": max_rotation_deg, "max_zoom": max_zoom})
    lo_n, hi_n = n_sprites
    if not 0 <= lo_n <= hi_n:
        raise ValueError(f"n_sprites must be (min, max) with 0 <= min <= max, got {n_sprites!r}")
    if not 0 < radius[0] <= radius[1]:
        raise ValueError(f"radius must be (min, max) with 0 < min <= max, got {radius!r}")
    if not 0 <= still_background <= 1:
        raise ValueError(f"still_background must be in [0, 1], got {still_background!r}")
    if not softness > 0:
        raise ValueError(f"softness must be > 0, got {softness!r}")
    stills = [np.asarray(s, np.float64) for s in stills]
    log_zoom = np.log1p(max_zoom)
    mid = (n_frames - 1) / 2
    clips, truths = [], []
    for _ in range(n_clips):
        order = rng.permutation(len(stills))
        n = int(rng.integers(lo_n, hi_n + 1))
        v0 = _velocity(rng, background_max_speed)
        if rng.uniform() < still_background:
            v0 = np.zeros(2)
        frame_centre = np.full(2, (size - 1) / 2)
        reach = np.hypot(size, size) / 2 + n_frames * np.hypot(*v0) + 2
        b = order[0]
        layers = [_Layer(stills[b], int(b), frame_centre, _still_point(rng, stills[b], reach),
                         v0, 0.0, 1.0, np.inf, (), softness, reach)]
        for j in range(n):
            s = order[(j + 1) % len(order)]
            R = rng.uniform(*radius) * size
            v = _velocity(rng, max_speed)
            rotation = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg))
            zoom = float(np.exp(rng.uniform(-log_zoom, log_zoom)))
            outline = tuple((k, rng.uniform(0, _MAX_WOBBLE), rng.uniform(0, 2 * np.pi))
                            for k in _HARMONICS)
            centre = rng.uniform(0, size - 1, 2) - mid * v
            # the texture the sprite can show: its outline, scaled over the clip, with a margin
            extent = R * (1 + _MAX_WOBBLE * len(_HARMONICS)) * max(zoom, 1 / zoom) ** n_frames \
                + 3 * softness
            layers.append(_Layer(stills[s], int(s), centre, _still_point(rng, stills[s], extent),
                                 v, rotation, zoom, R, outline, softness, extent))
        frames, flow, owner = render_layers(layers, n_frames, size)
        clips.append(frames)
        truths.append({"flow": flow, "owner": owner,
                       "layers": [layer.describe() for layer in layers]})
    return (clips, truths) if return_truth else clips
