"""Codes of whole videos in a Zarr store (zarr v3): the store's format, its attributes and the
bookkeeping of its chunks. Writing a store is `csc.video.code_writer` (`write_videos`),
reading it back `csc.video.code_reader` (`open_codes`).

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from csc.versioning import __version__
from csc.video.encode_video import VideoEncoding
from csc.video.grid import PatchGrid
from csc.video.pixel_model import PixelModel
from csc.video.reader import VideoSource, frame_files

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


__all__ = ["FORMAT", "VERSION", "ATTRS_KEY", "LAYOUTS", "DIMENSIONS", "StoreMismatch",
           "file_sha256", "source_digest", "source_stamp", "model_digest", "group_names",
           "run_attrs", "video_attrs", "check_attrs", "open_root", "remove_store",
           "create_video_group", "remove_partials", "read_finished", "check_video_arrays",
           "missing_chunks", "pending_chunks"]
