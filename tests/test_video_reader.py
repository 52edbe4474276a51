"""Video input: formats read back, frame folders, discovery, errors, scene cuts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import write_video_failing_at
from scipy.ndimage import gaussian_filter

from csc.video.reader import (
    FrameIndex,
    VideoError,
    VideoSource,
    block_average,
    find_videos,
    frame_files,
    index_frames,
    iter_frames,
    read_collection,
    read_frames,
    video_info,
)
from csc.video.scenes import SceneSplitter, frame_change, split_scenes

H, W, T = 32, 48, 12  # even sizes: yuv420p codecs need them


def texture(seed: int, size: int = 96, sigma: float = 3.0, std: float = 0.15) -> np.ndarray:
    """Smooth random texture, float32 (size, size), mean 0.5, clipped to [0, 1]."""
    x = gaussian_filter(
        np.random.default_rng(seed).standard_normal((size, size)), sigma, mode="wrap"
    )
    return np.clip(0.5 + std * x / x.std(), 0, 1).astype(np.float32)


def pan(tex: np.ndarray, n: int, speed: int = 1, h: int = H, w: int = W) -> np.ndarray:
    """A (n, h, w) float32 movie translating `tex` sideways by `speed` pixels per frame."""
    return np.stack([np.roll(tex, k * speed, axis=1)[:h, :w] for k in range(n)])


def to_u8(movie: np.ndarray) -> np.ndarray:
    return np.round(np.clip(movie, 0, 1) * 255).astype(np.uint8)


def encoder_available(codec: str) -> bool:
    import av

    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001
        return False
    return True


def write_video(path: Path, movie: np.ndarray, codec: str | None) -> Path:
    """Write a gray float movie (T, H, W) as an RGB video file (gray replicated to 3 channels)."""
    rgb = np.repeat(to_u8(movie)[..., None], 3, axis=-1)
    if codec is None:  # GIF through Pillow
        iio.imwrite(path, rgb, extension=".gif", duration=40, loop=0)
    else:
        iio.imwrite(path, rgb, plugin="pyav", codec=codec, fps=25)
    return path


def write_frames(folder: Path, movie: np.ndarray, ext: str = ".png", stem: str = "frame_") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(movie):
        iio.imwrite(
            folder / f"{stem}{i}{ext}", frame if frame.dtype != np.float32 else to_u8(frame)
        )
    return folder


MOVIE = pan(texture(0), T)

FORMATS = [
    (".mp4", "libx264"),
    (".mp4", "mpeg4"),
    (".avi", "mpeg4"),
    (".mpg", "mpeg1video"),
    (".mpeg", "mpeg1video"),
    (".mov", "libx264"),
    (".mkv", "libx264"),
    (".webm", "libvpx"),
    (".gif", None),
]


# ----------------------------------------------------------------------------- formats
@pytest.mark.parametrize("ext,codec", FORMATS, ids=[f"{e}-{c}" for e, c in FORMATS])
def test_video_formats_read_back(tmp_path, ext, codec):
    if codec is not None and not encoder_available(codec):
        pytest.skip(f"encoder {codec} not in this PyAV build")
    path = write_video(tmp_path / f"movie{ext}", MOVIE, codec)
    [source] = find_videos(tmp_path)
    assert source == VideoSource(path, "video")
    frames = list(iter_frames(source))
    assert len(frames) == T
    got = np.stack(frames)
    assert got.shape == (T, H, W) and got.dtype == np.float32
    assert got.min() >= 0 and got.max() <= 1
    assert np.abs(got - MOVIE).mean() < 0.05
    info = video_info(source)
    assert (info["n_frames"], info["height"], info["width"], info["kind"]) == (T, H, W, "video")
    assert info["fps"] and info["fps"] > 0


@pytest.mark.parametrize("ext,tol", [(".png", 0.5 / 255), (".tif", 0.5 / 255), (".jpg", 0.05)])
def test_frame_folder_formats(tmp_path, ext, tol):
    write_frames(tmp_path / "clip", MOVIE, ext)
    [source] = find_videos(tmp_path)
    assert source == VideoSource(tmp_path / "clip", "frames")
    got = np.stack(list(iter_frames(source)))
    assert got.shape == (T, H, W) and got.dtype == np.float32
    assert np.abs(got - MOVIE).mean() <= tol
    info = video_info(source)
    assert (info["n_frames"], info["height"], info["width"], info["fps"]) == (T, H, W, None)


SEEK_FORMATS = [  # (extension, codec, seeks): containers read by seeking, others from the start
    (".avi", "mpeg4", True),
    (".mp4", "mpeg4", True),
    (".mkv", "libx264", True),
    (".webm", "libvpx", True),
    (".mpg", "mpeg1video", False),  # program streams: timestamps shift after a seek
    (".gif", None, False),
]


@pytest.mark.slow
@pytest.mark.parametrize("ext,codec,seeks", SEEK_FORMATS,
                         ids=[f"{e}-{c}" for e, c, _ in SEEK_FORMATS])
def test_frame_ranges_are_the_frames_of_iter_frames(tmp_path, monkeypatch, ext, codec, seeks):
    if codec is not None and not encoder_available(codec):
        pytest.skip(f"encoder {codec} not in this PyAV build")
    movie = pan(texture(1), 60)  # MPEG-4 part 2 puts a key frame every 12 frames
    path = write_video(tmp_path / f"movie{ext}", movie, codec)
    frames = np.stack(list(iter_frames(path, downsample=2)))
    index = index_frames(path)
    assert (index.n_frames, index.height, index.width) == (60, H, W)
    assert (index.pts is not None) == seeks
    np.testing.assert_array_equal(read_frames(path, 0, 5, downsample=2), frames[:5])
    if seeks:  # the frames come from seeking: decoding from the start would fail here
        import csc.video.reader as reader

        monkeypatch.setattr(reader.iio, "imiter", None)
    for start, stop in [(13, 40), (25, 26), (37, 60)]:
        pts = None if index.pts is None else index.pts[start:stop]
        got = read_frames(path, start, stop, downsample=2, pts=pts)
        np.testing.assert_array_equal(got, frames[start:stop])
    monkeypatch.undo()
    # frames whose timestamps after a seek are not the index's (as .mpg's, shifted by half a
    # frame) are decoded from the start instead
    for shift in (10**6, -10**6):
        wrong = tuple(p + shift for p in index.pts[20:30]) if seeks else None
        np.testing.assert_array_equal(read_frames(path, 20, 30, downsample=2, pts=wrong),
                                      frames[20:30])
    with pytest.raises(VideoError, match="it has 60 frames"):
        read_frames(path, 50, 61)


def test_frame_count_is_decoded_not_read_from_the_header(tmp_path):
    from csc.resources import heldout_dir

    tree = heldout_dir() / "tree.avi"  # its AVI header says 444 frames; 68 decode
    assert video_info(tree)["n_frames"] == 444
    index = index_frames(tree)
    assert index.n_frames == 68 == sum(1 for _ in iter_frames(tree))
    np.testing.assert_array_equal(read_frames(tree, 60, 68, pts=index.pts[60:68]),
                                  np.stack(list(iter_frames(tree)))[60:68])
    folder = write_frames(tmp_path / "clip", MOVIE)
    assert index_frames(folder) == FrameIndex(T, H, W, None)
    np.testing.assert_array_equal(read_frames(folder, 3, 7),
                                  np.stack(list(iter_frames(folder)))[3:7])
    with pytest.raises(ValueError, match="start < stop"):
        read_frames(folder, 5, 5)


def test_rgb_rgba_and_16bit_conversion(tmp_path):
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]], np.uint8)
    rgb = np.zeros((2, 4, 6, 3), np.uint8)
    rgb[0, :, :3], rgb[0, :, 3:] = colours[0], colours[1]
    rgb[1, :, :3], rgb[1, :, 3:] = colours[2], colours[3]
    write_frames(tmp_path / "rgb", rgb)
    got = np.stack(list(iter_frames(tmp_path / "rgb")))
    expected = (rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / 255
    np.testing.assert_allclose(got, expected, atol=1e-6)

    rgba = np.concatenate([rgb, np.full((2, 4, 6, 1), 7, np.uint8)], axis=-1)
    write_frames(tmp_path / "rgba", rgba)
    np.testing.assert_allclose(np.stack(list(iter_frames(tmp_path / "rgba"))), got, atol=1e-7)

    deep = (np.arange(2 * 4 * 6).reshape(2, 4, 6) * 1000).astype(np.uint16)
    write_frames(tmp_path / "deep", deep)
    np.testing.assert_allclose(
        np.stack(list(iter_frames(tmp_path / "deep"))), deep / 65535, atol=1e-7
    )


# ----------------------------------------------------------------------------- discovery
def test_natural_sort_single_image_and_recursion(tmp_path):
    levels = (np.arange(12) * 20).astype(np.uint8)
    write_frames(
        tmp_path / "a" / "clip10", np.broadcast_to(levels[:, None, None], (12, 4, 4)).copy()
    )
    write_frames(tmp_path / "lonely", np.zeros((1, 4, 4), np.uint8))  # one image: not a video
    (tmp_path / "lonely" / "notes.txt").write_text("x")
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    write_video(deep / "deep.avi", MOVIE[:4], "mpeg4")
    write_video(tmp_path / "clip2.avi", MOVIE[:4], "mpeg4")
    sources = find_videos(tmp_path)
    assert [(s.path.relative_to(tmp_path).as_posix(), s.kind) for s in sources] == [
        ("a/b/c/deep.avi", "video"),
        ("a/clip10", "frames"),
        ("clip2.avi", "video"),
    ]
    means = [float(f.mean()) for f in iter_frames(sources[1])]  # frame_2 before frame_10
    np.testing.assert_allclose(means, levels / 255, atol=1e-6)
    assert find_videos(deep / "deep.avi") == [VideoSource(deep / "deep.avi", "video")]


def test_downsample_and_max_frames(tmp_path):
    path = write_video(tmp_path / "m.avi", MOVIE, "mpeg4")
    full = list(iter_frames(path))
    small = list(iter_frames(path, downsample=3, max_frames=5))
    assert len(small) == 5 and small[0].shape == (H // 3, W // 3) and small[0].dtype == np.float32
    np.testing.assert_allclose(
        small[4], full[4][:30, :48].reshape(10, 3, 16, 3).mean(axis=(1, 3)), atol=1e-6
    )
    assert block_average(np.ones((5, 7), np.float32), 2).shape == (2, 3)
    assert list(iter_frames(path, max_frames=0)) == []
    folder = write_frames(tmp_path / "f", MOVIE)
    assert [f.shape for f in iter_frames(folder, downsample=2, max_frames=3)] == [
        (H // 2, W // 2)
    ] * 3
    collected = [
        (s.kind, len(list(it))) for s, it in read_collection(tmp_path, downsample=2, max_frames=4)
    ]
    assert collected == [("frames", 4), ("video", 4)]


# ----------------------------------------------------------------------------- errors
def _one_line_naming(err: pytest.ExceptionInfo, path: Path) -> None:
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_empty_and_non_video_roots(tmp_path):
    with pytest.raises(VideoError, match="no such folder") as err:
        find_videos(tmp_path / "nope")
    _one_line_naming(err, tmp_path / "nope")
    with pytest.raises(VideoError, match="no video files found") as err:
        find_videos(tmp_path)
    _one_line_naming(err, tmp_path)
    (tmp_path / "readme.txt").write_text("hello")
    write_frames(tmp_path / "one", np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(VideoError, match=r"no video files found .*\.mp4") as err:
        find_videos(tmp_path)
    _one_line_naming(err, tmp_path)
    with pytest.raises(VideoError, match="not a video file"):
        find_videos(tmp_path / "readme.txt")
    with pytest.raises(VideoError, match="no video files found"):
        list(read_collection(tmp_path))


def test_corrupt_file_alone_and_beside_a_good_one(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    for path in (bad, empty):
        with pytest.raises(VideoError, match="cannot read video") as err:
            next(iter_frames(path))
        _one_line_naming(err, path)
        with pytest.raises(VideoError, match="cannot read video"):
            video_info(path)
    with pytest.raises(VideoError, match="no readable video") as err:
        list(read_collection(tmp_path))
    _one_line_naming(err, tmp_path)
    assert "2 files skipped" in str(err.value) and "bad.mp4" in str(err.value)

    good = write_video(tmp_path / "good.avi", MOVIE, "mpeg4")
    skipped: list[tuple[VideoSource, str]] = []
    got = [
        (s.path, len(list(it)))
        for s, it in read_collection(tmp_path, on_skip=lambda s, m: skipped.append((s, m)))
    ]
    assert got == [(good, T)]
    assert [s.path for s, _ in skipped] == [bad, empty]
    assert all(str(s.path) in m for s, m in skipped)


def test_video_failing_partway_keeps_its_frames_and_the_rest_is_read(tmp_path):
    """A file that decodes some frames and then hits corrupt data: iter_frames stays strict,
    read_collection keeps the frames before the failure, reports it, and reads on."""
    broken = write_video_failing_at(tmp_path / "a_broken.avi", 60, 80)
    good = write_video(tmp_path / "b_good.avi", MOVIE, "mpeg4")
    n_good = 0
    with pytest.raises(VideoError, match="cannot read video") as err:
        for _ in iter_frames(broken):
            n_good += 1
    _one_line_naming(err, broken)
    assert 0 < n_good < 80  # the decode really fails partway
    skipped: list[tuple[VideoSource, str]] = []
    got = [
        (s.path, len(list(it)))
        for s, it in read_collection(tmp_path, on_skip=lambda s, m: skipped.append((s, m)))
    ]
    assert got == [(broken, n_good), (good, T)]
    [(source, message)] = skipped
    assert source.path == broken and "\n" not in message
    assert f"{broken} from frame {n_good} ({n_good} frames kept)" in message
    assert "cannot read video" in message
    assert [len(list(it)) for _, it in read_collection(tmp_path)] == [n_good, T]  # no callback


def test_fifos_and_other_special_files_are_not_videos(tmp_path):
    """A FIFO named like a video or a frame blocks whoever opens it until a writer comes: it is
    never a source, a frame or a root. Reading runs in a subprocess, killed if it blocks."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    good = write_video(tmp_path / "good.avi", MOVIE, "mpeg4")
    os.mkfifo(tmp_path / "x.mp4")
    write_frames(tmp_path / "frames", MOVIE[:3])
    os.mkfifo(tmp_path / "frames" / "frame_3.png")
    write_frames(tmp_path / "one", MOVIE[:1])  # one image and a FIFO: not a frame folder
    os.mkfifo(tmp_path / "one" / "frame_1.png")
    assert find_videos(tmp_path) == [
        VideoSource(tmp_path / "frames", "frames"),
        VideoSource(good, "video"),
    ]
    names = [f.name for f in frame_files(tmp_path / "frames")]
    assert names == ["frame_0.png", "frame_1.png", "frame_2.png"]
    with pytest.raises(VideoError, match="FIFO") as err:
        find_videos(tmp_path / "x.mp4")
    _one_line_naming(err, tmp_path / "x.mp4")

    script = (
        "import json, sys\n"
        "from csc.video.reader import VideoError, iter_frames, read_collection, video_info\n"
        "root = sys.argv[1]\n"
        "out = {'read': [[s.path.name, len(list(it))] for s, it in read_collection(root)]}\n"
        "for name, call in (('iter', lambda p: next(iter_frames(p))), ('info', video_info)):\n"
        "    try:\n"
        "        call(root + '/x.mp4')\n"
        "    except VideoError as exc:\n"
        "        out[name] = str(exc)\n"
        "print(json.dumps(out))\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["read"] == [["frames", 3], ["good.avi", T]]
    for name in ("iter", "info"):
        assert out[name] == f"cannot read video {tmp_path / 'x.mp4'}: it is a FIFO (named pipe)"


def test_frame_size_change_is_an_error(tmp_path):
    folder = tmp_path / "f"
    write_frames(folder, np.zeros((2, 4, 4), np.uint8))
    iio.imwrite(folder / "frame_2.png", np.zeros((6, 4), np.uint8))
    with pytest.raises(VideoError, match="frame size changes") as err:
        list(iter_frames(folder))
    _one_line_naming(err, folder)


# ----------------------------------------------------------------------------- scene cuts
def test_cut_found_exactly_at_join(tmp_path):
    still = np.concatenate([pan(texture(3), 12, 0), pan(texture(4, sigma=1.5), 9, 0)])
    assert [len(s) for s in split_scenes(still)] == [12, 9]
    movie = np.concatenate([pan(texture(1), 20), pan(texture(2, sigma=1.5), 17)])
    assert [len(s) for s in split_scenes(movie)] == [20, 17]
    # through a lossy codec, streamed from the file
    path = write_video(tmp_path / "cut.mp4", movie, "mpeg4")
    scenes = list(split_scenes(iter_frames(path)))
    assert [s.shape for s in scenes] == [(20, H, W), (17, H, W)]
    assert all(s.dtype == np.float32 for s in scenes)


def test_fast_motion_onset_gives_at_most_one_false_cut():
    tex = texture(6)
    movie = np.concatenate(
        [pan(tex, 10, 0), np.roll(pan(tex, 30, 4), 1, axis=2)]
    )  # still, then 4 px/frame
    assert len(list(split_scenes(movie))) <= 2


def test_no_cut_in_pan_or_brightening():
    tex = texture(5)
    assert [len(s) for s in split_scenes(pan(tex, 60, speed=2))] == [60]
    ramp = np.linspace(0.0, 0.3, 60, dtype=np.float32)[:, None, None]
    brightening = np.clip(0.3 * pan(tex, 60) + ramp, 0, 1)
    assert [len(s) for s in split_scenes(brightening)] == [60]
    jump = pan(tex, 30)
    jump[15:] = np.clip(jump[15:] + 0.2, 0, 1)  # global brightness step: not a cut
    assert [len(s) for s in split_scenes(jump)] == [30]


def test_natural_like_benchmark():
    """1/f textures; static, panning, motion-onset and jitter shots with noise; cut every 30."""
    rng = np.random.default_rng(0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(192), np.fft.fftfreq(192)))
    f[0, 0] = 1
    shots = []
    for kind in [0, 1, 2, 3] * 4:
        x = np.real(
            np.fft.ifft2(np.fft.fft2(rng.standard_normal((192, 192))) / f ** rng.uniform(1, 1.5))
        )
        tex = np.clip(0.5 + rng.uniform(0.08, 0.25) * x / x.std(), 0, 1)
        v = np.zeros((30, 2))
        if kind == 1:
            v[:] = rng.uniform(-3, 3, 2)
        elif kind == 2:
            v[15:] = rng.uniform(-3, 3, 2)
        elif kind == 3:
            v = rng.normal(0, 1, (30, 2))
        pos = np.cumsum(v, 0).round().astype(int)
        shots += [
            np.roll(tex, tuple(p), (0, 1))[:96, :96] + rng.normal(0, 0.01, (96, 96)) for p in pos
        ]
    splitter = SceneSplitter()
    cuts = {t for t, frame in enumerate(np.clip(shots, 0, 1)) if splitter.push(frame)}
    truth = set(range(0, len(shots), 30))
    assert len(truth - cuts) <= 1 and len(cuts - truth) <= 1


def test_max_len_chunks_and_splitter():
    movie = np.concatenate([pan(texture(7), 20), pan(texture(8), 20)])
    assert [len(s) for s in split_scenes(movie, max_len=15)] == [15, 5, 15, 5]
    assert [len(s) for s in split_scenes(pan(texture(9), 45), max_len=20)] == [20, 20, 5]
    assert list(split_scenes([])) == []
    splitter = SceneSplitter(factor=5, min_change=0.1)
    flags = [splitter.push(f) for f in movie]
    assert flags[0] and flags[20] and sum(flags) == 2
    assert frame_change(movie[0], movie[0] + 0.1) == pytest.approx(0.0, abs=1e-6)
