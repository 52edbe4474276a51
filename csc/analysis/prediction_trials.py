"""Next-frame prediction on real video: patch sequences cut from a clip, predicted by every
method of `csc.analysis.prediction` and scored against the frames that really follow.

A sequence is T input frames and n_ahead future frames of one p × p place of a clip, drawn at a
random time and place (`draw_sequences`). It is kept when:

- no shot cut falls inside it (`shot_cuts`, the scene splitter of `csc.video.scenes`);
- its last input frame has contrast (pixel std ≥ `min_std`);
- its last input transition moves (rms change ≥ `min_change`): the selection uses the input
  frames only, never the future ones.

Scores (`score`) are squared errors summed over all sequences and pixels, per step ahead, and
divided by those of holding the last frame (`prediction.copy_last`): below 1 beats holding still.
"""
from __future__ import annotations

import numpy as np

from csc.analysis import prediction
from csc.video.scenes import SceneSplitter

MAX_TRIES = 200  # draws per kept sequence before giving up
REFERENCES = ("copy", "static", "linear", "true phases")


def shot_cuts(frames) -> np.ndarray:
    """bool (n_frames − 1,): True where the transition t → t+1 is a shot cut
    (`csc.video.scenes.SceneSplitter` with its defaults); frames float (n, H, W) in [0, 1]."""
    splitter = SceneSplitter()
    return np.array([splitter.push(frame) for frame in np.asarray(frames, np.float32)][1:], bool)


def draw_sequences(frames, n: int, n_frames: int, n_ahead: int, patch_size: int, *,
                   min_std: float = 0.03, min_change: float = 0.01, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(inputs float32 (m, n_frames, p, p), future float32 (m, n_ahead, p, p)), m ≤ n.

    frames: float (n_frames_video, H, W) in [0, 1]. Fewer than n come back only when the clip
    has too few places that qualify (MAX_TRIES × n draws); ValueError when it has none or is too
    short or small.
    """
    frames = np.asarray(frames, np.float32)
    length, p = n_frames + n_ahead, patch_size
    if frames.ndim != 3 or len(frames) < length:
        raise ValueError(f"the clip has {len(frames)} frames; {n_frames} + {n_ahead} are needed")
    if min(frames.shape[1:]) < p:
        raise ValueError(f"the clip's frames {frames.shape[1:]} are smaller than a {p}-pixel patch")
    cut = shot_cuts(frames)
    rng = np.random.default_rng(seed)
    kept = []
    for _ in range(MAX_TRIES * n):
        if len(kept) == n:
            break
        t = int(rng.integers(0, len(frames) - length + 1))
        r = int(rng.integers(0, frames.shape[1] - p + 1))
        c = int(rng.integers(0, frames.shape[2] - p + 1))
        if cut[t:t + length - 1].any():
            continue
        S = frames[t:t + length, r:r + p, c:c + p]
        last, before = S[n_frames - 1], S[n_frames - 2]
        if last.std() < min_std or np.sqrt(((last - before) ** 2).mean()) < min_change:
            continue
        kept.append(S)
    if not kept:
        raise ValueError(f"no {p}-pixel place of the clip has contrast ≥ {min_std} and moves "
                         f"≥ {min_change} (rms) between two frames")
    S = np.stack(kept)
    return S[:, :n_frames], S[:, n_frames:]


def predictions(model, inputs, future, methods=prediction.METHODS, **options) -> dict:
    """{name: float32 (m, n_ahead, p, p)} for every method and reference (`REFERENCES`)."""
    n_ahead = future.shape[1]
    out = {"copy": prediction.copy_last(inputs, n_ahead),
           "static": prediction.static_reconstruction(model, inputs, n_ahead),
           "linear": prediction.linear_extrapolation(inputs, n_ahead),
           "true phases": prediction.true_phases(model, inputs, future)}
    for method in methods:
        out[method] = prediction.predict_frames(model, inputs, n_ahead, method, **options)
    return out


def score(preds: dict, future) -> dict:
    """{name: [error ratio to "copy" at each step ahead]} (squared errors summed over sequences
    and pixels)."""
    future = np.asarray(future, np.float64)
    err = {k: ((np.asarray(v, np.float64) - future) ** 2).sum(axis=(0, 2, 3))
           for k, v in preds.items()}
    copy = np.maximum(err["copy"], 1e-300)
    return {k: (e / copy).tolist() for k, e in err.items()}


__all__ = ["shot_cuts", "draw_sequences", "predictions", "score", "REFERENCES"]
