"""Synthetic movies: grating drift, camera motions, stills, and the video / frame-folder writers."""
from __future__ import annotations

import sys

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from csc.testing.movies import (
    VIDEO_CODECS,
    demo_movies,
    drifting_grating,
    natural_still,
    pink_noise,
    transformed_movie,
    write_frame_folder,
    write_video,
)


@pytest.fixture
def texture(rng):
    return pink_noise((96, 96), rng)


# ----------------------------------------------------------------------------- grating
def test_grating_shape_and_range():
    movie = drifting_grating(5, 24, contrast=0.5)
    assert movie.shape == (5, 24, 24) and movie.dtype == np.float32
    assert movie.min() >= 0.25 - 1e-6 and movie.max() <= 0.75 + 1e-6
    with pytest.raises(ValueError, match="contrast"):
        drifting_grating(2, 8, contrast=1.5)


def test_grating_direction_convention():
    # orientation 0 moves right, pi/2 moves up (as displayed): a whole-pixel roll per frame
    right = drifting_grating(3, 32, wavelength=8, orientation=0.0, speed=1.0)
    up = drifting_grating(3, 32, wavelength=8, orientation=np.pi / 2, speed=1.0)
    np.testing.assert_allclose(right[1], np.roll(right[0], 1, axis=1), atol=1e-6)
    np.testing.assert_allclose(up[2], np.roll(up[0], -2, axis=0), atol=1e-6)


@pytest.mark.parametrize("orientation", [0.0, 0.7, 2.3])
@pytest.mark.parametrize("speed", [1.0, 0.6])
def test_grating_phase_advances_at_speed(orientation, speed):
    size, wavelength = 64, 8.0
    movie = drifting_grating(4, size, wavelength=wavelength, orientation=orientation, speed=speed)
    c = np.arange(size) - (size - 1) / 2
    x, y = c[None, :], -c[:, None]  # y points up
    k = 2 * np.pi / wavelength
    u = x * np.cos(orientation) + y * np.sin(orientation)
    gabor = np.exp(-(x**2 + y**2) / (2 * 8.0**2) - 1j * k * u)  # leaks nothing from exp(+iku)
    z = np.einsum("thw,hw->t", movie - 0.5, gabor)
    step = np.angle(z[1:] / z[:-1])  # phase change per frame: -k * speed
    np.testing.assert_allclose(np.angle(np.exp(1j * (step + k * speed))), 0, atol=1e-4)


def test_grating_envelope():
    movie = drifting_grating(1, 41, wavelength=6, envelope=4.0, contrast=1.0)[0]
    assert abs(movie[0, 0] - 0.5) < 1e-6 and np.ptp(movie[15:26, 15:26]) > 0.8


# ----------------------------------------------------------------------------- camera motions
def test_frame0_is_the_crop_and_translation_is_exact(texture):
    movie = transformed_movie(texture, 5, 32, shift=(2, -1))
    assert movie.shape == (5, 32, 32) and movie.dtype == np.float32
    for t in range(5):  # centred crop starts at (96 - 32) // 2 = 32; content moves by t * shift
        np.testing.assert_allclose(movie[t], texture[32 - 2 * t:64 - 2 * t, 32 + t:64 + t],
                                   atol=1e-6)


@pytest.mark.parametrize("order", [1, 3])
def test_rotation_returns_after_a_full_turn(texture, order):
    movie = transformed_movie(texture, 7, 32, rotation=2 * np.pi / 6, order=order)
    np.testing.assert_allclose(movie[6], movie[0], atol=1e-5)
    np.testing.assert_allclose(movie[3], movie[0][::-1, ::-1], atol=1e-5)  # half turn
    quarter = transformed_movie(texture, 2, 32, rotation=np.pi / 2, order=order)
    np.testing.assert_allclose(quarter[1], np.rot90(quarter[0]), atol=1e-5)  # counter-clockwise


def test_zoom_out_by_two_subsamples(texture):
    movie = transformed_movie(texture, 2, 33, zoom=0.5)  # odd size: centre pixel (47, 47)
    np.testing.assert_allclose(movie[0], texture[31:64, 31:64], atol=1e-6)
    np.testing.assert_allclose(movie[1], texture[15:80:2, 15:80:2], atol=1e-6)


def test_transformed_movie_converts_the_still(texture):
    as_uint8 = np.round(texture * 255).astype(np.uint8)
    frame = transformed_movie(as_uint8, 1, 16)[0]
    np.testing.assert_allclose(frame, as_uint8[40:56, 40:56] / 255, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        transformed_movie(np.zeros((2, 8, 8, 3)), 2, 4)


def test_demo_movies(rng):
    movies = demo_movies(6, 24, rng)
    assert set(movies) == {"grating", "pan", "zoom", "rotate"}
    for movie in movies.values():
        assert movie.shape == (6, 24, 24) and movie.dtype == np.float32
        assert 0 <= movie.min() and movie.max() <= 1 and movie.std() > 0.01


# ----------------------------------------------------------------------------- stills
def test_natural_still_from_array():
    image = np.array([[0, 255], [51, 102]], np.uint8)
    np.testing.assert_allclose(natural_still(image), image / 255, atol=1e-6)
    rgb = np.stack([image] * 3, axis=-1)
    np.testing.assert_allclose(natural_still(rgb), image / 255, atol=1e-6)


def test_natural_still_from_skimage():
    pytest.importorskip("skimage", reason="scikit-image provides the sample images")
    camera = natural_still("camera")
    assert camera.shape == (512, 512) and camera.dtype == np.float32
    assert 0 <= camera.min() and camera.max() <= 1 and camera.std() > 0.1
    assert natural_still("astronaut").ndim == 2
    assert natural_still("coffee", size=100).shape == (100, 150)
    with pytest.raises(ValueError, match="no image"):
        natural_still("no_such_picture")


def test_natural_still_without_skimage_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # makes `import skimage...` fail
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match="pip install scikit-image"):
        natural_still("camera")


# ----------------------------------------------------------------------------- writers
def smooth_movie(height: int, width: int, n_frames: int = 10) -> np.ndarray:
    """A smooth texture panning 1 px/frame: easy on lossy codecs."""
    rng = np.random.default_rng(0)
    texture = gaussian_filter(rng.standard_normal((height + 40, width + 40)), 3, mode="wrap")
    texture = np.clip(0.5 + 0.15 * texture / texture.std(), 0, 1)
    return np.stack([np.roll(texture, (t, t), axis=(0, 1))[:height, :width]
                     for t in range(n_frames)])


def has_encoder(codec: str) -> bool:
    import av

    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 -- any failure: not in this PyAV build
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(32, 48), (33, 47)], ids=["even", "odd"])
@pytest.mark.parametrize("ext", [*VIDEO_CODECS, ".gif"])
def test_write_video_round_trip(tmp_path, ext, shape):
    if ext != ".gif" and not has_encoder(VIDEO_CODECS[ext]):
        pytest.skip(f"this PyAV build has no {VIDEO_CODECS[ext]} encoder")
    movie = smooth_movie(*shape)
    path = write_video(tmp_path / f"movie{ext}", movie, fps=25)
    back = np.stack(list(iio.imiter(path, plugin="pyav", format="gray"))) / 255
    assert back.shape == movie.shape
    assert np.abs(back - movie).mean() < (0.003 if ext == ".gif" else 0.03)
    assert iio.immeta(path, plugin="pyav")["fps"] == pytest.approx(25)


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_write_video_rgb(tmp_path, ext):
    gray = smooth_movie(32, 32, 6)
    movie = np.stack([gray, 1 - gray, gray**2], axis=-1)
    frames = iio.imiter(write_video(tmp_path / f"rgb{ext}", movie), plugin="pyav")
    back = np.stack(list(frames)) / 255
    assert back.shape == movie.shape and np.abs(back - movie).mean() < 0.05


def test_write_video_errors(tmp_path):
    movie = smooth_movie(16, 16, 3)
    with pytest.raises(ValueError, match="unknown video extension"):
        write_video(tmp_path / "movie.flv", movie)
    with pytest.raises(ValueError, match="7 fps"):  # MPEG-2 has no 7 fps
        write_video(tmp_path / "movie.mpg", movie, fps=7)
    assert not (tmp_path / "movie.mpg").exists()
    with pytest.raises(ValueError, match="frames must be"):
        write_video(tmp_path / "movie.mp4", movie[0])


@pytest.mark.parametrize("ext, tolerance",
                         [(".png", 0.5 / 255), (".tif", 0.5 / 255), (".jpg", 0.02)])
def test_write_frame_folder_round_trip(tmp_path, ext, tolerance):
    movie = smooth_movie(24, 20, 4)
    folder = write_frame_folder(tmp_path / "clip", movie, ext=ext)
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"frame_{t:05d}{ext}" for t in range(4)]
    back = np.stack([iio.imread(f, plugin="pillow") for f in files]) / 255
    assert back.shape == movie.shape
    error = np.abs(back - movie)
    assert (error.max() if ext != ".jpg" else error.mean()) <= tolerance + 1e-6
