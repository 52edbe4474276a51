"""Read a video collection: video files and folders of numbered frames, streamed as grayscale.

Every frame leaves this module as a float32 array of shape (H, W) with values in [0, 1]
(RGB -> ITU-R BT.601 luma), optionally block-averaged by an integer factor. Videos are decoded
one frame at a time (imageio.v3 + PyAV), so a collection never needs to fit in memory.

Only regular files are read: a FIFO, socket or device file with a video name is passed over (a
FIFO would block forever when opened). Over a collection (`read_collection`), a source that
cannot be opened is skipped and one that fails partway through keeps the frames decoded before
the failure; both are reported to a callback, and the other sources are read as usual.

A range of frames (`read_frames`, what a task encoding one chunk of a video reads) is found by
seeking where the container's timestamps allow it (`index_frames` decodes the video once and
records them) and by decoding from the start otherwise; either way the frames are exactly those
`iter_frames` yields.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import imageio.v3 as iio
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mpg", ".mpeg", ".mov", ".mkv", ".webm", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601


class VideoError(ValueError):
    """Bad video input; str(err) is one clear line naming the file/folder and the problem."""


@dataclass(frozen=True)
class VideoSource:
    """One video: a file (kind "video") or a folder of numbered images (kind "frames")."""

    path: Path
    kind: str  # "video" or "frames"


# ----------------------------------------------------------------------------- discovery
def natural_key(text: str) -> tuple:
    """Sort key ordering embedded numbers by value: "frame2" < "frame10" (case-insensitive)."""
    parts = re.split(r"(\d+)", text.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _has_ext(name: str, exts: tuple[str, ...]) -> bool:
    return not name.startswith(".") and name.lower().endswith(exts)


def frame_files(folder: str | Path) -> list[Path]:
    """The image files directly inside `folder`, in natural order.

    Only regular files count (symlinks followed): hidden files, FIFOs, sockets and device files
    with an image name are left out.
    """
    folder = Path(folder)
    names = [
        e.name for e in os.scandir(folder) if e.is_file() and _has_ext(e.name, IMAGE_EXTENSIONS)
    ]
    return [folder / n for n in sorted(names, key=natural_key)]


def _regular_files(folder: str, names: list[str], exts: tuple[str, ...]) -> list[str]:
    """The `names` in `folder` with one of `exts` that are regular files (symlinks followed):
    opening a FIFO with a video name would wait for a writer forever."""
    return [n for n in names if _has_ext(n, exts) and os.path.isfile(os.path.join(folder, n))]


def _special_kind(path: Path) -> str:
    """What an existing path that is not a regular file is, for a message ("a FIFO", ...)."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


def _looked_for() -> str:
    videos, images = ", ".join(VIDEO_EXTENSIONS), "/".join(IMAGE_EXTENSIONS)
    return f"looked for {videos} files or folders of >= 2 {images} frames"


def find_videos(root: str | Path) -> list[VideoSource]:
    """List the video collection under `root` (recursively), sorted by path (natural order).

    A source is every regular file with a video extension (case-insensitive) and every folder
    that directly holds >= 2 regular image files (one video of numbered frames). Hidden files and
    folders (names starting with ".") are ignored, and so are FIFOs, sockets, device files and
    broken symlinks, whatever their names; symlinked folders are followed once. `root` may also
    be a single video file or a single frame folder.
    Raises VideoError if root does not exist, is not a video file (a FIFO, say), or holds no
    video.
    """
    root = Path(root)
    if not root.exists():
        raise VideoError(f"no such folder: {root}")
    if not root.is_dir() and not root.is_file():
        raise VideoError(f"not a video file or folder: {root} is {_special_kind(root)}")
    if root.is_file():
        if _has_ext(root.name, VIDEO_EXTENSIONS):
            return [VideoSource(root, "video")]
        raise VideoError(
            f"not a video file: {root} (expected one of {', '.join(VIDEO_EXTENSIONS)})"
        )
    sources: list[VideoSource] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # symlink loop or duplicate
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        here = Path(dirpath)
        sources += [
            VideoSource(here / f, "video")
            for f in _regular_files(dirpath, filenames, VIDEO_EXTENSIONS)
        ]
        if len(_regular_files(dirpath, filenames, IMAGE_EXTENSIONS)) >= 2:
            sources.append(VideoSource(here, "frames"))
    if not sources:
        raise VideoError(f"no video files found in {root} ({_looked_for()})")
    return sorted(sources, key=lambda s: natural_key(str(s.path)))


def _as_source(source: VideoSource | str | Path) -> VideoSource:
    if isinstance(source, VideoSource):
        return source
    path = Path(source)
    return VideoSource(path, "frames" if path.is_dir() else "video")


# ----------------------------------------------------------------------------- pixels
def to_gray(image: np.ndarray) -> np.ndarray:
    """Convert one image to float32 (H, W) grayscale in [0, 1].

    Accepts (H, W), (H, W, 1), (H, W, 2) gray+alpha, (H, W, 3) RGB or (H, W, 4) RGBA of dtype
    uint8 (/255), uint16 (/65535), bool or float (assumed already in [0, 1], clipped). Alpha is
    dropped; RGB becomes BT.601 luma 0.299 R + 0.587 G + 0.114 B.
    """
    img = np.asarray(image)
    if img.dtype == np.uint8:
        scale = 255.0
    elif img.dtype == np.uint16:
        scale = 65535.0
    elif img.dtype == np.bool_ or np.issubdtype(img.dtype, np.floating):
        scale = 1.0
    else:
        raise ValueError(f"unsupported pixel type {img.dtype}")
    if img.ndim == 3 and img.shape[2] in (1, 2):
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        r, g, b = (img[:, :, c].astype(np.float32) for c in range(3))
        gray = LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b
    elif img.ndim == 2:
        gray = img.astype(np.float32)
    else:
        raise ValueError(f"unsupported image shape {img.shape}")
    if scale != 1.0:
        gray *= np.float32(1.0 / scale)
    return np.clip(gray, 0.0, 1.0, out=gray)


def block_average(frame: np.ndarray, factor: int) -> np.ndarray:
    """Downsample (H, W) by averaging factor×factor blocks -> (H // factor, W // factor) float32.

    The frame is first cropped (bottom/right) to a multiple of the factor.
    """
    if factor == 1:
        return np.asarray(frame, dtype=np.float32)
    h, w = frame.shape[0] // factor, frame.shape[1] // factor
    if h == 0 or w == 0:
        raise ValueError(
            f"frame {frame.shape[0]}x{frame.shape[1]} is smaller than downsample factor {factor}"
        )
    blocks = frame[: h * factor, : w * factor].reshape(h, factor, w, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _reason(exc: BaseException) -> str:
    """One-line description of the innermost cause of an imageio/PyAV/Pillow exception."""
    for _ in range(20):  # the chain is short; bound it anyway
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


# ----------------------------------------------------------------------------- reading
def _check_video_file(path: Path) -> None:
    """Raise VideoError for a video path that cannot be decoded or would block when opened:
    an empty file, or an existing path that is not a regular file (a FIFO waits for a writer)."""
    if path.exists() and not path.is_file():
        raise VideoError(f"cannot read video {path}: it is {_special_kind(path)}")
    if path.is_file() and path.stat().st_size == 0:
        raise VideoError(f"cannot read video {path}: file is empty")


def _frame_folder_files(source: VideoSource) -> list[Path]:
    files = frame_files(source.path)
    if len(files) < 2:
        raise VideoError(f"not a frame folder: {source.path} (needs >= 2 image files)")
    return files


#: FFmpeg's threading for every decode. Not "AUTO" (frame threading): with it, PyAV 19 ends the
#: decode at a corrupt packet without an error, so a broken video would read as a short one.
#: Slice threading reports the error, and on 2 cores decodes the sample clips as fast.
THREAD_TYPE = "SLICE"


def _raw_frames(source: VideoSource, start: int = 0,
                pts: tuple[int, ...] | None = None) -> Iterator[np.ndarray]:
    """Decoded frames as imageio returns them (uint8/uint16, (H, W[, C])), from frame `start`
    on; `pts`: the timestamps of the frames wanted from `start` on (`FrameIndex.pts`), which
    lets a video be entered by seeking (`_seek_raw`)."""
    if source.kind == "frames":
        for f in _frame_folder_files(source)[start:]:
            try:
                yield iio.imread(f)
            except Exception as exc:  # noqa: BLE001 -- any decoder error becomes one line
                raise VideoError(f"cannot read frame {f}: {_reason(exc)}") from None
        return
    _check_video_file(source.path)
    try:
        if start and pts:
            yield from _seek_raw(source.path, start, pts)
        else:
            yield from itertools.islice(
                iio.imiter(source.path, plugin="pyav", thread_type=THREAD_TYPE), start, None)
    except VideoError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise VideoError(f"cannot read video {source.path}: {_reason(exc)}") from None


#: containers (PyAV format names) whose frames keep the timestamps of a full decode after a
#: seek. MPEG program streams (.mpg) do not: after a seek their timestamps come out shifted by
#: half a frame, and seeks land past the target.
SEEK_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi"})


def _seek_raw(path: Path, start: int, pts: tuple[int, ...]) -> Iterator[np.ndarray]:
    """Frames start, start + 1, ... (at most len(pts)) of a video, as `_raw_frames` yields them.

    Seeks to the key frame at or before pts[0] and decodes from there, checking every frame
    against the timestamps of a full decode (`pts`); from the first frame that does not match
    (the seek landed past the target, a timestamp differs), the video is decoded from its start
    instead, so the frames are always those of `iter_frames`."""
    done = 0
    try:
        with av.open(str(path)) as container:
            if set(container.format.name.split(",")) & SEEK_FORMATS:
                stream = container.streams.video[0]
                stream.thread_type = THREAD_TYPE
                container.seek(pts[0], stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if done == 0 and frame.pts is not None and frame.pts < pts[0]:
                        continue  # from the key frame up to the target
                    if frame.pts != pts[done]:
                        break
                    yield frame.to_ndarray(format="rgb24")  # what imageio's plugin returns
                    done += 1
                    if done == len(pts):
                        return
    except av.FFmpegError:
        pass  # decoded from the start below, which reports a broken video
    yield from itertools.islice(iio.imiter(path, plugin="pyav", thread_type=THREAD_TYPE),
                                start + done, start + len(pts))


def iter_frames(
    source: VideoSource | str | Path, *, downsample: int = 1, max_frames: int | None = None
) -> Iterator[np.ndarray]:
    """Stream the frames of one source as float32 (H // downsample, W // downsample) in [0, 1].

    Frames are decoded lazily, converted with `to_gray` and block-averaged by `downsample`
    (an integer >= 1); iteration stops after `max_frames` frames (None: all).
    Raises VideoError (one line, naming the file) when iterated if the source cannot be opened or
    decoded, or if the frames of a frame folder differ in size; ValueError at once for bad
    arguments. The iterator is strict: a file that fails after some frames raises after yielding
    them (`read_collection` keeps those frames and reports the failure instead).
    """
    if int(downsample) != downsample or downsample < 1:
        raise ValueError(f"downsample must be an integer >= 1, got {downsample!r}")
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be >= 0 or None, got {max_frames!r}")
    return _gray_frames(_as_source(source), int(downsample), max_frames)


def _gray_frames(
    source: VideoSource, downsample: int, max_frames: int | None, start: int = 0,
    pts: tuple[int, ...] | None = None,
) -> Iterator[np.ndarray]:
    raw = _raw_frames(source, start, pts)
    shape = None
    try:
        for i, img in enumerate(itertools.islice(raw, max_frames), start=start):
            try:
                frame = block_average(to_gray(img), downsample)
            except ValueError as exc:
                raise VideoError(f"cannot read video {source.path}: frame {i}: {exc}") from None
            if shape is not None and frame.shape != shape:
                raise VideoError(
                    f"frame size changes in {source.path}: "
                    f"frame {i} is {frame.shape}, frame {start} is {shape}"
                )
            shape = frame.shape
            yield frame
    finally:
        raw.close()


@dataclass(frozen=True)
class FrameIndex:
    """What `index_frames` finds by decoding a source once.

    n_frames: frames decoded; height, width: the size of its frames at native resolution;
    pts: each frame's presentation timestamp in decoding order, when the container is one whose
    seeks csc trusts (`SEEK_FORMATS`) and the timestamps are all present and increasing; else
    None (frame folders, other containers: `read_frames` then decodes from the start).
    """

    n_frames: int
    height: int
    width: int
    pts: tuple[int, ...] | None = None


def index_frames(source: VideoSource | str | Path) -> FrameIndex:
    """Count the frames of one source by decoding it (a video) or listing it (a frame folder).

    Decoding is what makes the count exact (container headers may be missing or wrong); it
    costs one pass without colour conversion. Raises VideoError (one line) for a source that
    cannot be opened or decoded, or that holds no frame.
    """
    source = _as_source(source)
    if source.kind == "frames":
        files = _frame_folder_files(source)
        first = next(iter_frames(source, max_frames=1))
        return FrameIndex(len(files), *first.shape)
    with _video_stream(source.path) as (container, stream):
        stream.thread_type = THREAD_TYPE
        pts, size = [], None
        for frame in container.decode(stream):
            pts.append(frame.pts)
            size = size or (frame.height, frame.width)
        seekable = bool(set(container.format.name.split(",")) & SEEK_FORMATS)
    if not pts:
        raise VideoError(f"cannot read video {source.path}: no frames")
    exact = seekable and None not in pts and all(a < b for a, b in zip(pts, pts[1:]))
    return FrameIndex(len(pts), *size, tuple(pts) if exact else None)


def read_frames(source: VideoSource | str | Path, start: int, stop: int, *,
                downsample: int = 1, pts: Sequence[int] | None = None) -> np.ndarray:
    """Frames [start, stop) of one source: float32 (stop − start, H // downsample,
    W // downsample) in [0, 1], exactly as `iter_frames` yields them.

    pts: the timestamps of these frames from the source's `index_frames` (`index.pts[start:
    stop]`, None when it has none). With them, a video is entered by seeking to the key frame
    before `start`, each frame checked against its timestamp (a mismatch falls back to decoding
    from the start); without, the frames before `start` are decoded and dropped. Frames of a
    folder are read directly. Raises VideoError (one line) when the frames cannot be read or
    there are fewer than `stop`; ValueError for bad arguments.
    """
    if int(downsample) != downsample or downsample < 1:
        raise ValueError(f"downsample must be an integer >= 1, got {downsample!r}")
    if not 0 <= start < stop:
        raise ValueError(f"need 0 <= start < stop, got start={start!r}, stop={stop!r}")
    if pts is not None and len(pts) != stop - start:
        raise ValueError(f"pts holds {len(pts)} timestamps for {stop - start} frames")
    source = _as_source(source)
    pts = None if pts is None else tuple(int(p) for p in pts)
    frames = list(_gray_frames(source, int(downsample), stop - start, start, pts))
    if len(frames) < stop - start:
        raise VideoError(f"cannot read video {source.path}: it has {start + len(frames)} "
                         f"frames, frames up to {stop} were asked for")
    return np.stack(frames)


def video_info(source: VideoSource | str | Path, *, count_frames: bool = True) -> dict:
    """Describe one source without loading it.

    Returns {"path": Path, "kind": str, "n_frames": int | None, "height": int, "width": int,
    "fps": float | None} at native resolution (before any downsampling). When the container
    header lacks a frame count, frames are counted by decoding (slow for long videos) unless
    `count_frames=False`, which gives None.
    """
    source = _as_source(source)
    info: dict = {"path": source.path, "kind": source.kind, "fps": None}
    if source.kind == "frames":
        files = frame_files(source.path)
        first = next(iter_frames(source))
        info.update(n_frames=len(files), height=first.shape[0], width=first.shape[1])
        return info
    with _video_stream(source.path) as (container, stream):
        rate = stream.average_rate or stream.guessed_rate
        n_frames = stream.frames or None
        if n_frames is None and count_frames:
            n_frames = sum(1 for _ in container.decode(stream))
        info.update(
            n_frames=n_frames,
            height=stream.codec_context.height,
            width=stream.codec_context.width,
            fps=float(rate) if rate else None,
        )
    return info


@contextlib.contextmanager
def _video_stream(path: Path) -> Iterator[tuple]:
    """(container, its first video stream) of the video file `path`, open for the body.
    Raises VideoError (one line, naming the file) for a file that cannot be opened, has no
    video stream, or fails to decode in the body."""
    _check_video_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"cannot read video {path}: no video stream")
            yield container, container.streams.video[0]
    except VideoError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise VideoError(f"cannot read video {path}: {_reason(exc)}") from None


def read_collection(
    root: str | Path,
    *,
    downsample: int = 1,
    max_frames: int | None = None,
    on_skip: Callable[[VideoSource, str], None] | None = None,
) -> Iterator[tuple[VideoSource, Iterator[np.ndarray]]]:
    """Yield (source, frame iterator) for each readable source in `find_videos(root)`.

    Each frame iterator is `iter_frames(source, downsample=..., max_frames=...)` (float32 (H, W)
    in [0, 1]); its first frame is decoded before the source is yielded, so unreadable or empty
    sources are skipped, calling `on_skip(source, message)` with the VideoError's line. A source
    that fails later (corrupt data after some frames, a frame of another size) ends its iterator
    with the frames decoded so far, and `on_skip(source, "the rest of PATH from frame N (N frames
    kept): <error>")` is called; the next sources are read as usual. Without `on_skip` both are
    silent.
    Raises VideoError from `find_videos`, or at the end if no source at all was readable.
    """
    skipped: list[str] = []
    n_read = 0
    for source in find_videos(root):
        frames = iter_frames(source, downsample=downsample, max_frames=max_frames)
        try:
            first = next(frames, None)
            if first is None and max_frames != 0:
                raise VideoError(f"cannot read video {source.path}: no frames")
        except VideoError as exc:
            skipped.append(str(exc))
            if on_skip is not None:
                on_skip(source, str(exc))
            continue
        n_read += 1
        yield source, (frames if first is None else _until_error(source, first, frames, on_skip))
    if n_read == 0:
        raise VideoError(
            f"no readable video in {root} ({len(skipped)} files skipped: first error: {skipped[0]})"
        )


def _until_error(
    source: VideoSource,
    first: np.ndarray,
    frames: Iterator[np.ndarray],
    on_skip: Callable[[VideoSource, str], None] | None,
) -> Iterator[np.ndarray]:
    """`first`, then `frames` up to the first VideoError, which goes to `on_skip` instead."""
    yield first
    n = 1
    try:
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except VideoError as exc:
                if on_skip is not None:
                    rest = f"the rest of {source.path} from frame {n} ({n} frames kept)"
                    on_skip(source, f"{rest}: {exc}")
                return
            yield frame
            n += 1
    finally:
        frames.close()
