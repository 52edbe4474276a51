"""Codes of whole videos in a Zarr store (zarr v3): writing them chunk by chunk, resumably, and
reading them back (`open_codes`).

Layout of a store (`csc-encode-video VIDEO... --out codes.zarr`):

    codes.zarr/                  root group; attrs["csc_codes"]: format, version, the run's
                                 settings and model (what a later run must match)
      <video>/                   one group per video, named from the file stem (made unique)
        amplitude                float32 (T, rows, cols, K), chunks (chunk_frames, rows, cols, K)
        phase                    float32, the same; in (−π, π]   (layout "amplitude-phase")
        codes                    complex64, the same             (layout "codes", instead)
        finished                 bool (n_chunks,), chunks (1,): chunk i's arrays are written
      attrs["csc_codes"] of a video group: source (absolute path), source_kind, source_sha256
        (`source_digest`: a rerun on another video at that path is refused), n_frames,
        grid (`PatchGrid.to_attrs`: sizes, stride, rows, cols, the patches' top-left corners),
        settings (stride, chunk_frames, max_iter, tol, downsample, max_frames, backend,
        layout, prior, csc_version), model (digest: `model_digest`; sha256 and path of the
        model file when known; patch_size, n_components), csc_version. Grid coordinates are
        pixels of the frames after downsampling.

Arrays are filled with NaN until written, so a chunk never computed reads as NaN, never as
codes of 0. A chunk task (`write_chunk`) writes its arrays and then its `finished` flag; every
Zarr write is atomic (a temporary renamed into place), so after a kill the flags name exactly
the chunks that are complete, and a rerun computes only the others (`pending_chunks`; and a
flagged chunk whose data are gone). Every chunk task first checks that the video it read is
the one the run was planned on (`source_stamp`), so a worker seeing another file writes
nothing. Codes
depend only on the chunk's frames and the settings, so the resumed store equals an
uninterrupted run's byte for byte. A video group gets its attributes last: a group without them
was cut short while being created, and is created again.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import zarr
from dask.delayed import Delayed

from csc.core.phases import DEFAULT_REL_THRESHOLD, amplitude, phase, phase_velocity
from csc.run_folder import exclusive_lock
from csc.versioning import __version__, code_fingerprint
from csc.video.encode_video import (
    CAUSAL_LEAD_FRAMES,
    CAUSAL_START_ITERS,
    DEFAULT_CHUNK_FRAMES,
    PatchGrid,
    VideoEncoding,
    prepare_encoding,
)
from csc.video.pixel_model import PixelModel
from csc.video.reader import VideoSource, frame_files

__all__ = ["LAYOUTS", "VideoCodes", "open_codes", "check_store_attrs", "write_videos",
           "StoreWrite", "StoreMismatch",
           "group_names", "file_sha256", "model_digest", "run_attrs", "video_attrs",
           "create_video_group", "pending_chunks", "write_chunk", "write_tasks", "compute_tasks",
           "remove_store"]

FORMAT = "csc-codes"
VERSION = 1
ATTRS_KEY = "csc_codes"
#: "amplitude-phase": float32 `amplitude` and `phase` arrays; "codes": one complex64 `codes`
LAYOUTS = ("amplitude-phase", "codes")
DIMENSIONS = ("frame", "row", "col", "unit")


class StoreMismatch(ValueError):
    """An existing store (or video group) was written with other settings, another model or
    another video; str() is one line naming the first difference."""


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def source_digest(source: VideoSource) -> str:
    """Hex SHA-256 of what a video is: a file's bytes, or a frame folder's image names and
    bytes in order. Stored with the video's group, so a rerun on another video at the same path
    is refused rather than mixed into the store."""
    if source.kind != "frames":
        return file_sha256(source.path)
    h = hashlib.sha256()
    for f in frame_files(source.path):
        h.update(f.name.encode())
        h.update(bytes.fromhex(file_sha256(f)))
    return h.hexdigest()


def source_stamp(source: VideoSource) -> list[int]:
    """[files, bytes, latest modification in ns] of a video's file(s): what every chunk task
    checks before writing, so a worker that sees another file at the same path (or a video
    changed during the run) writes nothing."""
    files = frame_files(source.path) if source.kind == "frames" else [Path(source.path)]
    stats = [f.stat() for f in files]
    return [len(stats), sum(st.st_size for st in stats), max(st.st_mtime_ns for st in stats)]


def model_digest(model: PixelModel) -> str:
    """Hex SHA-256 of what decides a model's codes: its dictionary, its whitener's arrays and
    its prior (the same for a model and its saved and reloaded copy)."""
    h = hashlib.sha256(np.ascontiguousarray(model.components_).tobytes())
    for key, value in sorted(model.whitener.to_arrays().items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(value).tobytes())
    h.update(json.dumps(model.coder.prior().as_dict(), sort_keys=True).encode())
    return h.hexdigest()


def group_names(paths: Sequence[str | Path]) -> list[str]:
    """A group name per video, in order: the file stem (the folder name for a frame folder),
    characters other than letters, digits, '.', '-' and '_' replaced by '_', made unique with
    suffixes _2, _3, ... (the same arguments always give the same names)."""
    names: list[str] = []
    for path in paths:
        p = Path(path)
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", p.stem if p.suffix else p.name)
        stem = stem.lstrip("._") or "video"
        name, n = stem, 1
        while name in names:
            n += 1
            name = f"{stem}_{n}"
        names.append(name)
    return names


def run_attrs(settings: dict, model: dict) -> dict:
    """The root group's attributes: what every later run on the store must match."""
    return {"format": FORMAT, "version": VERSION, "settings": settings, "model": model}


def video_attrs(encoding: VideoEncoding, settings: dict, model: dict) -> dict:
    """A video group's attributes: the run's `settings` and `model` (JSON-able dicts, e.g. the
    model file's {"sha256": ...}) with the video's source, frame count, grid and the solve's
    own settings (`VideoEncoding.settings`)."""
    return {"format": FORMAT, "version": VERSION, "csc_version": __version__,
            "source": str(encoding.source.path), "source_kind": encoding.source.kind,
            "source_sha256": source_digest(encoding.source),
            "n_frames": encoding.n_frames, "n_chunks": len(encoding.chunks),
            "grid": encoding.grid.to_attrs(),
            "settings": {**settings, **encoding.settings()},
            "model": {**model, "patch_size": encoding.model.patch_size,
                      "n_components": encoding.n_components}}


#: attributes that may differ between runs on one store: where the model came from. A model
#: is identified by its content (`model_digest`), so the same model passed as an object, loaded
#: from its file, or from a moved or re-saved copy writes the same store; the file's path and
#: sha256 are kept as provenance.
UNCHECKED = frozenset({"model.path", "model.sha256"})


def _first_difference(stored: Any, wanted: Any, where: str = "") -> str | None:
    """Where two JSON documents first differ ("settings.stride: 8 stored, 4 now"), or None."""
    if where in UNCHECKED:
        return None
    if isinstance(stored, dict) and isinstance(wanted, dict):
        for key in sorted(set(stored) | set(wanted)):
            diff = _first_difference(stored.get(key), wanted.get(key),
                                     f"{where}.{key}" if where else key)
            if diff:
                return diff
        return None
    if stored != wanted:
        if isinstance(stored, list) and isinstance(wanted, list):
            return f"{where} differs"
        return f"{where}: {_short(stored)} stored, {_short(wanted)} now"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text[:16] + "…'" if isinstance(value, str) and len(text) > 20 else text


def check_attrs(stored: dict | None, wanted: dict, what: str) -> None:
    """StoreMismatch naming the first difference between a store's attributes and a run's."""
    if stored is None:
        raise ValueError(f"{what} is not a csc code store (no {ATTRS_KEY!r} attributes)")
    wanted = _plain(wanted)
    diff = _first_difference(stored, wanted)
    if diff:
        raise StoreMismatch(f"{what} was written with other settings or another model "
                            f"({diff})")


def _plain(doc: dict) -> dict:
    """`doc` as it reads back from JSON (tuples as lists, ints as ints)."""
    return json.loads(json.dumps(doc))


def open_root(store: str | Path, attrs: dict, *, create: bool) -> zarr.Group:
    """The store's root group, checked against the run's `attrs` (`run_attrs`), or created
    with them when `create` and it does not exist. StoreMismatch when it holds others."""
    store = Path(store)
    if (store / "zarr.json").exists():
        root = zarr.open_group(store, mode="r+")
        check_attrs(root.attrs.get(ATTRS_KEY), attrs, str(store))
        return root
    if not create:
        raise ValueError(f"{store} is not a Zarr store")
    if store.exists() and (not store.is_dir() or any(store.iterdir())):
        raise ValueError(f"{store} exists and is not a Zarr store; choose another --out")
    # one write of zarr.json, attributes included: a kill leaves no store without them
    return zarr.open_group(store, mode="w", attributes={ATTRS_KEY: _plain(attrs)})


def remove_store(store: str | Path) -> None:
    """Delete a Zarr store (a folder holding zarr.json) or an empty folder; refuses anything
    else, so that --force never deletes a folder that is not a store."""
    store = Path(store)
    if not store.exists():
        return
    if store.is_dir() and ((store / "zarr.json").is_file() or not any(store.iterdir())):
        shutil.rmtree(store)
        return
    raise ValueError(f"{store} is not a Zarr store; not deleting it (choose another --out)")


def _array_names(layout: str) -> tuple[str, ...]:
    return ("codes",) if layout == "codes" else ("amplitude", "phase")


def create_video_group(root: zarr.Group, name: str, encoding: VideoEncoding, attrs: dict,
                       layout: str) -> zarr.Group:
    """The group of one video in `root`: checked against `attrs` (`video_attrs`) when it
    exists complete, else (re)created with its arrays (NaN-filled), its `finished` flags and,
    last, the attributes. StoreMismatch when it holds another video or other settings."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    if name in root:
        group = root[name]
        stored = group.attrs.get(ATTRS_KEY)
        if stored is not None:
            check_attrs(stored, attrs, f"{root.store}/{name}")
            check_video_arrays(group, stored, f"{root.store}/{name}")
            return group
        del root[name]  # cut short while being created
    group = root.create_group(name)
    T, rows, cols, K = encoding.shape
    chunks = (encoding.chunk_frames, rows, cols, K)
    for array in _array_names(layout):
        dtype = np.complex64 if array == "codes" else np.float32
        group.create_array(array, shape=(T, rows, cols, K), chunks=chunks, dtype=dtype,
                           fill_value=np.nan, dimension_names=DIMENSIONS)
    group.create_array("finished", shape=(len(encoding.chunks),), chunks=(1,), dtype=bool,
                       fill_value=False)
    group.attrs[ATTRS_KEY] = _plain(attrs)
    return group


#: the name of a temporary Zarr's atomic write leaves when killed: the file's name with its
#: suffix replaced by ".<uuid4 hex>.partial"
ZARR_TEMPORARY = re.compile(r"\.[0-9a-f]{32}\.partial$")


def _is_zarr_temporary(path: Path) -> bool:
    return path.is_file() and ZARR_TEMPORARY.search(path.name) is not None


def remove_partials(store: str | Path) -> int:
    """Delete the temporaries Zarr's atomic writes leave when a process is killed mid-write,
    in a store or in a folder that holds nothing else (a store killed while its first file was
    written); returns how many. Only while no other process writes the store."""
    store = Path(store)
    if not store.is_dir() or not ((store / "zarr.json").is_file()
                                  or all(map(_is_zarr_temporary, store.iterdir()))):
        return 0
    n = 0
    for tmp in store.rglob("*.partial"):
        if _is_zarr_temporary(tmp):
            tmp.unlink(missing_ok=True)
            n += 1
    return n


def read_finished(group: zarr.Group, where: str) -> np.ndarray:
    """The `finished` flags bool (n_chunks,) of a video group; ValueError (one line naming
    `where`) when they are missing or cannot be decoded (a damaged store)."""
    if "finished" not in group:
        raise ValueError(f"{where}: its 'finished' array is missing (a damaged store; --force "
                         f"rewrites it)")
    try:
        return np.asarray(group["finished"][...], dtype=bool)
    except Exception as exc:  # noqa: BLE001 -- any codec's error on damaged bytes
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(f"{where}: its 'finished' flags cannot be read ({type(exc).__name__}"
                         f"{': ' + line if line else ''}; a damaged store; --force rewrites "
                         f"it)") from None


def check_video_arrays(group: zarr.Group, attrs: dict, where: str) -> None:
    """ValueError (one line) unless a video group holds its layout's arrays with the shape its
    attributes give, (n_frames, rows, cols, units), and `finished` with one flag a chunk."""
    grid = PatchGrid.from_attrs(attrs["grid"])
    n_units = attrs.get("model", {}).get("n_components")
    expected = (int(attrs["n_frames"]), grid.rows, grid.cols, n_units)
    for name in _array_names(attrs["settings"]["layout"]):
        if name not in group:
            raise ValueError(f"{where}: its {name!r} array is missing (a damaged store)")
        if tuple(group[name].shape) != expected:
            raise ValueError(f"{where}: its {name!r} array has shape {tuple(group[name].shape)}, "
                             f"expected {expected} (a damaged store)")
    n_chunks = attrs.get("n_chunks")
    if "finished" in group and n_chunks is not None and group["finished"].shape != (n_chunks,):
        raise ValueError(f"{where}: its 'finished' array has shape {group['finished'].shape}, "
                         f"expected ({n_chunks},) (a damaged store)")


def missing_chunks(group: zarr.Group, root: Path, finished: np.ndarray) -> list[int]:
    """The chunks flagged finished whose data are not in the store at `root` (a chunk file
    deleted or lost): without this they would read as NaN in a store called complete."""
    layout = group.attrs[ATTRS_KEY]["settings"]["layout"]
    arrays = [group[name] for name in _array_names(layout)]
    return [int(i) for i in np.flatnonzero(finished)
            if not all((root / a.path / a.metadata.encode_chunk_key((int(i), 0, 0, 0))).is_file()
                       for a in arrays)]


def pending_chunks(group: zarr.Group, root: Path | None = None) -> list[int]:
    """The chunks of a video group still to compute, in order: those whose `finished` flag is
    not set and, given the store's folder `root`, those flagged whose data are missing."""
    where = f"{root}/{group.basename}" if root is not None else group.basename
    finished = read_finished(group, where)
    lost = set(missing_chunks(group, root, finished)) if root is not None else set()
    return [int(i) for i in range(len(finished)) if not finished[i] or i in lost]


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


# ----------------------------------------------------------------------------- reading
@dataclass
class VideoCodes:
    """The codes of one video in a store, read lazily.

    Arrays are Dask arrays (T, rows, cols, K) on the patch grid (frame, grid row, grid column,
    unit), chunked as stored; `.compute()` or `np.asarray` gives NumPy. `csc.analysis` takes
    sequences (n_sequences, T, K): `sequences(a)` reshapes any of them so (n_sequences =
    rows · cols, one per grid position, row-major).
    """

    name: str
    group: zarr.Group

    @cached_property
    def attrs(self) -> dict:
        """Everything stored about the video: source, n_frames, grid, settings, model."""
        return dict(self.group.attrs[ATTRS_KEY])

    @property
    def source(self) -> str:
        return self.attrs["source"]

    @property
    def n_frames(self) -> int:
        return int(self.attrs["n_frames"])

    @cached_property
    def grid(self) -> PatchGrid:
        return PatchGrid.from_attrs(self.attrs["grid"])

    @property
    def layout(self) -> str:
        return self.attrs["settings"]["layout"]

    @property
    def finished(self) -> np.ndarray:
        """bool (n_chunks,): which chunks are written."""
        return self.group["finished"][...]

    @property
    def complete(self) -> bool:
        return bool(self.finished.all())

    def _stored(self, name: str) -> da.Array:
        return da.from_zarr(self.group[name])

    @cached_property
    def amplitude(self) -> da.Array:
        """|z|: float32 (T, rows, cols, K)."""
        if self.layout == "codes":
            return self._stored("codes").map_blocks(amplitude, dtype=np.float32)
        return self._stored("amplitude")

    @cached_property
    def phase(self) -> da.Array:
        """arg z in (−π, π]: float32 (T, rows, cols, K) (0 where z = 0)."""
        if self.layout == "codes":
            return self._stored("codes").map_blocks(phase, dtype=np.float32)
        return self._stored("phase")

    def codes(self) -> da.Array:
        """z = a·e^{iφ}: complex64 (T, rows, cols, K) (the stored codes with layout "codes";
        rebuilt from amplitude and phase otherwise, equal to the encoded codes up to float32
        rounding)."""
        if self.layout == "codes":
            return self._stored("codes")
        return da.map_blocks(_polar, self.amplitude, self.phase, dtype=np.complex64)

    def phase_velocity(self, threshold: Any = None, *,
                       rel_threshold: float = DEFAULT_REL_THRESHOLD) -> tuple[da.Array, da.Array]:
        """Phase change of every unit between consecutive frames, and where it is meaningful
        (`csc.core.phases.phase_velocity`, frame pair by frame pair): delta float32 and
        mask bool, both (T − 1, rows, cols, K); delta[t] = wrap(φ_{t+1} − φ_t). threshold:
        None → per unit, rel_threshold × the unit's largest amplitude over the whole video
        (computed here: one pass over the amplitudes); a float or (K,) array → absolute.
        Pairs across a chunk edge are included: their codes were solved without a slowness
        link, but both phases are those of their frames."""
        if self.n_frames < 2:
            raise ValueError(f"{self.name} has {self.n_frames} frame: no phase velocity")
        if threshold is None:  # (NaN-aware: chunks not written yet read as NaN)
            threshold = rel_threshold * da.nanmax(self.amplitude, axis=(0, 1, 2)).compute()
        threshold = np.asarray(threshold, dtype=float)
        z = self.codes()
        cur = z[1:]
        prev = z[:-1].rechunk(cur.chunks)
        parts = [da.map_blocks(_pair_velocity, cur, prev, threshold=threshold, part=part,
                               dtype=dtype) for part, dtype in ((0, np.float32), (1, bool))]
        return parts[0], parts[1]

    def sequences(self, a: Any) -> np.ndarray:
        """An array (T, rows, cols, ...) of this video (Dask or NumPy) as NumPy
        (rows · cols, T, ...), the sequences `csc.analysis` takes."""
        return self.grid.to_sequences(np.asarray(a))


def _polar(a: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return (a * np.exp(1j * phi)).astype(np.complex64)


def _pair_velocity(cur: np.ndarray, prev: np.ndarray, threshold: np.ndarray,
                   part: int) -> np.ndarray:
    """`phase_velocity` of each (frame t, frame t + 1) pair of codes: prev, cur (n, rows, cols,
    K) → delta (part 0) or mask (part 1), (n, rows, cols, K)."""
    K = cur.shape[-1]
    pairs = np.stack([prev, cur], axis=-2).reshape(-1, 2, K)
    return phase_velocity(pairs, threshold)[part].reshape(cur.shape)


#: what a video group's attributes must hold besides the store's (`video_attrs`)
_VIDEO_KEYS = ("source", "n_frames", "grid")


def check_store_attrs(doc: Any, where: str, *, video: bool = False) -> None:
    """ValueError (one line naming `where`) unless `doc`, the csc attributes of a store's root
    (or of a video group: `video`), are this csc's: format `FORMAT`, a version it reads, a known
    layout, and (a video's) source, frame count and grid."""
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: its {ATTRS_KEY!r} attributes are not a mapping")
    if doc.get("format") != FORMAT:
        raise ValueError(f"{where} is not a csc code store (format {doc.get('format')!r}, "
                         f"expected {FORMAT!r})")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{where}: codes version {version!r} is not a version number")
    if version > VERSION:
        raise ValueError(f"{where} was written by a newer csc (codes version {version}; this "
                         f"csc reads up to {VERSION}): upgrade csc to read it")
    settings = doc.get("settings")
    layout = settings.get("layout") if isinstance(settings, dict) else None
    if layout not in LAYOUTS:
        raise ValueError(f"{where}: unknown layout {layout!r} (this csc reads {LAYOUTS})")
    missing = [key for key in _VIDEO_KEYS if key not in doc] if video else []
    if missing:
        raise ValueError(f"{where}: its {ATTRS_KEY!r} attributes lack {', '.join(missing)}")


def open_codes(path: str | Path, video: str | None = None,
               ) -> VideoCodes | dict[str, VideoCodes]:
    """The videos of a code store: {group name: VideoCodes} in name order, or the one named
    `video`. Raises ValueError (one line) when `path` is not a csc code store or has no such
    video; a video whose chunks are not all written opens (its `complete` is False, its
    missing frames read as NaN)."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        raise ValueError(f"{path} is not a Zarr store (no zarr.json)")
    try:
        root = zarr.open_group(path, mode="r")
        groups = sorted(root.groups())
    except (ValueError, KeyError, TypeError) as exc:  # a zarr.json that is not valid JSON/Zarr
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: a zarr.json of the store cannot be read: {line}") from None
    if ATTRS_KEY not in root.attrs:
        raise ValueError(f"{path} is not a csc code store (no {ATTRS_KEY!r} attributes)")
    check_store_attrs(root.attrs[ATTRS_KEY], str(path))
    videos = {}
    for name, group in groups:
        if ATTRS_KEY in group.attrs:
            where = f"{path}/{name}"
            check_store_attrs(group.attrs[ATTRS_KEY], where, video=True)
            check_video_arrays(group, group.attrs[ATTRS_KEY], where)
            lost = missing_chunks(group, path, read_finished(group, where))
            if lost:
                raise ValueError(f"{where}: chunks {lost[:5]} are flagged finished but their "
                                 f"data are missing (a damaged store; rerun the encoding to "
                                 f"compute them again)")
            videos[name] = VideoCodes(name, group)
    if video is None:
        return videos
    if video not in videos:
        raise ValueError(f"{path} holds no video {video!r} (it holds: "
                         f"{', '.join(videos) or 'none'})")
    return videos[video]
