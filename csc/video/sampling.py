"""A bounded cache of scene clips from a video collection, and random space-time patch sequences.

The collection is streamed once: each video is split at scene cuts, scenes are chunked into clips
of at most `clip_len` frames, and a uniform random subset of clips (reservoir sampling) is kept
within two bounds: `cache_frames` frames and `cache_bytes` bytes of float32 pixels (the frame
bound alone would hold 7 GB of 768×576 frames at its default). Memory stays flat however large
the collection: while reading, the budget plus the clip being gathered and the clip offered; no
sequence drawn from the cache spans a scene cut. A video that fails partway through gives the
frames decoded before the failure (see `csc.video.reader.read_collection`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from csc.video.reader import VideoError, read_collection
from csc.video.scenes import split_scenes

_CONSTANT_STD = 1e-4  # a clip whose pixel std is below this (on [0, 1] frames) carries no pattern
MB = 2**20  #: bytes in a megabyte of `--cache-mb`
DEFAULT_CACHE_BYTES = 1024 * MB


@dataclass
class ClipCache:
    """clips: float32 arrays (T_i, H_i, W_i), each within one scene; stats: what was read;
    weights: None, or float64 (n_clips,) relative weights of a start frame in each clip (see
    `sample_positions`)."""

    clips: list[np.ndarray]
    stats: dict = field(default_factory=dict)
    weights: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return sum(len(c) for c in self.clips)

    @property
    def nbytes(self) -> int:
        """Bytes of pixels held by the clips."""
        return sum(c.nbytes for c in self.clips)

    def start_counts(self, n_frames: int) -> np.ndarray:
        """float64 (n_clips,): how many sequences of `n_frames` frames can start in each clip."""
        return np.array([len(c) - n_frames + 1 for c in self.clips], dtype=np.float64)


class ClipReservoir:
    """A uniform random sample of the clips offered one by one, within `slots` clips and
    `max_bytes` bytes (None: no byte bound).

    The slots are filled by Vitter's Algorithm R with `rng`, drawing exactly as a frame-only
    cache does, so a byte budget never exceeded changes nothing (same clips, same order). When a
    clip takes the bytes over the budget, random clips (drawn from `budget_rng`) are removed until
    they fit and the reservoir keeps only as many slots as clips are left: a uniform sample
    subsampled uniformly is a uniform sample of the smaller size, and Algorithm R goes on from it.
    At least one clip is kept, even one larger than the budget. Attributes: `clips` (in slot
    order), `nbytes`, `seen` (clips offered), `dropped` (clips removed for the budget).
    """

    def __init__(self, slots: int, max_bytes: int | None, rng: np.random.Generator,
                 budget_rng: np.random.Generator):
        self.slots, self.max_bytes = slots, max_bytes
        self.rng, self.budget_rng = rng, budget_rng
        self.clips: list[np.ndarray] = []
        self.nbytes = self.seen = self.dropped = 0

    def offer(self, clip: np.ndarray) -> None:
        """Consider one more clip (kept by reference)."""
        self.seen += 1
        if len(self.clips) < self.slots:
            self.clips.append(clip)
        else:
            j = int(self.rng.integers(0, self.seen))
            if j >= self.slots:
                return
            self.nbytes -= self.clips[j].nbytes
            self.clips[j] = clip
        self.nbytes += clip.nbytes
        while self.max_bytes is not None and self.nbytes > self.max_bytes and len(self.clips) > 1:
            gone = self.clips.pop(int(self.budget_rng.integers(len(self.clips))))
            self.nbytes -= gone.nbytes
            self.dropped += 1
            self.slots = len(self.clips)


def build_clip_cache(root, *, n_frames: int, patch_size: int, downsample: int = 1,
                     max_frames_per_video: int | None = None, cache_frames: int = 4000,
                     cache_bytes: int | None = DEFAULT_CACHE_BYTES, clip_len: int | None = None,
                     seed: int = 0,
                     on_skip: Callable[[object, str], None] | None = None) -> ClipCache:
    """Read the collection under `root` into a `ClipCache` usable for (n_frames, p, p) sequences.

    Clips hold at most `clip_len` frames (default 4 × n_frames); a `ClipReservoir` keeps a
    uniform random sample of them within cache_frames // clip_len clips and `cache_bytes` bytes
    (None: frames only). `on_skip(source, message)` hears of every video skipped or cut short
    (`read_collection`). stats: videos read, scenes usable, clips left out as too small, too
    short or constant, `dropped_for_bytes` (clips removed to fit `cache_bytes`), largest frame
    and longest scene.
    Raises VideoError with one line when nothing usable remains: frames smaller than the patch,
    no scene as long as `n_frames`, or only constant videos.
    """
    clip_len = max(clip_len or 4 * n_frames, n_frames)
    reservoir = ClipReservoir(max(cache_frames // clip_len, 1), cache_bytes,
                              np.random.default_rng(seed), np.random.default_rng([seed, 4]))
    stats = {"videos": 0, "scenes": 0, "too_small": 0, "too_short": 0, "constant": 0,
             "largest_frame": (0, 0), "longest_scene": 0}
    for _source, frames in read_collection(root, downsample=downsample,
                                           max_frames=max_frames_per_video, on_skip=on_skip):
        stats["videos"] += 1
        for clip in split_scenes(frames, max_len=clip_len):
            h, w = clip.shape[1:]
            stats["largest_frame"] = max(stats["largest_frame"], (h, w), key=lambda s: s[0] * s[1])
            stats["longest_scene"] = max(stats["longest_scene"], len(clip))
            if h < patch_size or w < patch_size:
                stats["too_small"] += 1
                continue
            if len(clip) < n_frames:
                stats["too_short"] += 1
                continue
            if float(clip.std()) < _CONSTANT_STD:
                stats["constant"] += 1
                continue
            stats["scenes"] += 1
            reservoir.offer(np.ascontiguousarray(clip, dtype=np.float32))
    stats["dropped_for_bytes"] = reservoir.dropped
    if not reservoir.clips:
        raise VideoError(_nothing_usable(root, stats, n_frames, patch_size))
    return ClipCache(reservoir.clips, stats)


def _nothing_usable(root, stats: dict, n_frames: int, patch_size: int) -> str:
    h, w = stats["largest_frame"]
    if stats["too_small"] and not (stats["too_short"] or stats["constant"]):
        return (f"frames in {root} are smaller than the patch: largest frame {h}x{w} < "
                f"{patch_size}x{patch_size} (use a smaller --patch-size or less downsampling)")
    if stats["too_short"] and not stats["constant"]:
        return (f"no scene in {root} is {n_frames} frames long (longest: "
                f"{stats['longest_scene']} frames); use a smaller --n-frames")
    if stats["constant"]:
        return f"every usable video in {root} is constant (no contrast to learn from)"
    return f"no usable video in {root}"


def sample_positions(cache: ClipCache, n_sequences: int, n_frames: int, patch_size: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Where to cut random sequences: int32 (n_sequences, 4) rows (clip, t0, y0, x0).

    A clip is drawn with probability proportional to its number of start frames (times its
    `cache.weights`, when set), then a start frame and a position uniformly. Reproducible from
    `rng`.
    """
    starts = cache.start_counts(n_frames)
    if np.any(starts < 1):
        raise ValueError(f"a cached clip is shorter than n_frames={n_frames}")
    if cache.weights is not None:
        starts = starts * cache.weights
    which = rng.choice(len(cache.clips), size=n_sequences, p=starts / starts.sum())
    pos = np.empty((n_sequences, 4), dtype=np.int32)
    for i, c in enumerate(which):
        clip = cache.clips[c]
        pos[i] = (c, rng.integers(0, len(clip) - n_frames + 1),
                  rng.integers(0, clip.shape[1] - patch_size + 1),
                  rng.integers(0, clip.shape[2] - patch_size + 1))
    return pos


def sample_sequences(cache: ClipCache, n_sequences: int, n_frames: int, patch_size: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Random space-time sequences float32 (n_sequences, n_frames, p, p) from the cache (host).

    `DeviceClips.sample` draws the same sequences from the same `rng` on the GPU.
    """
    return cut_sequences(cache, sample_positions(cache, n_sequences, n_frames, patch_size, rng),
                         n_frames, patch_size)


def cut_sequences(cache: ClipCache, positions: np.ndarray, n_frames: int, patch_size: int
                  ) -> np.ndarray:
    """The sequences float32 (n, n_frames, p, p) at `positions` int (n, 4) rows (clip, t0, y0,
    x0) of `sample_positions`."""
    out = np.empty((len(positions), n_frames, patch_size, patch_size), dtype=np.float32)
    for i, (c, t, y, x) in enumerate(positions):
        out[i] = cache.clips[c][t:t + n_frames, y:y + patch_size, x:x + patch_size]
    return out


class DeviceClips:
    """The cache's clips resident on the GPU (one flat buffer) and a gather kernel to cut
    sequences there: only the (n_sequences, 4) positions cross from the host per batch."""

    def __init__(self, cache: ClipCache, backend):
        self.cache, self.backend = cache, backend
        sizes = [c.size for c in cache.clips]
        self.frames = backend.asarray(np.concatenate([c.ravel() for c in cache.clips]))
        self.offset = backend.asarray(np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64))
        self.height = backend.asarray(np.array([c.shape[1] for c in cache.clips], np.int32))
        self.width = backend.asarray(np.array([c.shape[2] for c in cache.clips], np.int32))

    def sample(self, n_sequences: int, n_frames: int, patch_size: int, rng: np.random.Generator):
        """float32 (n_sequences, n_frames, p, p) on the device, as `sample_sequences` would."""
        return self.cut(sample_positions(self.cache, n_sequences, n_frames, patch_size, rng),
                        n_frames, patch_size)

    def cut(self, positions: np.ndarray, n_frames: int, patch_size: int):
        """float32 (n, n_frames, p, p) on the device, as `cut_sequences` would."""
        pos = self.backend.asarray(positions)
        cols = [self.backend.xp.ascontiguousarray(pos[:, j]) for j in range(4)]
        return self.backend.ops.sample_patches(self.frames, self.offset, self.height, self.width,
                                               *cols, n_frames, patch_size)
