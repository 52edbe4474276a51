"""Synthetic camera (csc.video.camera): rendering against independent references, the motion
distribution, still loading and argument checks."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, zoom

from csc.testing.movies import pink_noise
from csc.video.camera import (
    SPLINE_ORDER,
    camera_clips,
    footprint,
    load_stills,
    resize_still,
    transformed_movie,
)
from csc.video.reader import VideoError, to_gray


def smooth_texture(seed: int, size: int = 128, sigma: float = 2.0) -> np.ndarray:
    """Periodic Gaussian-filtered noise, float32 (size, size), mean 0.5, in [0, 1]."""
    x = gaussian_filter(np.random.default_rng(seed).standard_normal((size, size)), sigma,
                        mode="wrap")
    return np.clip(0.5 + 0.15 * x / x.std(), 0, 1).astype(np.float32)


def fourier_shift(image: np.ndarray, shift) -> np.ndarray:
    """The periodic image translated by `shift` (rows, cols): out(p) = image(p - shift)."""
    fy = np.fft.fftfreq(image.shape[0])[:, None]
    fx = np.fft.fftfreq(image.shape[1])[None, :]
    ramp = np.exp(-2j * np.pi * (fy * shift[0] + fx * shift[1]))
    return np.fft.ifft2(np.fft.fft2(image) * ramp).real


def measured_shift(a: np.ndarray, b: np.ndarray, reach: int = 3) -> np.ndarray:
    """Translation d (rows, cols) with b(p) ≈ a(p - d), to a fraction of a pixel.

    Normalised cross-correlation of b's interior against a at integer offsets within ±reach,
    then a 2-D quadratic fit to log NCC on the 3×3 neighbourhood of the best offset (a Gaussian
    peak; the cross term matters for diagonal motion).
    """
    n, m = a.shape[0], reach
    tpl = b[m:n - m, m:n - m] - b[m:n - m, m:n - m].mean()
    ncc = np.empty((2 * m + 1, 2 * m + 1))
    for i in range(-m, m + 1):
        for j in range(-m, m + 1):
            w = a[m - i:n - m - i, m - j:n - m - j]
            w = w - w.mean()
            ncc[i + m, j + m] = (w * tpl).sum() / np.sqrt((w * w).sum() * (tpl * tpl).sum())
    k = np.clip(np.unravel_index(np.argmax(ncc), ncc.shape), 1, 2 * m - 1)
    y, x = (g.ravel() for g in np.mgrid[-1:2, -1:2])
    z = np.log(ncc[k[0] - 1:k[0] + 2, k[1] - 1:k[1] + 2]).ravel()
    c = np.linalg.lstsq(np.stack([np.ones(9), y, x, y * y, x * y, x * x], 1), z, rcond=None)[0]
    hessian = np.array([[2 * c[3], c[4]], [c[4], 2 * c[5]]])
    return k - m + np.linalg.solve(hessian, -c[1:3])


def render(still, n_frames, size, motion):
    """A clip rendered again from its returned motion, from the whole still, by a cubic spline
    (the documented renderer of `camera_clips`)."""
    return transformed_movie(still, n_frames, size, shift=motion["shift"],
                             rotation=motion["rotation"], zoom=motion["zoom"],
                             center=motion["centre"], order=3)


# ----------------------------------------------------------------------------- rendering
def test_integer_pan_of_a_periodic_texture_is_a_roll():
    texture = pink_noise((64, 64), np.random.default_rng(0))
    shift = (2, -1)
    movie = transformed_movie(texture, 4, 32, shift=shift, order=SPLINE_ORDER)
    assert movie.shape == (4, 32, 32) and movie.dtype == np.float32
    np.testing.assert_allclose(movie[0], texture[16:48, 16:48], atol=1e-5)
    for t in range(1, 4):  # interior: rows/cols the roll does not wrap
        rolled = np.roll(movie[0], (t * shift[0], t * shift[1]), axis=(0, 1))
        np.testing.assert_allclose(movie[t][2 * t:, :32 - t], rolled[2 * t:, :32 - t], atol=1e-5)


@pytest.mark.parametrize("shift", [(0.5, 0.0), (0.3, -0.7), (-0.25, 0.5)])
def test_subpixel_pan_follows_the_fourier_shift_theorem(shift):
    # Measured (seed 0): on a 1/f texture, which has power up to the Nyquist limit, the cubic
    # spline misses the ideal shift by an rms of 0.12-0.15 of the texture's std (the highest
    # frequencies are attenuated); linear interpolation by about twice that; on a 1/f² texture
    # (natural-image-like smoothness) the cubic spline error is ~0.01 of the std.
    rng = np.random.default_rng(0)
    for exponent, rms_limit in ((1.0, 0.2), (2.0, 0.02)):
        texture = pink_noise((64, 64), rng, exponent=exponent).astype(np.float64)
        truth = np.clip(fourier_shift(texture, shift)[16:48, 16:48], 0, 1)[4:-4, 4:-4]
        errors = {}
        for order in (1, 3):
            frame = transformed_movie(texture, 2, 32, shift=shift, order=order)[1]
            errors[order] = np.sqrt(np.mean((frame[4:-4, 4:-4] - truth) ** 2)) / texture.std()
        assert errors[3] < rms_limit
        assert errors[1] > 1.5 * errors[3]  # why the camera renders with a cubic spline


def test_clips_are_the_returned_motion_rendered_from_the_whole_still():
    # clips are rendered from a cut-out of the still; the cut must not show
    stills = [smooth_texture(1, 96), pink_noise((70, 130), np.random.default_rng(2)),
              pink_noise((20, 20), np.random.default_rng(3))]  # last: barely larger than size
    clips, motions = camera_clips(stills, 12, 5, 16, np.random.default_rng(4), max_speed=2.0,
                                  max_rotation_deg=3.0, max_zoom=0.03, return_motion=True)
    for clip, motion in zip(clips, motions):
        assert clip.shape == (5, 16, 16) and clip.dtype == np.float32
        assert clip.min() >= 0 and clip.max() <= 1
        np.testing.assert_allclose(clip, render(stills[motion["still"]], 5, 16, motion),
                                   atol=1e-5)
    assert {m["still"] for m in motions} == {0, 1, 2}


def test_frames_move_by_the_returned_shift():
    still = smooth_texture(5)
    clips, motions = camera_clips([still], 8, 4, 32, np.random.default_rng(6),
                                  max_rotation_deg=0, max_zoom=0, return_motion=True)
    for clip, motion in zip(clips, motions):
        assert motion["rotation"] == 0 and motion["zoom"] == 1
        for t in range(3):  # measured error <= 0.03 px
            np.testing.assert_allclose(measured_shift(clip[t], clip[t + 1]), motion["shift"],
                                       atol=0.1)


def test_no_motion_gives_a_still_clip():
    clips = camera_clips([smooth_texture(7, 64)], 5, 4, 16, np.random.default_rng(8),
                         max_speed=0, max_rotation_deg=0, max_zoom=0)
    for clip in clips:
        np.testing.assert_array_equal(clip, np.broadcast_to(clip[0], clip.shape))
        assert clip[0].std() > 0.05


# ----------------------------------------------------------------------------- distribution
def test_motion_distribution_and_crop_placement():
    still = smooth_texture(9, 64)
    max_speed, max_rot, max_zoom = 1.5, 2.0, 0.05
    clips, motions = camera_clips([still], 200, 3, 8, np.random.default_rng(10),
                                  max_speed=max_speed, max_rotation_deg=max_rot,
                                  max_zoom=max_zoom, return_motion=True)
    shifts = np.array([m["shift"] for m in motions])
    speed = np.hypot(*shifts.T)
    direction = np.arctan2(-shifts[:, 0], shifts[:, 1]) % (2 * np.pi)  # rows point down
    counts = np.bincount((direction // (np.pi / 4)).astype(int), minlength=8)
    assert counts.min() >= 10  # every octant hit (25 expected each)
    assert speed.max() <= max_speed and speed.max() > 0.9 * max_speed and speed.min() < 0.1
    rotation = np.array([m["rotation"] for m in motions])
    assert np.abs(rotation).max() <= np.deg2rad(max_rot) and rotation.min() < 0 < rotation.max()
    zoom = np.log([m["zoom"] for m in motions])
    assert np.abs(zoom).max() <= np.log1p(max_zoom) + 1e-12 and zoom.min() < 0 < zoom.max()
    centres = np.array([m["centre"] for m in motions])
    assert centres.std(axis=0).min() > 10  # spread over the still
    for m in motions:  # every sample of every frame inside the still: no reflected border
        lo, hi = footprint(3, 8, m["shift"], m["rotation"], m["zoom"])
        assert (np.asarray(m["centre"]) + lo >= -1e-9).all()
        assert (np.asarray(m["centre"]) + hi <= 63 + 1e-9).all()


def test_same_seed_same_clips_other_seed_other_clips():
    stills = [smooth_texture(11, 48), smooth_texture(12, 40)]
    a = camera_clips(stills, 4, 3, 12, np.random.default_rng(13))
    b = camera_clips(stills, 4, 3, 12, np.random.default_rng(13))
    c = camera_clips(stills, 4, 3, 12, np.random.default_rng(14))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, z) for x, z in zip(a, c))


def test_too_small_still_falls_back_to_the_middle():
    still = smooth_texture(15, 16)
    clips, motions = camera_clips([still], 3, 6, 16, np.random.default_rng(16), max_zoom=0,
                                  return_motion=True)
    for clip, m in zip(clips, motions):
        assert clip.shape == (6, 16, 16) and np.isfinite(clip).all()
        lo, hi = footprint(6, 16, m["shift"], m["rotation"], m["zoom"])
        np.testing.assert_allclose(np.asarray(m["centre"]), (15 - lo - hi) / 2)


# ----------------------------------------------------------------------------- stills
def test_load_stills_reads_images_in_order(tmp_path):
    rng = np.random.default_rng(17)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    rgb = rng.integers(0, 256, (24, 18, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "b10.png", gray)
    iio.imwrite(tmp_path / "b2.PNG", rgb)
    iio.imwrite(tmp_path / ".hidden.png", gray)
    (tmp_path / "notes.txt").write_text("not an image")
    stills = load_stills(tmp_path)
    assert len(stills) == 2 and all(s.dtype == np.float32 for s in stills)
    np.testing.assert_allclose(stills[0], to_gray(rgb), atol=1e-6)  # b2 before b10
    np.testing.assert_allclose(stills[1], gray / 255, atol=1e-6)


def test_load_stills_max_side_shrinks_with_antialiasing(tmp_path):
    image = np.zeros((40, 60), np.uint8)
    image[:, ::2] = 255  # finest stripes: shrinking them aliases
    iio.imwrite(tmp_path / "stripes.png", image)
    iio.imwrite(tmp_path / "small.png", image[:10, :12])
    small, big = load_stills(tmp_path, max_side=20)  # natural name order
    assert big.shape == (20, 30) and small.shape == (10, 12)
    np.testing.assert_allclose(big, resize_still(image / 255, 20), atol=1e-6)
    aliased = zoom(image / 255, 0.5, order=1)  # no low-pass: measured std 0.22 vs 0.13
    assert big[4:-4, 4:-4].std() < 0.6 * aliased[4:-4, 4:-4].std()
    assert abs(big.mean() - 0.5) < 0.05
    with pytest.raises(ValueError, match="max_side"):
        load_stills(tmp_path, max_side=0)


def test_load_stills_errors(tmp_path):
    with pytest.raises(VideoError, match="no such folder.*nowhere"):
        load_stills(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(VideoError, match="no still images in .*empty"):
        load_stills(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    iio.imwrite(bad / "a.png", np.zeros((8, 8), np.uint8))
    (bad / "x.png").write_bytes(b"\x00garbage, not a PNG" * 10)
    with pytest.raises(VideoError, match=r"cannot read still .*x\.png") as err:
        load_stills(bad)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("change, message", [
    ({"n_clips": 0}, "n_clips"), ({"n_frames": 0}, "n_frames"), ({"size": 1}, "size"),
    ({"n_frames": 2.5}, "n_frames"), ({"max_speed": -1}, "max_speed"),
    ({"max_rotation_deg": np.nan}, "max_rotation_deg"), ({"max_zoom": -0.1}, "max_zoom"),
    ({"stills": []}, "stills is empty"), ({"size": 17}, r"stills\[0\] has shape \(16, 40\)"),
    ({"stills": [np.zeros(20)]}, r"stills\[0\] has shape \(20,\)"),
])
def test_bad_arguments(change, message):
    args = {"stills": [np.zeros((16, 40), np.float32)], "n_clips": 2, "n_frames": 3, "size": 8,
            "rng": np.random.default_rng(0)}
    args.update(change)
    with pytest.raises(ValueError, match=message):
        camera_clips(**args)
    with pytest.raises(TypeError, match="rng"):
        camera_clips(args["stills"], 1, 1, 2, 0)
