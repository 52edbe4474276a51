"""A synthetic camera: natural still photographs panned, rotated and zoomed into short clips.

What it is for
--------------
The bundled natural clips barely move, and a complex-valued sparse code learns its phase
(motion) structure only from clips in which things move. This module supplies that motion:
each clip is a size×size window onto a still photograph moving at a constant sub-pixel rate,
rendered as a float32 (T, H, W) array in [0, 1] -- the same layout as the clips of real video
in the training's clip cache (`csc.video.sampling.ClipCache.clips`), so both can be held side
by side. Synthetic clips are meant to be used *alongside* real clips, never alone (the training
enforces that): a rigid motion of a still has no occlusion, no independent movers, no lighting
changes and no sensor noise, and a model trained on it alone would learn only those motions.

- `load_stills`: every .png/.jpg/.jpeg/.tif/.tiff of a folder as float32 (H, W) grayscale.
- `camera_clips`: random clips (and, on request, the motion of each).
- `transformed_movie`: the renderer: a crop of one still under one given constant motion.
- `resize_still`: anti-aliased resampling of a still to a given shorter side.

Conventions (as in `csc.testing.movies`): arrays are indexed (row, column), rows pointing down
as displayed; angles are in radians, counter-clockwise as displayed, from the +column axis.

Motion distribution (`camera_clips`)
------------------------------------
For each clip, independently and reproducibly from the given `np.random.Generator`:

- the still: uniform over `stills`;
- the translation: direction θ uniform in [0, 2π), speed v uniform in [0, max_speed] pixels per
  frame; the content moves by shift = (-v sin θ, v cos θ) (rows, cols) per frame, i.e. frame t
  (p) = frame 0 (p - t shift) for a pure pan (the camera itself moves the opposite way);
- the rotation rate: uniform in [-max_rotation_deg, +max_rotation_deg] degrees per frame
  (returned in radians per frame), about the crop centre;
- the zoom: a factor exp(u) per frame with u uniform in [-log(1 + max_zoom), +log(1 + max_zoom)]
  (> 1 zooms in), about the crop centre;
- the crop centre: uniform over the positions for which every pixel of every frame, under that
  motion, samples inside the still. When no such position exists (a still barely larger than
  the crop, a long fast clip) the centre is the middle of the feasible range along that axis and
  the frames reach beyond the still's border, which is filled by reflection (see below).

Rendering and its known artefacts
---------------------------------
Frames are resampled from the still by `scipy.ndimage.affine_transform` with a cubic spline
(order 3): natural stills are smooth, and a cubic spline loses far less contrast at half-pixel
positions than linear interpolation does. Linear interpolation blurs a frame by an amount that
depends on its sub-pixel offset, so a steady pan would show a periodic change of sharpness --
a temporal flicker the model would learn as if it were structure. The cubic spline reduces but
does not remove this: frequencies near the Nyquist limit are still attenuated (and slightly
phase-shifted) at sub-pixel offsets, more at half a pixel than at whole ones. Beyond the still's
border pixels are mirrored (mode "reflect"), which creates a visible seam and motion that
reverses across it; the choice of centre avoids this whenever the still is large enough. Values
are clipped to [0, 1] (a cubic spline overshoots slightly at sharp edges). Only the part of the
still that a clip needs, plus a margin that keeps the spline's global prefilter exact to about
1e-9, is resampled, so large photographs cost no more than small ones.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from csc.video.reader import IMAGE_EXTENSIONS, VideoError, _reason, frame_files, to_gray

SPLINE_ORDER = 3  # the interpolation `camera_clips` renders with
_PREFILTER_MARGIN = 16  # pixels of still kept around a clip's footprint: 0.268**16 ~ 1e-9


# ----------------------------------------------------------------------------- stills
def resize_still(image: np.ndarray, side: int) -> np.ndarray:
    """Resample a float (H, W) image so that its shorter side is `side`: float32, in [0, 1].

    Shrinking first low-passes with a Gaussian of sigma (1 / scale - 1) / 2 pixels (anti-aliasing);
    the resampling is linear (`scipy.ndimage.zoom`, order 1). Enlarging only interpolates.
    """
    scale = side / min(image.shape)
    if scale < 1:  # anti-alias before shrinking
        image = ndimage.gaussian_filter(image, sigma=(1 / scale - 1) / 2)
    return np.clip(ndimage.zoom(image, scale, order=1), 0, 1).astype(np.float32, copy=False)


def load_stills(folder: str | Path, max_side: int | None = None) -> list[np.ndarray]:
    """Every still image directly inside `folder`, as float32 (H, W) grayscale in [0, 1].

    Reads the .png/.jpg/.jpeg/.tif/.tiff files (extension case-insensitive, hidden files
    ignored) in natural name order ("img2" before "img10") with imageio.v3, converted by
    `csc.video.reader.to_gray` (colour -> BT.601 luma, alpha dropped). With `max_side`, a still
    whose shorter side exceeds it is anti-aliased and shrunk (`resize_still`) so that its shorter
    side is `max_side`; smaller stills are kept as they are.
    Raises VideoError (one line naming the folder or file) for a missing folder, a folder with
    no such image, or an image that cannot be read or converted; ValueError for a bad max_side.
    """
    if max_side is not None and (int(max_side) != max_side or max_side < 1):
        raise ValueError(f"max_side must be a positive integer or None, got {max_side!r}")
    import imageio.v3 as iio

    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(f"no such folder: {folder}" if not folder.exists()
                         else f"not a folder: {folder}")
    files = frame_files(folder)
    if not files:
        raise VideoError(f"no still images in {folder} (looked for {'/'.join(IMAGE_EXTENSIONS)})")
    stills = []
    for f in files:
        try:
            pixels = iio.imread(f)
        except Exception as exc:  # noqa: BLE001 -- any decoder error becomes one line
            raise VideoError(f"cannot read still {f}: {_reason(exc)}") from None
        try:
            image = to_gray(pixels)
        except ValueError as err:
            raise VideoError(f"cannot use still {f}: {err}") from None
        if max_side is not None and min(image.shape) > max_side:
            image = resize_still(image, int(max_side))
        stills.append(image)
    return stills


# ----------------------------------------------------------------------------- rendering
def _inverse_map(t: int, rotation: float, zoom: float) -> np.ndarray:
    """(2, 2) matrix taking frame-t offsets from the crop middle to still offsets from the centre:
    (zoom^t R(t rotation))^-1, where R rotates (row, col) counter-clockwise on screen."""
    c, s = np.cos(rotation * t), np.sin(rotation * t)
    return np.array([[c, s], [-s, c]]) / zoom**t


def transformed_movie(image: np.ndarray, n_frames: int, size: int, *,
                      shift: tuple[float, float] = (0.0, 0.0), rotation: float = 0.0,
                      zoom: float = 1.0, center: tuple[float, float] | None = None,
                      order: int = 1) -> np.ndarray:
    """A size×size crop of a still under a constant motion: float32 (n_frames, size, size).

    `image` is (H, W) or (H, W, 3) in [0, 1] (or uint8/uint16), converted with `to_gray`.

    Frame t shows the image rotated by t * rotation (radians per frame, counter-clockwise as
    displayed) and magnified by zoom ** t (zoom > 1 zooms in), both about `center` (row, col),
    then translated by t * shift (rows, cols) pixels: frame t (p) = frame 0 (p - t * shift) for a
    pure translation. Frame 0 is the crop itself; by default the crop is centred in the image and
    pixel-aligned: frame 0 is exactly image[r0:r0 + size, c0:c0 + size] with r0 = (H - size) // 2
    and c0 = (W - size) // 2 (a `center` is pixel-aligned when center - (size - 1) / 2 is
    integral). Pixels come from `scipy.ndimage.affine_transform` (spline `order` 1 or 3, mode
    "reflect" beyond the borders) and are clipped to [0, 1].
    """
    image = to_gray(image)
    if center is None:
        center = tuple((n - size) // 2 + (size - 1) / 2 for n in image.shape)
    center, shift = np.asarray(center, float), np.asarray(shift, float)
    middle = np.full(2, (size - 1) / 2)
    frames = np.empty((n_frames, size, size), np.float32)
    for t in range(n_frames):
        # output p <- input center + S^-1 R^-1 (p - middle - t shift)
        matrix = _inverse_map(t, rotation, zoom)
        offset = center - matrix @ (middle + t * shift)
        ndimage.affine_transform(image, matrix, offset, output=frames[t], order=order,
                                 mode="reflect")
    return np.clip(frames, 0, 1, out=frames)


def footprint(n_frames: int, size: int, shift: tuple[float, float], rotation: float,
              zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Where a clip samples its still, relative to the crop centre: (lo, hi), float64 (2,).

    Every pixel of every frame of `transformed_movie(..., shift, rotation, zoom, center=c)`
    samples the still at a (row, col) position within [c + lo, c + hi] (the extremes are
    reached at the frames' corners, the sampled region being an affine image of the square).
    """
    half = (size - 1) / 2
    corners = np.array([[-half, -half], [-half, half], [half, -half], [half, half]])
    points = np.concatenate([
        (corners - t * np.asarray(shift, float)) @ _inverse_map(t, rotation, zoom).T
        for t in range(n_frames)
    ])
    return points.min(axis=0), points.max(axis=0)


# ----------------------------------------------------------------------------- random clips
def _check_clip_arguments(stills, n_clips, n_frames, size, rng, limits) -> None:
    for name, value, least in (("n_clips", n_clips, 1), ("n_frames", n_frames, 1),
                               ("size", size, 2)):
        if isinstance(value, bool) or int(value) != value or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    for name, value in limits.items():
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if len(stills) == 0:
        raise ValueError("stills is empty: give at least one image")
    for i, still in enumerate(stills):
        shape = np.shape(still)
        if len(shape) not in (2, 3) or shape[0] < size or shape[1] < size:
            raise ValueError(f"stills[{i}] has shape {shape}: each still must be at least "
                             f"size={size} pixels on both sides")


def camera_clips(stills: list[np.ndarray], n_clips: int, n_frames: int, size: int,
                 rng: np.random.Generator, *, max_speed: float = 1.5,
                 max_rotation_deg: float = 1.0, max_zoom: float = 0.01,
                 return_motion: bool = False
                 ) -> list[np.ndarray] | tuple[list[np.ndarray], list[dict]]:
    """Random synthetic-camera clips: a list of `n_clips` float32 (n_frames, size, size) in [0, 1].

    `stills`: images (H, W) float in [0, 1] (as `load_stills` returns; anything `to_gray`
    accepts), each at least `size` on both sides. Each clip draws a still, a constant motion and
    a crop centre as the module docstring describes (speed in [0, max_speed] px/frame in a
    uniform direction, rotation within ±max_rotation_deg °/frame, zoom within
    (1 + max_zoom)^±1 per frame) and is rendered by `transformed_movie` with a cubic spline.
    The same generator state gives the same clips.

    With `return_motion`, returns (clips, motions): motions[i] is a dict of clip i's
    parameters, which `transformed_movie(stills[m["still"]], n_frames, size, shift=m["shift"],
    rotation=m["rotation"], zoom=m["zoom"], center=m["centre"], order=3)` renders again:
    "still" (int, index into `stills`), "centre" ((row, col) float pixels in that still),
    "shift" ((rows, cols) float pixels per frame), "rotation" (float, radians per frame,
    counter-clockwise as displayed), "zoom" (float factor per frame).
    Raises ValueError naming the argument for bad sizes/limits, empty stills or a still
    smaller than `size`; TypeError when rng is not a numpy Generator.
    """
    _check_clip_arguments(stills, n_clips, n_frames, size, rng,
                          {"max_speed": max_speed, "max_rotation_deg": max_rotation_deg,
                           "max_zoom": max_zoom})
    log_zoom = np.log1p(max_zoom)
    clips, motions = [], []
    for _ in range(n_clips):
        index = int(rng.integers(len(stills)))
        still = stills[index]
        direction = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(0, max_speed)
        shift = (-speed * np.sin(direction), speed * np.cos(direction))
        rotation = float(np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg)))
        zoom = float(np.exp(rng.uniform(-log_zoom, log_zoom)))
        lo, hi = footprint(n_frames, size, shift, rotation, zoom)
        extent = np.asarray(np.shape(still)[:2], float)
        first, last = -lo, extent - 1 - hi  # centres that keep every sample inside the still
        draw = rng.uniform(first, np.maximum(first, last))  # always draw: a stable stream
        centre = np.where(first <= last, draw, (first + last) / 2)
        # render from the part of the still this clip needs (the spline prefilter is global,
        # the margin makes the cut invisible); a fallback clip may need all of it
        start = np.clip(np.floor(centre + lo) - _PREFILTER_MARGIN, 0, extent).astype(int)
        stop = np.clip(np.ceil(centre + hi) + _PREFILTER_MARGIN + 1, 0, extent).astype(int)
        region = np.asarray(still)[start[0]:stop[0], start[1]:stop[1]]
        clips.append(transformed_movie(region, n_frames, size, shift=shift, rotation=rotation,
                                       zoom=zoom, center=tuple(centre - start),
                                       order=SPLINE_ORDER))
        motions.append({"still": index, "centre": (float(centre[0]), float(centre[1])),
                        "shift": (float(shift[0]), float(shift[1])), "rotation": rotation,
                        "zoom": zoom})
    return (clips, motions) if return_motion else clips
