"""Transform transfer on natural video: many random (source, target) patch pairs, both cut from
videos, each put through a random transformation and scored (`csc.analysis.transfer`).

A trial draws a frame of the source video and a frame of the target video (`load_video` keeps a
bounded random sample of a video's frames, read by `csc.video.reader.iter_frames` as grey float
arrays in [0, 1]), and in each a square region of `REGION_PATCHES` × p pixels (p the model's patch
size) at a random place at least `border` pixels from the frame's edges. Both regions go through
the same transformation, drawn per trial (`draw_transform`):

- translation: a speed uniform in `SPEED` px/frame (or the `speed` range given) in a uniform
  random direction;
- rotation: uniform in `ROTATION_DEG` degrees per frame, random sign, about the patch centre;
- dilation: a zoom factor exp(±U(`LOG_ZOOM`)) per frame, about the patch centre,

rendered by `csc.video.camera.transformed_movie(region, n_frames, p, order=ORDER, **params)`: the
source movie from the source region, the truth from the target region (frame 0 of each is the
region's central p × p patch). `transfer.predict(model, source, truth[0], method)` is scored
against the truth with `transfer.scores`, next to `transfer.static_baseline`,
`transfer.phase_oracle` and `transfer.oracle` (`run_trials`).

Contrast: a region is kept only when the standard deviation of its central p × p patch (what is
scored) is at least `min_contrast` × the video's typical patch contrast (the median standard
deviation of random p × p patches of its sampled frames, `VideoSample.typical_std`), and at least
`MIN_STD`; near-constant regions (sky, walls, black bars) are drawn again.

Same video: when source and target are the same video (same resolved path), the target region
never overlaps the source region: their top-left corners differ by at least the region size along
the rows or along the columns, so no pixel position is shared, and the target frame is another
frame than the source frame. The spatial separation is what makes the patterns different: in a
video from a still camera (data/heldout/tree.avi), a frame far in time still shows the same place.

Everything is reproducible from `seed`. The trials of one transformation depend only on the
videos, the patch size, `seed` and the transformation's name (not on which other transformations
are run).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csc.analysis import transfer
from csc.video.camera import transformed_movie
from csc.video.reader import VideoError, iter_frames, video_info

TRANSFORMS = ("translation", "rotation", "dilation")
SPEED = (0.5, 1.5)  # translation, px/frame
ROTATION_DEG = (2.0, 5.0)  # rotation, degrees/frame (random sign)
LOG_ZOOM = (0.02, 0.05)  # dilation, |log zoom| per frame (random sign)
REGION_PATCHES = 4  # a region is REGION_PATCHES × p pixels on a side
ORDER = 3  # spline order of transformed_movie (cubic, as the synthetic camera)
MIN_FRAMES = 2  # fewer: a still, not a video
MIN_STD = 1e-3  # on [0, 1] pixels: a patch below this is constant whatever the video
CONSTANT_STD = 1e-4  # a frame whose pixel std is below this is skipped (as csc.video.sampling)
MAX_TRIES = 1000  # region draws per trial before giving up


# --------------------------------------------------------------------------- videos
@dataclass
class VideoSample:
    """A bounded uniform random sample of one video's non-constant frames.

    frames: float32 (n, H, W) in [0, 1]; index: int (n,), their frame numbers in the video
    (increasing); n_frames: how many frames the video has (all decoded); typical_std: median
    standard deviation of random p × p patches of `frames` (within the border).
    """

    path: Path
    frames: np.ndarray
    index: np.ndarray
    n_frames: int
    typical_std: float = 0.0
    patch_size: int = 0
    border: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.frames.shape[1], self.frames.shape[2]


def _check_size(path: Path, h: int, w: int, region: int, border: int) -> None:
    if min(h, w) < region + 2 * border:
        raise VideoError(f"video {path} is {w}x{h}: too small for a {region}x{region} region "
                         f"({REGION_PATCHES} patches) {border} pixels from its edges (needs at "
                         f"least {region + 2 * border} pixels on each side)")


def _reservoir(path: Path, keep: int, downsample: int, rng) -> tuple[list, list, int]:
    """Uniform sample (Algorithm R) of up to `keep` non-constant frames: (index, frames, count)."""
    index: list[int] = []
    frames: list[np.ndarray] = []
    seen = n = 0
    for n, frame in enumerate(iter_frames(path, downsample=downsample), start=1):
        if float(frame.std()) < CONSTANT_STD:
            continue
        if len(frames) < keep:
            index.append(n - 1)
            frames.append(frame)
        else:
            j = int(rng.integers(0, seen + 1))
            if j < keep:
                index[j], frames[j] = n - 1, frame
        seen += 1
    return index, frames, n


def load_video(path, patch_size: int, *, border: int | None = None, keep: int = 256,
               downsample: int = 1, seed: int = 0) -> VideoSample:
    """Read a video (`csc.video.reader.iter_frames`: a file or a folder of numbered frames) and
    keep a uniform random sample of at most `keep` of its non-constant frames.

    border: how far regions stay from the frame's edges (default: one patch, `patch_size`).
    Raises VideoError (a ValueError; one line naming the file) when the path does not exist or
    cannot be decoded, when its frames are too small for a region of `REGION_PATCHES` ×
    `patch_size` pixels `border` pixels from the edges, when it has fewer than `MIN_FRAMES`
    frames, or when it is constant.
    """
    path = Path(path)
    border = patch_size if border is None else border
    region = REGION_PATCHES * patch_size
    if not path.exists():
        raise VideoError(f"no such video: {path}")
    info = video_info(path, count_frames=False)  # fails fast on unreadable files
    _check_size(path, info["height"] // downsample, info["width"] // downsample, region, border)
    index, frames, count = _reservoir(path, keep, downsample, np.random.default_rng([seed, 1]))
    if count < MIN_FRAMES:
        raise VideoError(f"video {path} has {count} frame{'s' * (count != 1)}: transfer trials "
                         f"need at least {MIN_FRAMES}")
    if not frames:
        raise VideoError(f"video {path} is constant (no contrast to transfer)")
    order = np.argsort(index)
    sample = VideoSample(path, np.stack([frames[i] for i in order]), np.asarray(index)[order],
                         count, patch_size=patch_size, border=border)
    _check_size(path, *sample.shape, region, border)  # the header may not tell the truth
    sample.typical_std = typical_patch_std(sample, np.random.default_rng([seed, 2]))
    if sample.typical_std < MIN_STD:
        raise VideoError(f"video {path} is nearly constant (typical patch std "
                         f"{sample.typical_std:.1e} on [0, 1] pixels)")
    return sample


def _patch_std(frame: np.ndarray, r: int, c: int, p: int) -> float:
    return float(frame[r:r + p, c:c + p].std())


def typical_patch_std(video: VideoSample, rng, n: int = 512) -> float:
    """Median standard deviation of `n` random p × p patches of the sampled frames, within the
    border."""
    p, b = video.patch_size, video.border
    h, w = video.shape
    f = rng.integers(0, len(video.frames), n)
    r = rng.integers(b, h - b - p + 1, n)
    c = rng.integers(b, w - b - p + 1, n)
    return float(np.median([_patch_std(video.frames[i], y, x, p) for i, y, x in zip(f, r, c)]))


# --------------------------------------------------------------------------- trials
@dataclass
class Trial:
    """One (source, target) pair under one transformation.

    parameters: keyword arguments of `transformed_movie` (shift, rotation or zoom); source_frame /
    target_frame: frame numbers in their videos; source_corner / target_corner: (row, col) of the
    regions' top-left pixels; source_region / target_region: float32 (R, R) pixels, R =
    `REGION_PATCHES` × p.
    """

    transform: str
    parameters: dict
    source_frame: int
    source_corner: tuple[int, int]
    source_region: np.ndarray = field(repr=False)
    target_frame: int
    target_corner: tuple[int, int]
    target_region: np.ndarray = field(repr=False)

    def movies(self, n_frames: int, p: int) -> tuple[np.ndarray, np.ndarray]:
        """(source, truth): float32 (n_frames, p, p) each, the two regions under `parameters`."""
        source = transformed_movie(self.source_region, n_frames, p, order=ORDER, **self.parameters)
        truth = transformed_movie(self.target_region, n_frames, p, order=ORDER, **self.parameters)
        return source, truth

    def describe(self) -> dict:
        """JSON-ready: transform, parameters, frames and region corners."""
        return {"transform": self.transform,
                "parameters": {k: float(v) if np.ndim(v) == 0 else np.asarray(v).tolist()
                               for k, v in self.parameters.items()},
                "source": {"frame": self.source_frame, "corner": list(self.source_corner)},
                "target": {"frame": self.target_frame, "corner": list(self.target_corner)}}


def draw_transform(kind: str, rng, speed: tuple[float, float] = SPEED) -> dict:
    """Per-frame parameters of `transformed_movie` for one random transformation of `kind`."""
    if kind == "translation":
        v, angle = rng.uniform(*speed), rng.uniform(0, 2 * np.pi)
        return {"shift": (float(v * np.sin(angle)), float(v * np.cos(angle)))}
    sign = float(rng.choice([-1.0, 1.0]))
    if kind == "rotation":
        return {"rotation": float(np.deg2rad(sign * rng.uniform(*ROTATION_DEG)))}
    if kind == "dilation":
        return {"zoom": float(np.exp(sign * rng.uniform(*LOG_ZOOM)))}
    raise ValueError(f"unknown transform {kind!r}; choose from {', '.join(TRANSFORMS)}")


def _central_std(frame: np.ndarray, corner, region: int, p: int) -> float:
    off = (region - p) // 2  # transformed_movie's frame 0 is the pixel-aligned central crop
    return _patch_std(frame, corner[0] + off, corner[1] + off, p)


def _draw_region(video: VideoSample, rng) -> tuple[int, tuple[int, int]]:
    """(frame position in the sample, top-left corner) uniformly, within the border."""
    region = REGION_PATCHES * video.patch_size
    (h, w), b = video.shape, video.border
    i = int(rng.integers(len(video.frames)))
    return i, (int(rng.integers(b, h - b - region + 1)), int(rng.integers(b, w - b - region + 1)))


def _apart(a, b, region: int) -> bool:
    """Two (frame position, corner) draws of one video: other frames, no shared pixel position."""
    return a[0] != b[0] and (abs(a[1][0] - b[1][0]) >= region or abs(a[1][1] - b[1][1]) >= region)


def _draw_pair(source: VideoSample, target: VideoSample, rng, min_contrast: float, same: bool):
    """A (source, target) pair of draws, both with enough central contrast and, from the same
    video, `_apart` (pairs are drawn again until they are)."""
    region = REGION_PATCHES * source.patch_size
    p = source.patch_size
    t_src = max(min_contrast * source.typical_std, MIN_STD)
    t_tgt = max(min_contrast * target.typical_std, MIN_STD)
    for _ in range(MAX_TRIES):
        a, b = _draw_region(source, rng), _draw_region(target, rng)
        if same and not _apart(a, b, region):
            continue
        if (_central_std(source.frames[a[0]], a[1], region, p) >= t_src
                and _central_std(target.frames[b[0]], b[1], region, p) >= t_tgt):
            return a, b
    apart = " apart from each other" if same else ""
    raise VideoError(f"found no source and target regions{apart} with enough contrast in "
                     f"{MAX_TRIES} draws in {source.path} and {target.path} (central patch std "
                     f">= {t_src:.3g} and {t_tgt:.3g}; lower --min-contrast)")


def _check_same_video_room(video: VideoSample) -> None:
    region = REGION_PATCHES * video.patch_size
    room = [n - 2 * video.border - region for n in video.shape]
    if max(room) < region:
        raise VideoError(f"video {video.path} is too small for two non-overlapping "
                         f"{region}x{region} regions (source and target from the same video)")
    if len(video.frames) < 2:
        raise VideoError(f"video {video.path} has fewer than 2 frames with contrast: source and "
                         f"target from the same video need two")


def same_video(source: VideoSample, target: VideoSample) -> bool:
    """Whether the two samples come from the same file (then their regions are kept apart)."""
    return source is target or source.path.resolve() == target.path.resolve()


def draw_trials(source: VideoSample, target: VideoSample, kind: str, n_trials: int, *,
                seed: int = 0, min_contrast: float = 0.5,
                speed: tuple[float, float] = SPEED) -> list[Trial]:
    """`n_trials` random trials of transformation `kind` (module docstring): reproducible from
    `seed`; independent of the other kinds' trials."""
    if source.patch_size != target.patch_size:
        raise ValueError("source and target were loaded for different patch sizes")
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown transform {kind!r}; choose from {', '.join(TRANSFORMS)}")
    same = same_video(source, target)
    if same:
        _check_same_video_room(source)
    rng = np.random.default_rng([seed, 100 + TRANSFORMS.index(kind)])
    region = REGION_PATCHES * source.patch_size
    trials = []
    for _ in range(n_trials):
        params = draw_transform(kind, rng, speed)
        (i, a), (j, b) = _draw_pair(source, target, rng, min_contrast, same)
        trials.append(Trial(
            kind, params,
            int(source.index[i]), a, source.frames[i][a[0]:a[0] + region, a[1]:a[1] + region],
            int(target.index[j]), b, target.frames[j][b[0]:b[0] + region, b[1]:b[1] + region]))
    return trials


# --------------------------------------------------------------------------- scores
REFERENCES = ("static", "pixel_shift", "phase_oracle", "oracle")  # pixel_shift: translations


@dataclass
class TrialScores:
    """Per-frame scores of many trials of one transformation.

    correlation, snr_db: {name: float64 (n_trials, n_frames)} for each reference in `REFERENCES`
    and each method, as `transfer.scores` gives them per trial; trials: the `Trial`s.
    """

    transform: str
    trials: list[Trial]
    correlation: dict[str, np.ndarray]
    snr_db: dict[str, np.ndarray]

    @property
    def methods(self) -> list[str]:
        return [k for k in self.correlation if k not in REFERENCES]

    def per_trial(self, name: str, measure: str = "correlation") -> np.ndarray:
        """float64 (n_trials,): each trial's mean over the predicted frames 1..T−1."""
        return getattr(self, measure)[name][:, 1:].mean(axis=1)

    def mean(self, name: str, measure: str = "correlation") -> float:
        """Mean over frames 1..T−1 and over trials."""
        return float(self.per_trial(name, measure).mean())

    def by_displacement(self, name: str, edges) -> list[float | None]:
        """Mean correlation of `name` over the predicted frames of all trials, binned by the
        frame's total displacement |t v| (pixels) into [edges[i], edges[i+1]); None for an
        empty bin. Translation trials only."""
        D = np.array([np.hypot(*t.parameters["shift"]) for t in self.trials])
        disp = D[:, None] * np.arange(self.correlation[name].shape[1])[None, :]
        corr = self.correlation[name]
        out = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (disp >= lo) & (disp < hi)
            sel[:, 0] = False  # frame 0 is the target itself
            out.append(float(corr[sel].mean()) if sel.any() else None)
        return out

    def beats_static(self, name: str) -> int:
        """How many trials `name` has a higher mean correlation than the static frame in."""
        return int((self.per_trial(name) > self.per_trial("static")).sum())


def score_trial(model, trial: Trial, n_frames: int, methods, **options) -> tuple[dict, dict]:
    """One trial: ({name: transfer.scores(...)} for the references and methods, {method:
    predicted movie}) (the movies for pictures)."""
    source, truth = trial.movies(n_frames, model.patch_size)
    out = {"static": transfer.scores(transfer.static_baseline(truth[0], n_frames), truth),
           "phase_oracle": transfer.scores(transfer.phase_oracle(model, truth), truth),
           "oracle": transfer.scores(transfer.oracle(model, truth), truth)}
    if "shift" in trial.parameters:
        D = np.arange(n_frames)[:, None] * np.asarray(trial.parameters["shift"])[None, :]
        out["pixel_shift"] = transfer.scores(transfer.pixel_shift(truth[0], D), truth)
    preds = {}
    for method in methods:
        preds[method] = transfer.predict(model, source, truth[0], method=method,
                                         **options.get(method, {}))
        out[method] = transfer.scores(preds[method], truth)
    return out, preds


def run_trials(model, trials: list[Trial], n_frames: int, methods=("translation",),
               options: dict | None = None, on_trial=None) -> TrialScores:
    """Score every trial (`score_trial`); options: {method: keyword arguments of
    `transfer.predict`}; on_trial(i, trial, scores, predictions) is called after each trial."""
    options = options or {}
    names = [*REFERENCES, *methods]
    if trials and "shift" not in trials[0].parameters:
        names.remove("pixel_shift")
    corr = {k: np.zeros((len(trials), n_frames)) for k in names}
    snr = {k: np.zeros((len(trials), n_frames)) for k in names}
    for i, trial in enumerate(trials):
        s, preds = score_trial(model, trial, n_frames, methods, **options)
        for k in names:
            corr[k][i], snr[k][i] = s[k]["correlation"], s[k]["snr_db"]
        if on_trial is not None:
            on_trial(i, trial, s, preds)
    kind = trials[0].transform if trials else ""
    return TrialScores(kind, trials, corr, snr)


__all__ = ["TRANSFORMS", "REFERENCES", "VideoSample", "Trial", "TrialScores", "load_video",
           "typical_patch_std", "draw_transform", "draw_trials", "same_video", "score_trial",
           "run_trials"]
