"""Stimuli that move in known ways: drifting gratings and 1/f noise textures (the tuning
curves of `csc.analysis.motion_tuning` are measured with them; `csc.testing.movies` makes test
and demo movies of them)."""
from __future__ import annotations

import numpy as np


def centered_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) float64 (size, size): column and upward-row coordinates relative to the centre."""
    c = np.arange(size) - (size - 1) / 2
    return c[None, :], -c[:, None]


def drifting_grating(n_frames: int, size: int, *, wavelength: float = 8.0, orientation: float = 0.0,
                     speed: float = 1.0, contrast: float = 0.5,
                     envelope: float | None = None) -> np.ndarray:
    """A sinusoidal grating drifting along its normal: float32 (n_frames, size, size) in [0, 1].

    Frame t is 0.5 + 0.5 * contrast * cos(2π (u - speed * t) / wavelength) * g, where u is the
    position along the unit normal at angle `orientation` (so the stripes move `speed` pixels per
    frame in that direction) and g is a Gaussian window exp(-r² / 2 envelope²) centred in the
    frame (g = 1 when `envelope` is None). `contrast` (Michelson, 0..1) keeps values in [0, 1].
    """
    if not 0 <= contrast <= 1:
        raise ValueError(f"contrast must be in [0, 1], got {contrast}")
    x, y = centered_grid(size)
    u = x * np.cos(orientation) + y * np.sin(orientation)
    window = 1.0 if envelope is None else np.exp(-(x**2 + y**2) / (2 * envelope**2))
    t = np.arange(n_frames)[:, None, None]
    frames = 0.5 + 0.5 * contrast * np.cos(2 * np.pi * (u - speed * t) / wavelength) * window
    return frames.astype(np.float32)


def pink_noise(shape: tuple[int, int], rng: np.random.Generator,
               exponent: float = 1.0) -> np.ndarray:
    """A random texture with a 1/f^exponent amplitude spectrum (like natural images).

    Returns float32 `shape` in [0, 1]: mean 0.5, standard deviation 0.15 before clipping; it
    tiles seamlessly (periodic).
    """
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = np.inf  # no DC
    spectrum = f**-exponent * np.exp(2j * np.pi * rng.random(f.shape))
    image = np.fft.irfft2(spectrum, s=shape)
    return np.clip(0.5 + 0.15 * image / image.std(), 0, 1).astype(np.float32)
