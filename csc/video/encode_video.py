"""Encode a whole video: one code vector per patch position of a grid, per frame, as a lazy
Dask array that any Dask scheduler computes chunk by chunk (`encode_video`).

The grid (`csc.video.grid.PatchGrid`): patches of the model's size p, with their top-left
corners every `stride` pixels down and across from the frame's top-left corner, as many as fit
(pixels below and right of the last patch are not covered); the default stride is p // 2.

Time is split into chunks of `chunk_frames` frames, the last one shorter. A chunk is one task:
it reads its frames [t0, t1) from the video file itself (`csc.video.reader.read_frames`: only
the path, the frame range and a few timestamps travel to the worker), cuts every grid patch as
a sequence of t1 − t0 frames, and encodes all of them with the model's whitener and prior
(`PixelModel.encode_patches`) in one solve. So slowness couples the frames of a chunk only: the
first frame of a chunk has no slowness link to the last frame of the previous chunk, as if the
video were cut there, and its codes are those of a sequence starting at that frame. A chunk's
codes depend on its frames and the settings alone, never on which worker or how many workers
computed it (tested: equal bit for bit in-process and on a 2-process cluster).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed

from csc.core.params import check_number
from csc.video.grid import PatchGrid, check_grid_options
from csc.video.pixel_model import PixelModel
from csc.video.reader import FrameIndex, VideoError, VideoSource, index_frames, read_frames

__all__ = ["VideoEncoding", "prepare_encoding", "encode_video", "DEFAULT_CHUNK_FRAMES"]

DEFAULT_CHUNK_FRAMES = 64
#: how a chunk's solve starts: from zero codes, or from a causal pass over its frames
STARTS = ("zeros", "causal")
#: iterations per frame of the causal pass that starts a chunk (start "causal"), by default
CAUSAL_START_ITERS = 10
#: frames before a chunk that its causal pass runs over first, by default (start "causal"): the
#: chunk's first frame then starts from, and is anchored to, codes of the frames before it
CAUSAL_LEAD_FRAMES = 8


@dataclass(frozen=True)
class VideoEncoding:
    """The plan of one video's encoding (`prepare_encoding`): what each chunk task reads and
    how it encodes. Nothing is read or encoded until a chunk is computed.

    source: the video, its path made absolute (workers may run elsewhere); index: its frames
    (`index_frames`); n_frames: frames encoded (the video's, or max_frames); grid: the patch
    grid on frames after downsampling; the solve's settings: chunk_frames, max_iter, tol,
    downsample, backend.
    """

    model: PixelModel
    source: VideoSource
    index: FrameIndex
    n_frames: int
    grid: PatchGrid
    chunk_frames: int
    max_iter: int
    tol: float
    downsample: int
    backend: str
    start: str = "zeros"
    causal_iter: int = CAUSAL_START_ITERS
    causal_lead: int = CAUSAL_LEAD_FRAMES

    @property
    def n_components(self) -> int:
        return int(self.model.components_.shape[0])

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(T, rows, cols, K) of the codes."""
        return self.n_frames, self.grid.rows, self.grid.cols, self.n_components

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """The frame ranges [t0, t1) of the chunks, in order."""
        c = self.chunk_frames
        return [(t0, min(t0 + c, self.n_frames)) for t0 in range(0, self.n_frames, c)]

    def settings(self) -> dict:
        """The settings that decide the codes, JSON-able (the prior is the model's)."""
        settings = dict(chunk_frames=self.chunk_frames, max_iter=self.max_iter, tol=self.tol,
                        downsample=self.downsample, backend=self.backend,
                        prior=self.model.coder.prior().as_dict())
        if self.start != "zeros":  # absent means zeros: stores written before it stay valid
            settings["start"] = self.start
        if self.start == "causal":
            settings.update(causal_iter=self.causal_iter, causal_lead=self.causal_lead)
        return settings

    def _chunk_args(self, i: int) -> tuple:
        t0, t1 = self.chunks[i]
        lead = min(self.causal_lead, t0) if self.start == "causal" else 0
        pts = None if self.index.pts is None else self.index.pts[t0 - lead:t1]
        return (self.source, t0, t1, pts, self.downsample, self.grid, self.max_iter, self.tol,
                self.backend, self.start, self.causal_iter, lead)

    def encode_chunk(self, i: int) -> np.ndarray:
        """Chunk i computed here and now: complex64 (t1 − t0, rows, cols, K)."""
        return encode_chunk(self.model, *self._chunk_args(i))

    def chunk_tasks(self) -> list[Delayed]:
        """One Dask task per chunk (`encode_chunk`), each depending on a single task that holds
        the model (sent once to each worker that needs it, not once per chunk)."""
        model_token = tokenize(self.model.components_, self.model.whitener.to_arrays(),
                               self.model.coder.prior().as_dict())
        model = dask.delayed(self.model, name=f"csc-model-{model_token}")
        token = tokenize(model_token, str(self.source.path), self.n_frames, self.settings(),
                         self.grid)
        task = dask.delayed(encode_chunk, pure=True)
        return [task(model, *self._chunk_args(i), dask_key_name=f"encode-chunk-{token}-{i}")
                for i in range(len(self.chunks))]

    def to_dask(self) -> da.Array:
        """The codes as a lazy Dask array, complex64 (T, rows, cols, K), chunked
        (chunk_frames, rows, cols, K)."""
        _, rows, cols, K = self.shape
        meta = np.empty((0, 0, 0, 0), dtype=np.complex64)
        blocks = [da.from_delayed(task, shape=(t1 - t0, rows, cols, K), dtype=np.complex64,
                                  meta=meta)
                  for task, (t0, t1) in zip(self.chunk_tasks(), self.chunks)]
        return da.concatenate(blocks, axis=0)


def encode_chunk(model: PixelModel, source: VideoSource, t0: int, t1: int,
                 pts: tuple[int, ...] | None, downsample: int, grid: PatchGrid, max_iter: int,
                 tol: float, backend: str, start: str = "zeros",
                 causal_iter: int = CAUSAL_START_ITERS, lead: int = 0) -> np.ndarray:
    """The task of one chunk: read frames [t0, t1) of `source` (`read_frames`; pts: the
    timestamps of the frames read, or None), cut the grid's patches, encode them as
    rows · cols sequences of t1 − t0 frames, from zero codes (start "zeros") or from the codes
    a causal pass gives (start "causal": `csc.stream` over frames [t0 − lead, t1),
    `causal_iter` iterations a frame, the lead frames' codes dropped; with max_iter 0 the
    chunk's are the result). Returns complex64 (t1 − t0, rows, cols, K).
    Raises VideoError (one line) for frames that cannot be read, changed size, or hold NaN or
    Inf."""
    frames = read_frames(source, t0 - lead, t1, downsample=downsample, pts=pts)
    if frames.shape[1:] != (grid.height, grid.width):
        raise VideoError(f"frame size changes in {source.path}: frames {t0}-{t1 - 1} are "
                         f"{frames.shape[1:]}, frame 0 is {(grid.height, grid.width)}")
    finite = np.isfinite(frames).all(axis=(1, 2))
    if not finite.all():
        raise VideoError(f"cannot encode {source.path}: frame "
                         f"{t0 - lead + int(np.argmin(finite))} has NaN or Inf pixels")
    init = None
    if start == "causal":
        from csc.video.stream import stream

        causal = np.stack([f.codes for f in stream(model, frames, stride=grid.stride,
                                                   max_iter=causal_iter, backend=backend)])[lead:]
        if max_iter == 0:
            return causal
        init = grid.to_sequences(causal)
    frames = frames[lead:]
    Z = model.encode_patches(grid.cut(frames), max_iter=max_iter, tol=tol, backend=backend,
                             init=init)
    return grid.from_sequences(Z)


def _check_model(model) -> PixelModel:
    if not isinstance(model, PixelModel):
        raise ValueError(f"model must be a csc.PixelModel (csc.load of a learned model, or "
                         f"csc.pretrained()), got {type(model).__name__}")
    return model


def _source(video: str | Path | VideoSource) -> VideoSource:
    if isinstance(video, VideoSource):
        path, kind = video.path, video.kind
    else:
        path = Path(video)
        if not path.exists():
            raise VideoError(f"no such video file or frame folder: {path}")
        kind = "frames" if path.is_dir() else "video"
    return VideoSource(Path(path).resolve(), kind)


def prepare_encoding(model: PixelModel, video: str | Path | VideoSource, *,
                     stride: int | None = None, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                     max_iter: int | None = None, tol: float | None = None, downsample: int = 1,
                     max_frames: int | None = None, backend: str = "auto",
                     start: str = "zeros", causal_iter: int = CAUSAL_START_ITERS,
                     causal_lead: int = CAUSAL_LEAD_FRAMES) -> VideoEncoding:
    """Check the arguments, index the video (`index_frames`: one decoding pass) and return
    the plan of its encoding. Arguments as `encode_video`. Raises ValueError for bad
    arguments, VideoError (a ValueError; one line) for a video that is missing, cannot be
    read, holds no frame, or whose frames are smaller than a patch."""
    model = _check_model(model)
    p = model.patch_size
    stride = check_grid_options(model, stride, downsample, backend)
    check_number(chunk_frames, "chunk_frames", Integral, 1)
    if max_frames is not None:
        check_number(max_frames, "max_frames", Integral, 1)
    max_iter = model.coder.transform_max_iter if max_iter is None else max_iter
    tol = model.coder.transform_tol if tol is None else tol
    if start not in STARTS:
        raise ValueError(f"unknown start {start!r}; choose one of {STARTS}")
    check_number(max_iter, "max_iter", Integral, 0 if start == "causal" else 1)
    check_number(tol, "tol", Real, 0.0)
    check_number(causal_iter, "causal_iter", Integral, 1)
    check_number(causal_lead, "causal_lead", Integral, 0)
    if start != "causal" and (causal_iter, causal_lead) != (CAUSAL_START_ITERS,
                                                            CAUSAL_LEAD_FRAMES):
        raise ValueError("causal_iter and causal_lead set the causal pass: they need "
                         "start='causal'")
    source = _source(video)
    index = index_frames(source)
    height, width = index.height // downsample, index.width // downsample
    if height < p or width < p:
        after = f" after downsampling by {downsample}" if downsample > 1 else ""
        raise VideoError(f"frames of {source.path} are {height}x{width} pixels{after}, smaller "
                         f"than the model's {p}x{p} patches")
    n_frames = index.n_frames if max_frames is None else min(index.n_frames, int(max_frames))
    # a chunk longer than the video is the video: its arrays are sized by the chunk
    chunk_frames = min(int(chunk_frames), n_frames)
    return VideoEncoding(model, source, index, n_frames, PatchGrid(height, width, p, int(stride)),
                         chunk_frames, int(max_iter), float(tol), int(downsample), backend, start,
                         int(causal_iter), int(causal_lead))


def encode_video(model: PixelModel, video: str | Path | VideoSource, *,
                 stride: int | None = None, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                 max_iter: int | None = None, tol: float | None = None, downsample: int = 1,
                 max_frames: int | None = None, backend: str = "auto",
                 start: str = "zeros", causal_iter: int = CAUSAL_START_ITERS,
                 causal_lead: int = CAUSAL_LEAD_FRAMES) -> da.Array:
    """Codes of a whole video: a lazy Dask array, complex64 (T, rows, cols, K), chunked
    (chunk_frames, rows, cols, K).

    model: a `csc.PixelModel` (its patch size p, whitener and prior are used); video: a video
    file or a folder of numbered frames (anything `csc.video.reader` reads, as gray in [0, 1]);
    stride: grid step in pixels (default p // 2; see `PatchGrid`); chunk_frames: frames per
    chunk, each one task and one solve (see the module docstring for the chunk edges);
    max_iter, tol: the solve's (default the model's `transform_max_iter`, `transform_tol`);
    downsample: integer block-averaging of frames before cutting; max_frames: encode at most
    this many frames; backend: "auto" | "cpu" | "gpu", as for `csc.encode`; start: "zeros"
    (each chunk's solve from zero codes) or "causal" (from the codes of a causal pass over the
    chunk, `csc.stream` with `causal_iter` iterations a frame: far closer after a few
    iterations, so it pays with a small max_iter; with start "causal", max_iter 0 returns the
    causal pass's codes, the fastest encoding; see docs/guide/streaming.md); causal_lead: the
    causal pass of a chunk first runs over this many frames before it (fewer at the start of
    the video), so that the chunk's first frame starts from codes of the frames before it, as
    in one stream over the whole video; each chunk stays a task of its own.

    The video is indexed here (one decoding pass, which gives T exactly); frames are read when
    chunks are computed, by whatever scheduler computes them: `codes.compute()` in-process,
    or a `dask.distributed` client's. Raises as `prepare_encoding`; errors found when a chunk
    is read (frames that are NaN/Inf or cannot be decoded) are raised by the compute.
    """
    return prepare_encoding(model, video, stride=stride, chunk_frames=chunk_frames,
                            max_iter=max_iter, tol=tol, downsample=downsample,
                            max_frames=max_frames, backend=backend, start=start,
                            causal_iter=causal_iter, causal_lead=causal_lead).to_dask()
