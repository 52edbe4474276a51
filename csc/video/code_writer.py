"""Writing the codes of whole videos into a Zarr store (`csc.video.code_store` gives its
layout), chunk by chunk and resumably: `write_videos` plans the chunk tasks, runs them in this
process or on a Dask cluster, and reads the store back."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np
import zarr
from dask.delayed import Delayed

from csc.core.phases import amplitude, phase
from csc.run_folder import exclusive_lock
from csc.versioning import __version__, code_fingerprint
from csc.video.code_reader import VideoCodes, open_codes
from csc.video.code_store import (
    LAYOUTS,
    create_video_group,
    file_sha256,
    group_names,
    model_digest,
    open_root,
    pending_chunks,
    remove_partials,
    remove_store,
    run_attrs,
    source_stamp,
    video_attrs,
)
from csc.video.encode_video import (
    CAUSAL_LEAD_FRAMES,
    CAUSAL_START_ITERS,
    DEFAULT_CHUNK_FRAMES,
    VideoEncoding,
    prepare_encoding,
)
from csc.video.pixel_model import PixelModel
from csc.video.reader import VideoSource


def write_chunk(codes: np.ndarray, store: str, name: str, index: int, t0: int,
                layout: str, source: VideoSource | None = None,
                stamp: list[int] | None = None, csc_fingerprint: str | None = None) -> int:
    """The task that stores chunk `index` (frames t0 ..., codes complex64 (n, rows, cols, K))
    of video group `name`: its arrays (`amplitude` and `phase` from `csc.core.phases`, or
    `codes`), then its `finished` flag. With `source` and `stamp` (`source_stamp` when the run
    was planned), nothing is written unless the video this task read is still that one; with
    `csc_fingerprint` (the planning process's `code_fingerprint`), unless this process runs the
    same csc: ValueError otherwise. Returns `index`."""
    if csc_fingerprint is not None and csc_fingerprint != code_fingerprint():
        raise ValueError(f"a Dask worker runs another csc ({code_fingerprint()}) than the "
                         f"process that planned the encoding ({csc_fingerprint}): nothing written")
    if source is not None and source_stamp(source) != stamp:
        raise ValueError(f"the video {source.path} is not the file this run was planned on "
                         f"(its size or modification time differ here): nothing written")
    group = zarr.open_group(store, path=name, mode="r+")
    stop = t0 + len(codes)
    if layout == "codes":
        group["codes"][t0:stop] = codes
    else:
        group["amplitude"][t0:stop] = amplitude(codes)
        group["phase"][t0:stop] = phase(codes)
    group["finished"][index] = True
    return index


def write_tasks(encoding: VideoEncoding, store: str | Path, name: str, layout: str,
                chunks: Sequence[int] | None = None) -> list[Delayed]:
    """One Dask task per chunk to compute (all by default): encode it, then `write_chunk`."""
    encode = encoding.chunk_tasks()
    write = dask.delayed(write_chunk, pure=False)
    chunks = range(len(encode)) if chunks is None else chunks
    stamp = source_stamp(encoding.source)
    return [write(encode[i], str(store), name, i, encoding.chunks[i][0], layout,
                  encoding.source, stamp, code_fingerprint()) for i in chunks]


def compute_tasks(tasks: Sequence[Delayed], *, client=None, scheduler: str = "sync",
                  on_done: Callable[[int], None] | None = None) -> None:
    """Compute `tasks`, calling `on_done(i)` as task i finishes (a progress bar's update).

    client: a `dask.distributed.Client` (tasks run on its workers, results come back as they
    finish; on the first error the rest is cancelled and the error raised), or None to run
    in-process with Dask's `scheduler` ("sync" or "threads")."""
    if not tasks:
        return
    if client is not None:
        from distributed import as_completed

        futures = client.compute(list(tasks))
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                future.result()
                if on_done:
                    on_done(index[future.key])
        except BaseException:
            client.cancel(futures)
            raise
        return
    from dask.callbacks import Callback

    index = {t.key: i for i, t in enumerate(tasks)}

    class Progress(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if key in index and on_done:
                on_done(index[key])

    with Progress():
        dask.compute(*tasks, scheduler=scheduler)


@dataclass
class StoreWrite:
    """What `write_videos` did: the videos' groups (name → VideoCodes), chunks in all, chunks
    computed by this call (the others were already written), frames they hold, seconds."""

    videos: dict[str, VideoCodes]
    n_chunks: int
    n_computed: int
    frames_computed: int
    seconds: float


def write_videos(model: PixelModel, videos: Sequence[str | Path], out: str | Path, *,
                 model_file: str | Path | None = None, layout: str = "amplitude-phase",
                 stride: int | None = None, chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                 max_iter: int | None = None, tol: float | None = None, downsample: int = 1,
                 max_frames: int | None = None, backend: str = "auto", start: str = "zeros",
                 causal_iter: int = CAUSAL_START_ITERS, causal_lead: int = CAUSAL_LEAD_FRAMES,
                 force: bool = False, client=None, scheduler: str = "sync",
                 progress: bool = False) -> StoreWrite:
    """Encode videos into the Zarr store `out`, one group each (`group_names`), resuming a
    store that an interrupted call with the same arguments left.

    model: a `csc.PixelModel`; model_file: the file it was loaded from, whose sha256 the store
    records beside `model_digest(model)` (None: the digest only); layout: "amplitude-phase"
    (float32 `amplitude` and `phase`) or "codes" (complex64 `codes`); stride ... backend,
    start, causal_iter, causal_lead: as `csc.encode_video`; force: delete an existing store
    (only a Zarr store or an empty folder) after every video has been indexed, instead of
    refusing one written with other settings;
    client: a `dask.distributed.Client` to compute on, or None for Dask's in-process
    `scheduler` ("sync": a chunk at a time, each using every core; or "threads"); progress: a
    progress bar over frames (tqdm), moved as each chunk is written.
    The store is locked while written (`csc.run_folder.exclusive_lock` on OUT.lock beside it).
    Raises StoreMismatch (a ValueError, one line) for a store written with other settings or
    another model, RunError when another process writes it, ValueError / VideoError for bad
    arguments and videos, and what a chunk raises (VideoError for unreadable or NaN frames).
    """
    from tqdm import tqdm

    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    encodings = [prepare_encoding(model, v, stride=stride, chunk_frames=chunk_frames,
                                  max_iter=max_iter, tol=tol, downsample=downsample,
                                  max_frames=max_frames, backend=backend, start=start,
                                  causal_iter=causal_iter, causal_lead=causal_lead)
                 for v in videos]
    if not encodings:
        raise ValueError("no videos to encode")
    first = encodings[0]
    settings = {**first.settings(), "stride": first.grid.stride, "max_frames": max_frames,
                "layout": layout, "csc_version": __version__}
    model_info = {"digest": model_digest(model)}
    if model_file is not None:
        model_info.update(sha256=file_sha256(model_file), path=str(Path(model_file).resolve()))
    # the store is what the path names: a relative path means the same to every worker, and a
    # link and its target share one lock (and --force deletes the target, not the link)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out.with_name(out.name + ".lock"), out):
        remove_partials(out)
        if force:
            remove_store(out)
        root = open_root(out, run_attrs(settings, model_info), create=True)
        names = group_names([e.source.path for e in encodings])
        tasks, task_frames, n_chunks, n_frames = [], [], 0, 0
        for name, encoding in zip(names, encodings):
            attrs = video_attrs(encoding, settings, model_info)
            group = create_video_group(root, name, encoding, attrs, layout)
            pending = pending_chunks(group, out)
            tasks += write_tasks(encoding, out, name, layout, pending)
            task_frames += [encoding.chunks[i][1] - encoding.chunks[i][0] for i in pending]
            n_chunks += len(encoding.chunks)
            n_frames += encoding.n_frames
        frames = sum(task_frames)
        # frames, not chunks: the rate and the time left are per frame whatever the chunks'
        # sizes; the bar moves when a chunk (one solve) is written, which its label says
        bar = tqdm(total=n_frames, initial=n_frames - frames, unit="frame",
                   desc=f"encoding ({len(tasks)} of {n_chunks} chunks to solve; the bar moves "
                        f"as each is written)", disable=not progress)
        start = time.perf_counter()
        try:
            compute_tasks(tasks, client=client, scheduler=scheduler,
                          on_done=lambda i: bar.update(task_frames[i]))
        finally:
            bar.close()
        seconds = time.perf_counter() - start
    stored = open_codes(out)
    return StoreWrite({name: stored[name] for name in names}, n_chunks, len(tasks), frames,
                      seconds)


__all__ = ["StoreWrite", "write_videos", "write_chunk", "write_tasks", "compute_tasks"]
