"""Reading back the codes of whole videos from a Zarr store written by
`csc.video.code_writer.write_videos` (layout: `csc.video.code_store`): `open_codes` gives each
video's `VideoCodes`, lazy Dask arrays on the patch grid."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from csc.core.phases import DEFAULT_REL_THRESHOLD, amplitude, phase, phase_velocity
from csc.video.code_store import (
    ATTRS_KEY,
    FORMAT,
    LAYOUTS,
    VERSION,
    check_video_arrays,
    missing_chunks,
    read_finished,
)
from csc.video.grid import PatchGrid


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


__all__ = ["VideoCodes", "open_codes", "check_store_attrs"]
