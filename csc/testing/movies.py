"""Synthetic movies for tests and demos, and writers for every video format the reader accepts.

Movies are float32 arrays (T, H, W) with values in [0, 1]. Conventions: arrays are indexed
(row, column), rows pointing down as displayed; angles are in radians, counter-clockwise as
displayed, measured from the +column axis.

- `drifting_grating`: a sinusoidal grating drifting along its normal (optionally Gaussian-windowed).
- `natural_still`, `pink_noise`: still images to move around (scikit-image's bundled photos, or a
  1/f random texture that needs nothing).
- `transformed_movie`: what a camera panning / rotating / zooming over a still sees (the
  renderer of `csc.video.camera`, re-exported here).
- `demo_movies`: a few named movies of the above.
- `write_video`, `write_frame_folder`: save a movie as a video file or a folder of numbered images.

Only NumPy and SciPy are imported at module load; scikit-image (`natural_still`), imageio and
PyAV (the writers) are imported when used.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from csc.stimuli import drifting_grating, pink_noise
from csc.video.camera import resize_still, transformed_movie
from csc.video.reader import to_gray

__all__ = ["VIDEO_CODECS", "demo_movies", "drifting_grating", "natural_still", "pink_noise",
           "transformed_movie", "write_frame_folder", "write_video"]

# Encoder per video extension; all read back with `iio.imiter(path, plugin="pyav")`.
# GIF is written by Pillow instead (lossless for gray frames, 256 colours for RGB).
VIDEO_CODECS = {
    ".mp4": "libx264",
    ".mov": "libx264",
    ".mkv": "libx264",
    ".avi": "mpeg4",
    ".mpg": "mpeg2video",
    ".mpeg": "mpeg2video",
    ".webm": "libvpx-vp9",
}


def natural_still(name: str | np.ndarray = "camera", size: int | None = None) -> np.ndarray:
    """A grayscale still, float32 (H, W) in [0, 1].

    `name` is one of scikit-image's bundled images (a function of `skimage.data`: "camera",
    "astronaut", "coffee", "chelsea", "rocket", "grass", "gravel", "brick", "moon", ...) or an
    image array (H, W[, 3 or 4], uint8 / uint16 / float in [0, 1]). Colour becomes BT.601 luma.
    With `size`, the image is low-pass filtered and resampled so that its shorter side is `size`
    (`csc.video.camera.resize_still`).
    Raises ImportError when a name is given and scikit-image is not installed.
    """
    if isinstance(name, str):
        try:
            import skimage.data
        except ImportError as err:
            raise ImportError(f"natural_still({name!r}) needs scikit-image's sample images: "
                              "pip install scikit-image (or pass an image array)") from err
        loader = getattr(skimage.data, name, None)
        if not callable(loader):
            raise ValueError(f"skimage.data has no image {name!r}")
        name = loader()
    image = to_gray(name)
    if size is not None:
        image = resize_still(image, size)
    return image.astype(np.float32)


def demo_movies(n_frames: int, size: int, rng: np.random.Generator,
                image: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Named demo movies, each float32 (n_frames, size, size) in [0, 1].

    "grating": a drifting grating (random direction, wavelength size / 4, 1 px/frame);
    "pan": `image` translating 1 px/frame in a random direction; "zoom": zooming in 2 %/frame;
    "rotate": turning 2°/frame. `image` defaults to a `pink_noise` texture of 4 × size pixels
    (pass e.g. `natural_still("astronaut")` for a photograph).
    """
    if image is None:
        image = pink_noise((4 * size, 4 * size), rng)
    angle = rng.uniform(0, 2 * np.pi)
    return {
        "grating": drifting_grating(n_frames, size, wavelength=size / 4, orientation=angle),
        "pan": transformed_movie(image, n_frames, size, shift=(-np.sin(angle), np.cos(angle))),
        "zoom": transformed_movie(image, n_frames, size, zoom=1.02),
        "rotate": transformed_movie(image, n_frames, size, rotation=np.deg2rad(2.0)),
    }


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (values outside are clipped) -> uint8."""
    return np.round(np.clip(frames, 0, 1) * 255).astype(np.uint8)


def _check_encoder(codec: str, height: int, width: int, fps: float, pixel_format: str) -> None:
    """Open the encoder once, so that a size / frame rate it refuses raises a clear ValueError
    before any file is written (e.g. MPEG-1/2 store only standard rates such as 24, 25, 30)."""
    import av

    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pixel_format
    ctx.framerate = Fraction.from_float(fps).limit_denominator(65535)  # as imageio does
    ctx.time_base = 1 / ctx.framerate
    try:
        ctx.open()
    except av.FFmpegError as err:
        raise ValueError(f"codec {codec} cannot encode {width}x{height} {pixel_format} frames at "
                         f"{fps} fps: {err}") from None


def write_video(path: str | Path, frames: np.ndarray, fps: float = 25, *,
                codec: str | None = None) -> Path:
    """Write a movie (T, H, W) gray or (T, H, W, 3) RGB, float in [0, 1], to a video file.

    The extension picks the format: .mp4 .mov .mkv (H.264), .avi (MPEG-4 part 2), .mpg .mpeg
    (MPEG-2), .webm (VP9) through imageio + PyAV, or .gif through Pillow; `codec` overrides the
    encoder of a PyAV format. H.264 uses yuv420p, which needs even H and W: odd sizes are
    encoded as yuv444p instead (fewer players handle it). MPEG-2 accepts only standard frame
    rates (24, 25, 30, 50, 60, their /1.001 versions, some fractions of them); others raise
    ValueError. GIF stores delays in 1/100 s and Pillow merges identical consecutive frames
    (a static movie reads back as one frame). Returns the path.
    """
    import imageio.v3 as iio

    path = Path(path)
    ext = path.suffix.lower()
    pixels = _to_uint8(frames)
    if pixels.ndim != 3 and not (pixels.ndim == 4 and pixels.shape[3] == 3):
        raise ValueError(f"frames must be (T, H, W) or (T, H, W, 3), got shape {pixels.shape}")
    if ext == ".gif":
        iio.imwrite(path, pixels, plugin="pillow", is_batch=True, duration=1000 / fps, loop=0)
        return path
    if codec is None and ext not in VIDEO_CODECS:
        raise ValueError(f"unknown video extension {ext!r}: "
                         f"use .gif or one of {', '.join(VIDEO_CODECS)}")
    codec = codec or VIDEO_CODECS[ext]
    height, width = pixels.shape[1:3]
    even = height % 2 == 0 and width % 2 == 0
    pixel_format = "yuv444p" if codec in ("libx264", "h264") and not even else "yuv420p"
    _check_encoder(codec, height, width, fps, pixel_format)
    iio.imwrite(path, pixels, plugin="pyav", codec=codec, fps=fps, out_pixel_format=pixel_format,
                in_pixel_format="gray" if pixels.ndim == 3 else "rgb24")
    return path


def write_frame_folder(folder: str | Path, frames: np.ndarray, ext: str = ".png") -> Path:
    """Write a movie (T, H, W[, 3]) float in [0, 1] as 8-bit images folder/frame_00000{ext}, ...

    `ext` is any image format Pillow writes (.png and .tif lossless, .jpg at quality 95).
    Creates the folder if needed; returns it.
    """
    import imageio.v3 as iio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if ext.lower() in (".jpg", ".jpeg") else {}
    for t, frame in enumerate(_to_uint8(frames)):
        iio.imwrite(folder / f"frame_{t:05d}{ext}", frame, plugin="pillow", **options)
    return folder
