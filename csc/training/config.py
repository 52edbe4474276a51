"""The settings of a training run (`TrainConfig`, saved as config.json), the paper's preset, and
what `--resume` may change."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

from csc.core.polar_inference import PAPER_MAX_ITER, check_smooth_prior
from csc.io import load_extra
from csc.learning import NORMALIZATIONS, RULES
from csc.learning.estimator import INITS
from csc.learning.shards import INFERENCES
from csc.memory import require_memory
from csc.priors import PAPER_GAUSS_PRIOR, PAPER_PRIOR, make_prior
from csc.run_folder import RunError
from csc.video.whitening import WEIGHTINGS, WHITENINGS

#: every setting of the paper at once (`--preset paper`), its inference included (the authors'
#: truncated polar descent, 15 iterations); docs/design.md §9 for what it does at CPU scale
RUN_PRESETS = {
    "paper": {**{k: v for k, v in PAPER_PRIOR.items() if k != "weights"},
              "noise_variance": 1.0 / PAPER_PRIOR["weights"], "whitening": "pca",
              "weighting": "paper", "learning": "sgd", "init": "random", "normalize": "pair",
              "inference": "paper", "max_iter": PAPER_MAX_ITER},
}

#: settings a resumed run may change (given with --resume, they replace the saved ones and are
#: logged); every other setting defines the run, and --resume refuses a different value
RESUMABLE = ("out", "n_updates", "video_dir", "stills", "backend", "checkpoint_every")


@dataclass
class TrainConfig:
    """Every setting of a run (saved as config.json, so a run can be repeated)."""

    video_dir: str
    out: str
    patch_size: int = 16
    n_frames: int = 16
    n_components: int = 128
    n_updates: int = 3000
    batch_size: int = 32
    shards: int = 4
    sparsity: str = "l1"
    lam: float = 60.0
    sigma: float = 0.4
    slowness: str = "l1"
    kappa: float = 20.0
    learning: str = "online"
    normalize: str = "pair"
    init: str = "data"
    whitening: str = "pca"
    weighting: str = "paper"
    noise_variance: float = 0.01
    whiten_patches: int = 100_000
    downsample: int = 1
    max_frames_per_video: int | None = None
    cache_frames: int = 4000
    cache_mb: int = 1024
    camera_share: float = 0.8
    stills: str | None = None
    max_iter: int = 30
    tol: float = 1e-3
    inference: str = "fista"
    backend: str = "auto"
    seed: int = 0
    checkpoint_every: int = 100

    def validate(self) -> None:
        for name in ("patch_size", "n_frames", "n_components", "batch_size", "shards", "max_iter",
                     "checkpoint_every", "downsample", "cache_frames", "cache_mb",
                     "whiten_patches"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise RunError(f"--{name.replace('_', '-')} must be a positive integer, got {v}")
        if not 0 <= self.camera_share < 1:
            raise RunError(f"--camera-share must be in [0, 1): synthetic camera clips are used "
                           f"beside real video, never alone; got {self.camera_share}")
        if self.n_updates < 0:
            raise RunError(f"--n-updates must be >= 0, got {self.n_updates}")
        if self.patch_size < 2:
            raise RunError("--patch-size must be at least 2")
        for name, choices in (("whitening", WHITENINGS), ("weighting", WEIGHTINGS),
                              ("init", INITS), ("learning", tuple(RULES)),
                              ("normalize", NORMALIZATIONS), ("inference", INFERENCES)):
            if getattr(self, name) not in choices:
                raise RunError(f"unknown --{name} {getattr(self, name)!r}; choose one of "
                               f"{', '.join(choices)}")
        try:
            require_memory(self.memory_bytes(), "--n-components, --patch-size, --batch-size, "
                           "--n-frames and --whiten-patches")
        except ValueError as exc:
            raise RunError(str(exc)) from None
        try:
            prior = make_prior(self.sparsity, self.lam, self.sigma, self.slowness, self.kappa)
            if self.inference == "paper":
                check_smooth_prior(prior)
        except ValueError as exc:
            raise RunError(f"--inference paper: {exc}" if self.inference == "paper" else str(exc)
                           ) from None

    def memory_bytes(self) -> int:
        """A floor on the memory learning needs (features taken as p², float64 dictionary
        arrays): the dictionary and its copies, the online rule's statistics, one batch and its
        solver arrays, and the patches the whitener is fitted on."""
        K, M = self.n_components, self.patch_size ** 2
        frames = self.batch_size * self.n_frames
        dictionary = 3 * 8 * 2 * K * M + 8 * (2 * K) ** 2 + 8 * 2 * K * M
        batch = 4 * frames * M + 4 * frames * 4 * (2 * K + M)
        return dictionary + batch + 8 * self.whiten_patches * M

    @classmethod
    def from_json(cls, path: Path) -> TrainConfig:
        """The settings in a config.json; RunError (one line) if it is unreadable."""
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise RunError(f"cannot read {path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Settings saved with `asdict`; RunError if `data` does not hold a run's settings."""
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or not {"video_dir", "out"} <= data.keys():
            raise RunError("not the settings of a csc-learn run")
        # runs saved before the paper's weighting and the synthetic camera existed
        data.setdefault("weighting", "tail")
        data.setdefault("camera_share", 0.0)
        # and before --cache-mb: the default budget (it binds only on caches over 1 GB)
        data.setdefault("cache_mb", cls.cache_mb)
        # and before shards: the whole batch in one solve
        data.setdefault("shards", 1)
        return cls(**{k: v for k, v in data.items() if k in known})


#: the prior constants a sparse prior comes with, where the settings leave them unset: the
#: default l1 prior's (`TrainConfig`'s), the paper's for its Cauchy prior, and for the Gaussian
#: prior the paper's slow_gauss (λ = β 8, l2 slowness κ 0.5)
PRIOR_DEFAULTS = {
    "l1": {k: getattr(TrainConfig, k) for k in ("lam", "slowness", "kappa")},
    "cauchy": {k: PAPER_PRIOR[k] for k in ("lam", "sigma", "slowness", "kappa")},
    "gauss": {k: PAPER_GAUSS_PRIOR[k] for k in ("lam", "slowness", "kappa")},
}


def resume_config(out: str | Path, **given) -> TrainConfig:
    """The saved config of the run in `out`, with the settings `given` on the command line in
    place of the saved ones (`train` refuses those not `RESUMABLE` when they differ)."""
    if not (Path(out) / "model.npz").exists():
        raise RunError(f"nothing to resume: {Path(out) / 'model.npz'} does not exist")
    return replace(saved_config(Path(out)), out=str(out), **given)


def saved_config(out: Path) -> TrainConfig:
    """The settings of the run in `out`: its config.json, or if that is unreadable (damaged by
    an older csc, or by hand) the copy every checkpoint carries."""
    try:
        return TrainConfig.from_json(out / "config.json")
    except RunError:
        saved = load_extra(out / "model.npz").get("config")
        if saved is None:
            raise
        return TrainConfig.from_dict(saved)


def resumed_changes(cfg: TrainConfig, saved: TrainConfig) -> dict[str, tuple]:
    """{setting: (saved, now)} for the `RESUMABLE` settings `cfg` changes.

    Raises RunError naming every other setting whose value differs from the saved run's."""
    changed = {f.name: (getattr(saved, f.name), getattr(cfg, f.name)) for f in fields(cfg)
               if getattr(saved, f.name) != getattr(cfg, f.name)}
    refused = {k: v for k, v in changed.items() if k not in RESUMABLE}
    if refused:
        listed = "; ".join(f"--{k.replace('_', '-')} {now} (the run has {was})"
                           for k, (was, now) in refused.items())
        raise RunError(f"--resume cannot change how the run learns: {listed}; drop these "
                       f"options, or start a new run")
    return {k: v for k, v in changed.items() if k != "out"}
