"""Streaming: the codes of each frame of a video as the frame arrives (causal inference).

`stream(model, frames)` takes any iterable of frames: a video file or a folder of frames, a
camera or network stream that FFmpeg opens (`/dev/video0`, an `rtsp://` or `http://` URL), or
arrays. It yields each frame's codes on the patch grid (`PatchGrid`, the layout of
`encode_video`) before reading the next frame. Frame t is solved alone, with the amplitudes
chosen for frame t−1 fixed in the slowness term (`csc.core.causal_inference`), from a warm start:

- ``"phase"`` (default): frame t−1's codes with each phase advanced by its last step,
  z_{t−1} e^{i(φ_{t−1} − φ_{t−2})}: the model's own prediction of frame t (the "phase" method
  of `csc.analysis.prediction`), good when things keep moving as they moved;
- ``"previous"``: frame t−1's codes as they are;
- ``"zeros"``: no warm start (every frame solved from zero, as a batch encode is).

Each frame gets at most `max_iter` iterations (a fixed budget when `tol` is 0).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from csc.backends.backend import get_backend
from csc.core.causal_inference import causal_fista
from csc.core.fista import lipschitz_constant
from csc.core.model import codes_from_real, dictionary_to_real
from csc.core.params import check_number
from csc.video.grid import PatchGrid, check_grid_options
from csc.video.pixel_model import PixelModel
from csc.video.reader import VideoError, block_average, iter_frames, to_gray

WARM_STARTS = ("phase", "previous", "zeros")


@dataclass
class StreamedFrame:
    """One frame of a stream and its codes.

    index: the frame's number (0 first); frame: float32 (height, width) in [0, 1], as solved;
    codes: complex64 (rows, cols, K) on `grid`; n_iter: iterations its solve ran; seconds:
    wall time of its solve (cutting, whitening and inference; not reading the frame)."""

    index: int
    frame: np.ndarray
    codes: np.ndarray
    grid: PatchGrid
    n_iter: int
    seconds: float


def open_frames(source, downsample: int = 1) -> Iterator[np.ndarray]:
    """Gray float32 frames in [0, 1] of `source`: a file or frame folder (`iter_frames`), or
    anything else FFmpeg opens (a device such as /dev/video0, an rtsp:// or http:// URL).
    Raises VideoError (one line) when it cannot be opened or read."""
    if Path(source).exists():
        yield from iter_frames(source, downsample=downsample)
        return
    import av

    try:
        container = av.open(str(source), timeout=10.0)
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot open {source}: {exc}") from None
    with container:
        try:
            for packet_frame in container.decode(video=0):
                yield block_average(to_gray(packet_frame.to_ndarray(format="rgb24")), downsample)
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(f"cannot read {source}: {exc}") from None


def _frames(frames, downsample: int) -> Iterator[np.ndarray]:
    if isinstance(frames, (str, Path)):
        return open_frames(frames, downsample)
    return (block_average(to_gray(np.asarray(f)), downsample) for f in frames)


def stream(model: PixelModel, frames: Iterable | str | Path, *, stride: int | None = None,
           max_iter: int = 10, tol: float = 0.0, warm_start: str = "phase",
           downsample: int = 1, backend: str = "auto") -> Iterator[StreamedFrame]:
    """Yield a `StreamedFrame` for each frame of `frames`, solved as it arrives (module
    docstring).

    model: a `csc.PixelModel`; frames: an iterable of 2-D arrays (gray, or RGB converted as the
    video reader does) or a source for `open_frames`; stride: grid step in pixels (default half
    a patch, as `encode_video`); max_iter: iterations per frame at most (≥ 1); tol: also stop a
    frame once ‖Δx‖ ≤ tol·‖x‖ (0: the full budget every frame); warm_start: one of
    `WARM_STARTS`; downsample: block-average frames by this factor; backend: "auto" | "cpu" |
    "gpu". Raises ValueError for bad arguments (at the call), VideoError for frames that cannot
    be read, change size, hold NaN or Inf, or are smaller than a patch (when iterated).
    """
    if not isinstance(model, PixelModel):
        raise ValueError(f"stream needs a csc.PixelModel, got {type(model).__name__}")
    stride = check_grid_options(model, stride, downsample, backend)
    check_number(max_iter, "max_iter", Integral, 1)
    check_number(tol, "tol", Real, 0.0)
    if warm_start not in WARM_STARTS:
        raise ValueError(f"unknown warm_start {warm_start!r}; choose one of {WARM_STARTS}")
    return _stream(model, _frames(frames, int(downsample)), stride, int(max_iter),
                   float(tol), warm_start, get_backend(backend))


def _stream(model, frames, stride, max_iter, tol, warm_start, be) -> Iterator[StreamedFrame]:
    xp = be.xp
    prior = model.coder.prior()
    D = model.coder.components_
    K = D.shape[0]
    W = dictionary_to_real(D, np.float32)
    w = prior.weight_vector(W.shape[1], np.float32)
    L, _ = lipschitz_constant(W, w)
    W, w = be.asarray(W), be.asarray(w)
    grid, last, before = None, None, None  # real-packed codes of frames t−1 and t−2
    for index, frame in enumerate(frames):
        start = time.perf_counter()
        frame = np.asarray(frame, dtype=np.float32)
        if grid is None:
            grid = _grid(frame, p=model.patch_size, stride=stride)
        if frame.shape != (grid.height, grid.width):
            raise VideoError(f"frame {index} is {frame.shape[0]}x{frame.shape[1]} pixels, "
                             f"frame 0 was {grid.height}x{grid.width}")
        if not np.isfinite(frame).all():
            raise VideoError(f"frame {index} holds NaN or Inf")
        Xf = be.asarray(model.whitener.transform(grid.cut(frame[None])[:, 0]), np.float32)
        anchor = None if last is None else xp.hypot(last[:, :K], last[:, K:])
        C0 = _warm_start(xp, warm_start, last, before, Xf.shape[0], K)
        C, info = causal_fista(Xf, W, w, prior, anchor, C0, L, max_iter, tol, be)
        before, last = last, C
        codes = codes_from_real(be.asnumpy(C), 1, Xf.shape[0])[0]
        yield StreamedFrame(index, frame, codes.reshape(grid.rows, grid.cols, K), grid,
                            info.n_iter, time.perf_counter() - start)


def _grid(frame: np.ndarray, p: int, stride: int) -> PatchGrid:
    if frame.ndim != 2:
        raise VideoError(f"frames must be 2-D images, got shape {frame.shape}")
    height, width = frame.shape
    if height < p or width < p:
        raise VideoError(f"frames are {height}x{width} pixels, smaller than the model's {p}x{p} "
                         f"patches")
    return PatchGrid(height, width, p, stride)


def _warm_start(xp, kind: str, last, before, n_rows: int, K: int):
    """The starting codes of frame t (real-packed (n_rows, 2K)) from those of t−1 and t−2."""
    if last is None or kind == "zeros":
        return xp.zeros((n_rows, 2 * K), dtype=np.float32)
    if kind == "previous" or before is None:
        return last
    z1 = last[:, :K] + 1j * last[:, K:]
    z0 = before[:, :K] + 1j * before[:, K:]
    turn = z1 * xp.conj(z0)  # e^{i(φ_{t−1} − φ_{t−2})} up to its magnitude
    size = xp.abs(turn)
    z = xp.where(size > 0, z1 * turn / xp.maximum(size, 1e-30), z1)
    return xp.concatenate([z.real, z.imag], axis=1).astype(np.float32)


class LiveFrames:
    """Frames of `frames` read by a thread of their own, at `fps` frames per second (a file
    played at its frame rate; None: as fast as the source gives them, as a camera does). The
    consumer gets the newest frame each time it asks; a frame replaced before it was taken is
    dropped and counted (`dropped`), so a consumer slower than the source falls behind by at
    most one frame and says how much it skipped. Errors of the source are raised to the
    consumer. Iterate once; `close()` stops the reader."""

    def __init__(self, frames: Iterable, fps: float | None = None):
        if fps is not None:
            check_number(fps, "fps", Real, 1e-6)
        self.fps, self.dropped, self.n_read = fps, 0, 0
        self._frames = iter(frames)
        self._ready = threading.Condition()
        self._latest: np.ndarray | None = None
        self._done, self._stop, self._error = False, False, None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        start = time.monotonic()
        try:
            for i, frame in enumerate(self._frames):
                if self._stop:
                    return
                if self.fps is not None:
                    time.sleep(max(start + i / self.fps - time.monotonic(), 0.0))
                with self._ready:
                    self.dropped += self._latest is not None
                    self._latest = frame
                    self.n_read += 1
                    self._ready.notify()
        except BaseException as exc:  # noqa: BLE001 -- handed to the consumer
            self._error = exc
        finally:
            with self._ready:
                self._done = True
                self._ready.notify()

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._latest is not None or self._done)
                frame, self._latest = self._latest, None
            if frame is None:
                if self._error is not None:
                    raise self._error
                return
            yield frame

    def close(self) -> None:
        self._stop = True
