"""A training run from a video collection to a learned `PixelModel` in a run folder.

`csc.cli.learn` (`csc-learn`, `scripts/learn_dictionary.py`) is its command line. The run is
reproducible from its `TrainConfig` (saved as config.json), checkpoints atomically to model.npz
every `checkpoint_every` updates, and a resumed run ends with the same dictionary as an
uninterrupted one. Its settings are `csc.training.config`'s, its clip cache
`csc.training.clips`'s, and the run folder's protocol (its lock, atomic files, history.csv)
`csc.run_folder`'s.
"""
from __future__ import annotations

import logging
import logging.handlers
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from csc.analysis.first_layer import basis_measures, whitened_bases
from csc.backends.backend import get_backend
from csc.cluster import check_cluster_options, dask_client
from csc.io import load_extra, remove_stale_temporaries, restore_rng, write_json
from csc.learning import TrainingDiverged
from csc.learning.estimator import ComplexSparseCoding
from csc.learning.shards import shard_bounds
from csc.logs import logger_level
from csc.model_files import load
from csc.plotting.bases import save_bases_gif, save_bases_png, save_training_png
from csc.priors import PRIOR_KEYS
from csc.run_folder import HistoryLog, RunError, run_lock
from csc.training.clips import build_cache, camera_cache, run_stills
from csc.training.config import TrainConfig, resumed_changes, saved_config
from csc.training.shards import DaskShards, LocalShards
from csc.video.pixel_model import PixelModel
from csc.video.sampling import MB, ClipCache, sample_positions, sample_sequences
from csc.video.sprites import sprite_clips
from csc.video.whitening import make_whitener

log = logging.getLogger("csc.train")

OUTPUTS = ("model.npz", "config.json", "history.csv", "bases.png", "bases.gif", "training.png",
           "train.log")


def check_run_dir(out: Path, *, resume: bool, force: bool) -> None:
    """Refuse a run folder that cannot take this run, before anything is read or deleted:
    nothing to resume, or a run that saved a model without --resume or --force (what a run that
    failed before its first checkpoint left is replaced silently)."""
    if resume:
        if not (out / "model.npz").exists():
            raise RunError(f"nothing to resume: {out / 'model.npz'} does not exist")
        return
    existing = [name for name in OUTPUTS if (out / name).exists()]
    if "model.npz" in existing and not force:
        raise RunError(f"{out} already holds a run ({', '.join(existing)}); use --resume to "
                       f"continue it or --force to overwrite it")


def clear_run_dir(out: Path) -> None:
    """Delete the outputs of a previous run in `out`."""
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)


def _hold_log_records() -> logging.handlers.MemoryHandler:
    """A handler on the csc logger that keeps the records until train.log can be opened (the run
    folder is cleared only once every check has passed)."""
    held = logging.handlers.MemoryHandler(capacity=1_000_000, flushLevel=logging.CRITICAL + 1)
    logging.getLogger("csc").addHandler(held)
    return held


def _add_log_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("csc").addHandler(handler)
    return handler


def new_model(cfg: TrainConfig, cache: ClipCache) -> PixelModel:
    """Fit the whitener on up to `whiten_patches` single-frame patches; an untrained coder."""
    rng = np.random.default_rng([cfg.seed, 1])
    patches = sample_sequences(cache, cfg.whiten_patches, 1, cfg.patch_size, rng)[:, 0]
    options = {"weighting": cfg.weighting} if cfg.whitening == "pca" else {}
    whitener = make_whitener(cfg.whitening, cfg.patch_size, noise_variance=cfg.noise_variance,
                             **options).fit(patches)
    log.info("whitening: %s, %d features from %d-pixel patches", cfg.whitening,
             whitener.n_features, cfg.patch_size**2)
    prior = {key: getattr(cfg, key) for key in PRIOR_KEYS if key != "weights"}
    coder = ComplexSparseCoding(
        cfg.n_components, **prior, weights=whitener.weights_, learning=cfg.learning,
        normalize=cfg.normalize, init=cfg.init, n_updates=cfg.n_updates,
        batch_size=cfg.batch_size, n_shards=cfg.shards, max_iter=cfg.max_iter, tol=cfg.tol,
        random_state=cfg.seed, backend=cfg.backend, inference=cfg.inference)
    return PixelModel(coder, whitener)


def train(cfg: TrainConfig, *, resume: bool = False, force: bool = False, progress: bool = True,
          on_update: Callable[[int], None] | None = None, workers: int | None = None,
          scheduler: str | None = None) -> PixelModel:
    """Run (or resume) training; writes every output into `cfg.out`. Returns the model.

    Everything that can be checked before learning is checked before a previous run in `cfg.out`
    is deleted (with `force`): the settings, the run folder, the videos (the clip cache is built)
    and, when resuming, the saved model. on_update(n_done) is called after every update (tests use
    it to simulate a crash). The shards of each update (`cfg.shards`) are computed in-process,
    or with `workers` on a new local Dask cluster of that many processes, or on the running
    cluster at `scheduler` (`csc.cluster`); the learned model is the same.
    """
    with logger_level("csc", logging.INFO):  # INFO records reach train.log for the run
        return _train(cfg, resume, force, progress, on_update, (workers, scheduler))


def _train(cfg: TrainConfig, resume: bool, force: bool, progress: bool,
           on_update: Callable[[int], None] | None, cluster: tuple) -> PixelModel:
    out = Path(cfg.out)
    cfg.validate()
    check_cluster_options(*cluster)
    if resume and force:
        raise RunError("--resume continues the run in --out and --force replaces it: give one")
    if not resume and cfg.n_updates == 0:
        raise RunError("--n-updates 0 learns nothing: ask for at least one update")
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} exists and is not a folder")
    with run_lock(out):
        freed = remove_stale_temporaries(out, OUTPUTS)
        check_run_dir(out, resume=resume, force=force)
        changes = resumed_changes(cfg, saved_config(out)) if resume else {}
        if resume and "video_dir" not in changes and not Path(cfg.video_dir).exists():
            raise RunError(f"the run's videos were in {cfg.video_dir}, which no longer exists; "
                           f"give their folder: csc-learn VIDEO_DIR --resume --out {out}")
        return _run(cfg, out, resume, progress, on_update, freed, changes, cluster)


def _run(cfg: TrainConfig, out: Path, resume: bool, progress: bool, on_update, freed: int,
         changes: dict, cluster: tuple) -> PixelModel:
    """The run, once the run folder is locked and checked."""
    t0 = time.perf_counter()
    held = _hold_log_records()
    try:
        if freed:
            log.info("removed %.1f MB of temporary files a killed run left", freed / 2**20)
        for name, (was, now) in changes.items():
            log.info("resumed with --%s %s (was %s)", name.replace("_", "-"), now, was)
        cache = build_cache(cfg)
        batch_rng = np.random.default_rng([cfg.seed, 2])
        history = HistoryLog(out / "history.csv")
        model = _resumed_model(cfg, out, batch_rng, history, cache) if resume \
            else new_model(cfg, cache)
    except BaseException:
        held.close()  # no target: the held records are dropped with the failed run
        raise
    finally:
        logging.getLogger("csc").removeHandler(held)
    if not resume:
        clear_run_dir(out)
        history.start()
    handler = _add_log_file(out / "train.log")
    held.setTarget(handler)
    held.close()  # writes the held records to train.log
    try:
        write_json(out / "config.json", asdict(cfg))
        local = LocalShards(cache, cfg, model.whitener, get_backend(cfg.backend))
        with dask_client(*cluster) as client:
            shards = local
            if client is not None:
                log.info("shards on the Dask cluster at %s (%d workers)",
                         client.scheduler.address, len(client.scheduler_info()["workers"]))
                shards = DaskShards(client, cache, cfg, model.whitener)
            _learn(model, cfg, cache, batch_rng, history, progress, on_update, local, shards)
        log.info("learning done in %.1f s", time.perf_counter() - t0)
        write_figures(model, out)
        return model
    finally:
        logging.getLogger("csc").removeHandler(handler)
        handler.close()


def _cache_summary(cache: ClipCache) -> dict:
    """What a resumed run checks its rebuilt clip cache against."""
    return {"clips": len(cache.clips), "frames": cache.n_frames}


def _resumed_model(cfg: TrainConfig, out: Path, batch_rng: np.random.Generator,
                   history: HistoryLog, cache: ClipCache) -> PixelModel:
    """The model saved in `out`, set to learn up to `cfg.n_updates`, with its history read back
    from history.csv; restores `batch_rng`."""
    model = load(out / "model.npz")
    if not isinstance(model, PixelModel):
        raise RunError(f"{out / 'model.npz'} is a csc model without a whitener; it was "
                       f"not written by learn_dictionary.py")
    extra = load_extra(out / "model.npz")
    try:
        restore_rng(batch_rng, extra.get("batch_rng"), "extra.batch_rng")
    except ValueError as exc:
        raise RunError(f"{out / 'model.npz'} cannot be resumed: {exc}") from None
    now = _cache_summary(cache)
    if extra.get("cache", now) != now:
        log.warning("the videos now give another clip cache (%s) than when the run started "
                    "(%s): the run goes on, but not as an uninterrupted run would have",
                    now, extra["cache"])
    model.coder.history_ = history.restore(model.coder.n_updates_, model.coder.history_)
    model.coder.n_updates = cfg.n_updates
    log.info("resuming at update %d of %d", model.coder.n_updates_, cfg.n_updates)
    return model


def _learn(model: PixelModel, cfg: TrainConfig, cache: ClipCache, batch_rng,
           history: HistoryLog, progress: bool, on_update, local: LocalShards, shards) -> None:
    """The updates from where the model is to `cfg.n_updates`: each batch's positions drawn
    here, its shards computed by `shards` (`local`, or a `DaskShards`), checkpoints on the
    way."""
    coder = model.coder
    start = saved_at = getattr(coder, "n_updates_", 0)
    bar = tqdm(total=cfg.n_updates, initial=start, disable=not progress, unit="update",
               dynamic_ncols=True)
    for done in range(start + 1, cfg.n_updates + 1):
        positions = sample_positions(cache, cfg.batch_size, cfg.n_frames, cfg.patch_size,
                                     batch_rng)
        bounds = shard_bounds(len(positions), cfg.shards)
        try:
            if not hasattr(coder, "components_"):  # the first dictionary from the first batch
                coder.initialize(model.whitener.transform(local.cut(positions)))
            coder.update_from_shards(
                lambda plan: shards(plan, positions, bounds, done), np.float32)
        except TrainingDiverged as exc:
            bar.close()
            kept = f"update {saved_at}" if saved_at else "nothing: no checkpoint was made yet"
            raise RunError(f"{exc}. The run stops; {Path(cfg.out) / 'model.npz'} keeps the last "
                           f"good checkpoint ({kept})") from None
        h = coder.history_
        bar.set_postfix(energy=f"{h['energy'][-1]:.4g}", snr=f"{h['snr'][-1]:.1f}dB",
                        active=f"{h['active'][-1]:.3f}", refresh=False)
        bar.update(1)
        if done % cfg.checkpoint_every == 0 or done == cfg.n_updates:
            _checkpoint(model, cfg, history, batch_rng, cache, final=done == cfg.n_updates)
            saved_at = done
            units = basis_measures(whitened_bases(model))
            log.info("update %d: energy/frame %.5g, SNR %.2f dB, active %.4f, quadrature pairs "
                     "%.2f, localisation %.3f (checkpoint)", done, h["energy"][-1], h["snr"][-1],
                     h["active"][-1], units["quadrature"], units["localisation"])
        if on_update is not None:
            on_update(done)
    bar.close()
    if start >= cfg.n_updates:  # a resumed run already done: the model is saved as it is
        _checkpoint(model, cfg, history, batch_rng, cache, final=True)


def _checkpoint(model: PixelModel, cfg: TrainConfig, history: HistoryLog, batch_rng,
                cache: ClipCache, final: bool) -> None:
    """history.csv appended up to the model's update, then model.npz saved: with its history
    at the end of the run, without it before (so a checkpoint's cost does not grow with the
    run's length)."""
    history.append(model.coder.history_, model.coder.n_updates_)
    model.save(Path(cfg.out) / "model.npz", history=final,
               extra={"batch_rng": batch_rng.bit_generator.state, "cache": _cache_summary(cache),
                      "config": asdict(cfg)})


def load_run(model_path: str | Path, video_dir: str | None = None, stills: str | None = None
             ) -> tuple[PixelModel, TrainConfig, ClipCache]:
    """The model of a run, its settings (config.json beside the model) and a clip cache for
    analyses: with neither `video_dir` nor `stills`, rebuilt as training built it (the run's
    videos, and its synthetic camera clips); with `video_dir`, the videos there only; with
    `stills`, only synthetic camera clips over the stills there (drawn with another seed than
    training's)."""
    model_path = Path(model_path)
    model = load(model_path)
    if not isinstance(model, PixelModel):
        raise RunError(f"{model_path} has no whitener: it was not written by learn_dictionary.py")
    cfg_path = model_path.parent / "config.json"
    if not cfg_path.exists():
        raise RunError(f"{cfg_path} not found (the run's config.json must sit beside the model)")
    cfg = TrainConfig.from_json(cfg_path)
    if stills is not None:
        return model, cfg, camera_cache(cfg, stills, cfg.cache_frames // 2,
                                        cfg.cache_mb * MB // 2, seed=cfg.seed + 1)
    if video_dir is not None:
        cfg.video_dir, cfg.camera_share = video_dir, 0.0
    return model, cfg, build_cache(cfg)


def draw_sequences(cfg: TrainConfig, cache: ClipCache, n_sequences: int, seed: int,
                   sprite_share: float = 0.0) -> np.ndarray:
    """`n_sequences` pixel sequences float32 (n_sequences, n_frames, p, p) of a run (`load_run`
    gives cfg and cache): `sprite_share` of them from the sprite world (`csc.video.sprites`,
    independent movers over the run's stills, seeded by [seed, 5]), first the rest, drawn like
    its training batches from the cache with `np.random.default_rng(seed)`."""
    n_sprites = round(sprite_share * n_sequences)
    P = sample_sequences(cache, n_sequences - n_sprites, cfg.n_frames, cfg.patch_size,
                         np.random.default_rng(seed))
    if n_sprites:
        sprites = sprite_clips(run_stills(cfg), n_sprites, cfg.n_frames, cfg.patch_size,
                               np.random.default_rng([seed, 5]))
        P = np.concatenate([P, np.stack(sprites)])
    return P


def run_sequences(model_path: str | Path, n_sequences: int, seed: int = 1234,
                  video_dir: str | None = None, stills: str | None = None,
                  sprite_share: float = 0.0) -> tuple[PixelModel, np.ndarray]:
    """The model of a run and `draw_sequences(..., n_sequences, seed, sprite_share)` from the
    cache `load_run(model_path, video_dir, stills)` builds."""
    model, cfg, cache = load_run(model_path, video_dir, stills)
    return model, draw_sequences(cfg, cache, n_sequences, seed, sprite_share)


def write_figures(model: PixelModel, out: Path) -> None:
    """bases.png, bases.gif and training.png of a model into `out`."""
    bases = model.bases_pixels()
    save_bases_png(bases, out / "bases.png")
    save_bases_gif(bases, out / "bases.gif")
    save_training_png(model.coder.history_, out / "training.png")
