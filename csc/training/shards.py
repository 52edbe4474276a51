"""Where a training run computes the shards of an update (`csc.learning.shards`): in-process
(`LocalShards`), or as tasks on the workers of a Dask cluster (`DaskShards`).

A task carries the shard's sequence positions (clip, first frame, row, column), the whitener and
the update's plan; never frames. Each worker reads the run's videos itself, into its own copy of
the run's clip cache (`build_cache` is deterministic from the settings: the same clips as the
client's), once per worker process, and cuts its sequences there. A task is pure, so Dask reruns
it elsewhere when its worker dies. Every task returns its worker's cache fingerprint, and the
client refuses statistics cut from another cache than its own (videos that differ between
machines).
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict

import numpy as np

from csc.core.fista import NumericRangeError
from csc.learning.shards import ShardStatistics, UpdatePlan, shard_statistics
from csc.run_folder import RunError
from csc.training.clips import build_cache
from csc.training.config import TrainConfig
from csc.versioning import code_fingerprint
from csc.video.reader import VideoError
from csc.video.sampling import ClipCache, DeviceClips, cut_sequences

#: the settings that decide a run's clip cache (`build_cache`)
CACHE_SETTINGS = ("video_dir", "n_frames", "patch_size", "downsample", "max_frames_per_video",
                  "cache_frames", "cache_mb", "camera_share", "stills", "seed")


def cache_fingerprint(cache: ClipCache) -> str:
    """A hash of the cache's clips (shapes and pixels, in order) and sampling weights."""
    h = hashlib.blake2b(digest_size=16)
    for clip in cache.clips:
        h.update(np.asarray(clip.shape, np.int64).tobytes())
        h.update(np.ascontiguousarray(clip).data)
    if cache.weights is not None:
        h.update(cache.weights.tobytes())
    return h.hexdigest()


class LocalShards:
    """The shards of each update computed one after the other in this process, the sequences
    cut from the run's cache (on the GPU backend: from its copy on the device)."""

    def __init__(self, cache: ClipCache, cfg: TrainConfig, whitener, backend):
        self.cache, self.cfg, self.whitener = cache, cfg, whitener
        self.on_device = DeviceClips(cache, backend) if backend.name == "gpu" else None

    def cut(self, positions: np.ndarray):
        """The (pixel) sequences at `positions`: float32 (n, n_frames, p, p), NumPy or CuPy."""
        n, p = self.cfg.n_frames, self.cfg.patch_size
        if self.on_device is not None:  # frames stay on the GPU from sampling through learning
            return self.on_device.cut(positions, n, p)
        return cut_sequences(self.cache, positions, n, p)

    def __call__(self, plan: UpdatePlan, positions: np.ndarray,
                 bounds: list[tuple[int, int]], update: int) -> list[ShardStatistics]:
        return [shard_statistics(self.whitener.transform(self.cut(positions[a:b])), plan, i)
                for i, (a, b) in enumerate(bounds)]


class DaskShards:
    """The shards of each update computed as tasks on a Dask cluster (`client`); their
    statistics are gathered in shard order."""

    def __init__(self, client, cache: ClipCache, cfg: TrainConfig, whitener):
        self.client = client
        settings = asdict(cfg)
        self.settings = {k: settings[k] for k in CACHE_SETTINGS}
        self.fingerprint = cache_fingerprint(cache)
        self.run = uuid.uuid4().hex[:12]
        self.whitener = whitener

    def __call__(self, plan: UpdatePlan, positions: np.ndarray,
                 bounds: list[tuple[int, int]], update: int) -> list[ShardStatistics]:
        futures = [self.client.submit(worker_shard, self.settings, positions[a:b], self.whitener,
                                      plan, i, key=f"csc-shard-{self.run}-{update}-{i}")
                   for i, (a, b) in enumerate(bounds)]
        try:
            stats = self.client.gather(futures)
        except (NumericRangeError, RunError, VideoError):
            raise  # told by the run as in-process
        except Exception as exc:  # noqa: BLE001 (KilledWorker, lost connections, ...)
            reason = str(exc).splitlines()[0] if str(exc) else ""
            raise RunError(f"the Dask cluster failed a shard of update {update} "
                           f"({type(exc).__name__}: {reason}); the run folder keeps the last "
                           f"checkpoint: continue with --resume") from None
        for shard in stats:
            if shard.csc != code_fingerprint():
                raise RunError(f"a Dask worker runs another csc ({shard.csc}) than this process "
                               f"({code_fingerprint()}): every worker must run the same csc")
            if shard.source != self.fingerprint:
                raise RunError("a Dask worker read other clips than this process from the run's "
                               "videos: every worker must see the same files at the same paths "
                               f"({self.settings['video_dir']})")
        return stats


#: the clip cache of this worker process: {cache settings (JSON): (cache, fingerprint)}; one run's
_WORKER_CACHE: dict[str, tuple[ClipCache, str]] = {}


def worker_cache(settings: dict) -> tuple[ClipCache, str]:
    """(cache, fingerprint) of the run with these `CACHE_SETTINGS`, read from the videos on the
    first call in this process and kept for the calls after it (one run's cache at a time)."""
    key = json.dumps(settings, sort_keys=True)
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        cache = build_cache(TrainConfig(out="", **settings))
        _WORKER_CACHE[key] = cache, cache_fingerprint(cache)
    return _WORKER_CACHE[key]


def worker_shard(settings: dict, positions: np.ndarray, whitener,
                 plan: UpdatePlan, shard: int = 0) -> ShardStatistics:
    """The task of the update's `shard`-th shard, run on a worker: cut the sequences at
    `positions` from the worker's copy of the run's clip cache, whiten them and return their
    statistics, tagged with the cache's fingerprint."""
    cache, fingerprint = worker_cache(settings)
    X = cut_sequences(cache, positions, settings["n_frames"], settings["patch_size"])
    stats = shard_statistics(whitener.transform(X), plan, shard)
    stats.source = fingerprint
    stats.csc = code_fingerprint()
    return stats
