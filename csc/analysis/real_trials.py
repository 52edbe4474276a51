"""Transfer trials from real motion: two places of one clip that move the same way.

In a pan, or wherever a scene moves rigidly, two patches at different places of the same frames
show different patterns under one motion. One is the source, the other the target: the
prediction carries the target by the source's motion and is scored against the target's true
frames, as `transfer_trials` does with synthetic motion, but nothing is moved synthetically.

`patch_velocities` measures the motion of every place of a grid in the pixels, independently of
any model: Lucas–Kanade least squares on the patch's gradients, refined by warping (`LK_STEPS`).
A place qualifies when its velocity is steady over the window (each transition within
`STEADY` px/frame of the mean), its speed is in `SPEED` px/frame, the warp by its velocity
explains the frames (correlation ≥ `MIN_FIT`), and its first frame has contrast. Pairs of
places that do not overlap and whose mean velocities agree within `AGREE` px/frame make the
trials (`draw_real_trials`); windows that hold a shot cut are skipped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from csc.analysis.prediction_trials import shot_cuts
from csc.analysis.transfer import shift_frames

SPEED = (0.25, 2.0)  # px/frame
STEADY = 0.2  # px/frame
AGREE = 0.15  # px/frame
MIN_FIT = 0.9
MIN_STD = 0.03
LK_STEPS = 4


@dataclass
class RealTrial:
    """One pair of places of one clip over the same frames: source and truth float32
    (n_frames, p, p); parameters {"shift": the truth's mean measured velocity (row, col)}."""

    frame: int
    source_corner: tuple[int, int]
    target_corner: tuple[int, int]
    source: np.ndarray = field(repr=False)
    truth: np.ndarray = field(repr=False)
    parameters: dict = field(default_factory=dict)
    transform: str = "real-translation"

    def movies(self, n_frames: int, p: int) -> tuple[np.ndarray, np.ndarray]:
        return self.source[:n_frames], self.truth[:n_frames]

    def describe(self) -> dict:
        return {"transform": self.transform, "frame": self.frame,
                "parameters": {"shift": [float(v) for v in self.parameters["shift"]]},
                "source": {"corner": list(self.source_corner)},
                "target": {"corner": list(self.target_corner)}}


def lucas_kanade(a, b, steps: int = LK_STEPS) -> np.ndarray:
    """Velocity float64 (n, 2) (row, col) with b(x) ≈ a(x − v) for patch pairs a, b (n, p, p),
    by least squares on a's gradients, refined `steps` times on a warped by the estimate."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    V = np.zeros((len(a), 2))
    inner = (slice(None), slice(2, -2), slice(2, -2))  # the edges of a warp are made up
    for _ in range(steps):
        w = shift_frames(a, V) if V.any() else a
        gr, gc = np.gradient(w, axis=(1, 2))
        gr, gc, dt = gr[inner], gc[inner], (b - w)[inner]
        A = np.stack([[(gr * gr).sum((1, 2)), (gr * gc).sum((1, 2))],
                      [(gr * gc).sum((1, 2)), (gc * gc).sum((1, 2))]]).transpose(2, 0, 1)
        rhs = -np.stack([(gr * dt).sum((1, 2)), (gc * dt).sum((1, 2))], 1)
        A += 1e-6 * np.eye(2)
        V += np.linalg.solve(A, rhs[..., None])[..., 0]
    return V


def patch_velocities(movies) -> tuple[np.ndarray, np.ndarray]:
    """(velocities float64 (n, T − 1, 2), fit float64 (n,)) of patch movies (n, T, p, p): the
    measured velocity of every transition and the mean correlation of each frame t with frame 0
    warped by the summed mean velocity (frames 1..T−1)."""
    movies = np.asarray(movies, np.float64)
    n, T = movies.shape[:2]
    V = np.stack([lucas_kanade(movies[:, t], movies[:, t + 1]) for t in range(T - 1)], 1)
    mean = V.mean(1)
    fit = np.zeros(n)
    for t in range(1, T):
        w = shift_frames(movies[:, 0], t * mean)[:, 2:-2, 2:-2].reshape(n, -1)
        x = movies[:, t, 2:-2, 2:-2].reshape(n, -1)
        w, x = w - w.mean(1, keepdims=True), x - x.mean(1, keepdims=True)
        den = np.sqrt((w * w).sum(1) * (x * x).sum(1))
        fit += np.where(den > 0, (w * x).sum(1) / np.where(den > 0, den, 1), 0) / (T - 1)
    return V, fit


def _qualifying(window, p: int) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Grid places (stride p) of one window of frames (T, H, W) that qualify, their movies and
    mean velocities."""
    T, H, W = window.shape
    corners = [(r, c) for r in range(0, H - p + 1, p) for c in range(0, W - p + 1, p)]
    movies = np.stack([window[:, r:r + p, c:c + p] for r, c in corners])
    # a cheap first look (one unrefined step, first transition) spares most places the full fit
    first = np.hypot(*lucas_kanade(movies[:, 0], movies[:, 1], steps=1).T)
    look = np.flatnonzero((movies[:, 0].std(axis=(1, 2)) >= MIN_STD)
                          & (first >= SPEED[0] / 2) & (first <= 2 * SPEED[1]))
    corners, movies = [corners[i] for i in look], movies[look]
    if not corners:
        return [], movies, np.zeros((0, 2))
    V, fit = patch_velocities(movies)
    mean = V.mean(1)
    speed = np.hypot(*mean.T)
    ok = ((np.abs(V - mean[:, None]).max(axis=(1, 2)) <= STEADY) & (speed >= SPEED[0])
          & (speed <= SPEED[1]) & (fit >= MIN_FIT) & (movies[:, 0].std(axis=(1, 2)) >= MIN_STD))
    keep = np.flatnonzero(ok)
    return [corners[i] for i in keep], movies[keep], mean[keep]


def draw_real_trials(frames, n_trials: int, n_frames: int, patch_size: int, *, seed: int = 0,
                     max_windows: int | None = None) -> list[RealTrial]:
    """Up to `n_trials` trials from a clip's frames float (N, H, W) in [0, 1]: random windows of
    `n_frames` frames without a cut (at most `max_windows`, default 4 × n_trials), one pair of
    qualifying places per window (module docstring). ValueError when the clip gives none."""
    frames = np.asarray(frames, np.float32)
    p = patch_size
    if frames.ndim != 3 or len(frames) < n_frames:
        raise ValueError(f"the clip has {len(frames)} frames; trials need {n_frames}")
    cut = shot_cuts(frames)
    rng = np.random.default_rng([seed, 200])
    max_windows = 4 * n_trials if max_windows is None else max_windows
    starts = rng.permutation(len(frames) - n_frames + 1)[:max_windows]
    trials = []
    for t in starts:
        if len(trials) == n_trials:
            break
        if cut[t:t + n_frames - 1].any():
            continue
        corners, movies, mean = _qualifying(frames[t:t + n_frames], p)
        pairs = [(i, j) for i in range(len(corners)) for j in range(len(corners))
                 if i != j and np.abs(mean[i] - mean[j]).max() <= AGREE]
        if not pairs:
            continue
        i, j = pairs[rng.integers(len(pairs))]
        trials.append(RealTrial(int(t), corners[i], corners[j], movies[i].astype(np.float32),
                                movies[j].astype(np.float32), {"shift": tuple(mean[j])}))
    if not trials:
        raise ValueError(f"no two places of the clip move the same way (steady, "
                         f"{SPEED[0]}–{SPEED[1]} px/frame) over {n_frames} frames")
    return trials


__all__ = ["RealTrial", "lucas_kanade", "patch_velocities", "draw_real_trials"]
