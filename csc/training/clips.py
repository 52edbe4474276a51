"""The clip cache a training run samples from: its videos, and the synthetic camera's clips over
natural stills beside them, within the run's byte and frame budgets. Deterministic from the
run's `TrainConfig`."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from csc.resources import stills_dir
from csc.training.config import TrainConfig
from csc.video.camera import camera_clips, load_stills
from csc.video.sampling import MB, ClipCache, build_clip_cache

log = logging.getLogger("csc.train")


def build_cache(cfg: TrainConfig) -> ClipCache:
    """The clip cache of the run (deterministic from the config), within `cache_mb` megabytes in
    all: the real clips get what the synthetic camera's clips leave of it."""
    def skipped(source, message):
        log.warning("skipped %s", message)

    budget = cfg.cache_mb * MB
    video_budget = max(budget - (_camera_nbytes(cfg) if cfg.camera_share > 0 else 0), 0)
    cache = build_clip_cache(cfg.video_dir, n_frames=cfg.n_frames, patch_size=cfg.patch_size,
                             downsample=cfg.downsample,
                             max_frames_per_video=cfg.max_frames_per_video,
                             cache_frames=cfg.cache_frames, cache_bytes=video_budget,
                             seed=cfg.seed, on_skip=skipped)
    log.info("clip cache: %d clips, %d frames, %.1f MB of a %.1f MB budget for video (--cache-mb "
             "%d in all) (%s)", len(cache.clips), cache.n_frames, cache.nbytes / MB,
             video_budget / MB, cfg.cache_mb, cache.stats)
    if cfg.camera_share > 0:
        add_camera_clips(cache, cfg)
    return cache


def _camera_layout(cfg: TrainConfig, n_frames_total: int, max_bytes: int) -> tuple[int, int, int]:
    """(n_clips, clip_len, size) of synthetic camera clips (float32 (clip_len, size, size)):
    clips of 2 × n_frames frames of max(4 × patch, 64) pixels square, as many as hold about
    `n_frames_total` frames and at most `max_bytes` bytes (at least one)."""
    clip_len = 2 * cfg.n_frames
    size = max(4 * cfg.patch_size, 64)
    fitting = max_bytes // (clip_len * size * size * np.dtype(np.float32).itemsize)
    return max(min(round(n_frames_total / clip_len), fitting), 1), clip_len, size


def _camera_share(cfg: TrainConfig) -> tuple[int, int]:
    """(frames, bytes) the synthetic camera may fill: `camera_share` of `cache_frames` and of
    `cache_mb`."""
    return round(cfg.camera_share * cfg.cache_frames), int(cfg.camera_share * cfg.cache_mb * MB)


def _camera_nbytes(cfg: TrainConfig) -> int:
    """Bytes of the clips `add_camera_clips` adds to the run's cache."""
    n_clips, clip_len, size = _camera_layout(cfg, *_camera_share(cfg))
    return n_clips * clip_len * size * size * np.dtype(np.float32).itemsize


def stills_folder(cfg: TrainConfig) -> str | Path:
    """The folder of the run's stills: `cfg.stills`, else the bundled ones."""
    return cfg.stills if cfg.stills is not None else stills_dir()


def run_stills(cfg: TrainConfig, folder: str | Path | None = None) -> list[np.ndarray]:
    """The stills in `folder` (default: `stills_folder(cfg)`) as the run's synthetic clips use
    them: float32 (H, W), shrunk to at most 512 pixels on their shorter side (before
    --downsample)."""
    return load_stills(stills_folder(cfg) if folder is None else folder,
                       max_side=512 // cfg.downsample)


def camera_cache(cfg: TrainConfig, folder: str | Path, n_frames_total: int, max_bytes: int,
                 seed: int | None = None) -> ClipCache:
    """A cache of synthetic camera clips (`csc.video.camera`) over the stills in `folder`,
    holding about `n_frames_total` frames and at most `max_bytes` bytes (at least one clip):
    clips of 2 × n_frames frames (many short clips: many stills, places and motions) of
    max(4 × patch, 64) pixels square, over `run_stills(cfg, folder)`.
    Reproducible from `seed` (default the run's)."""
    stills = run_stills(cfg, folder)
    n_clips, clip_len, size = _camera_layout(cfg, n_frames_total, max_bytes)
    rng = np.random.default_rng([cfg.seed if seed is None else seed, 3])
    clips = camera_clips(stills, n_clips, clip_len, size, rng)
    log.info("synthetic camera: %d clips of %d frames, %dx%d pixels (%.1f MB), from %d stills "
             "in %s", n_clips, clip_len, size, size, sum(c.nbytes for c in clips) / MB,
             len(stills), folder)
    return ClipCache(clips, {"camera_clips": n_clips, "stills": len(stills)})


def add_camera_clips(cache: ClipCache, cfg: TrainConfig) -> None:
    """Add `camera_cache` clips over `cfg.stills` (default: the bundled stills) filling
    `camera_share` × `cache_frames` frames, within `camera_share` × `cache_mb` megabytes, to the
    cache of real clips, weighted so that `camera_share` of the sequences drawn come from them."""
    camera = camera_cache(cfg, stills_folder(cfg), *_camera_share(cfg))
    real_starts = cache.start_counts(cfg.n_frames).sum()
    camera_starts = camera.start_counts(cfg.n_frames).sum()
    cache.weights = np.concatenate([
        np.full(len(cache.clips), (1 - cfg.camera_share) / real_starts),
        np.full(len(camera.clips), cfg.camera_share / camera_starts)])
    cache.clips.extend(camera.clips)
    cache.stats["camera_clips"] = len(camera.clips)
    log.info("%.0f%% of the sequences from the synthetic camera", 100 * cfg.camera_share)
