"""Figures of next-frame prediction: error ratios per step ahead, and movies side by side."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from csc.analysis.prediction_trials import REFERENCES
from csc.plotting.bases import new_figure, save_figure


def side_by_side(columns: list[np.ndarray], zoom: int, gap: int = 4,
                 labels: list[str] | None = None) -> np.ndarray:
    """Movies (T, p, p) → one movie (T, zoom·p, n·zoom·p + gaps), values clipped to [0, 1];
    with `labels` (one per column), a strip of LABEL_HEIGHT pixels on top names each column."""
    T = columns[0].shape[0]
    big = [np.kron(np.clip(c, 0, 1), np.ones((1, zoom, zoom))) for c in columns]
    spacer = np.ones((T, big[0].shape[1], gap), np.float32)
    parts = []
    for i, b in enumerate(big):
        parts += [b] if i == 0 else [spacer, b]
    movie = np.concatenate(parts, axis=2)
    if labels is None:
        return movie
    if len(labels) != len(columns):
        raise ValueError(f"{len(labels)} labels for {len(columns)} columns")
    strip = label_strip(labels, big[0].shape[2], gap)
    return np.concatenate([np.broadcast_to(strip, (T, *strip.shape)), movie], axis=1)


#: height in pixels of `label_strip`
LABEL_HEIGHT = 14


def label_strip(labels: list[str], width: int, gap: int) -> np.ndarray:
    """A white strip float (LABEL_HEIGHT, n·width + (n − 1)·gap) in [0, 1] with each label
    written in black, centred over its column of `width` pixels (columns `gap` apart)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    n = len(labels)
    total = n * width + (n - 1) * gap
    dpi = 100
    fig = new_figure(figsize=(total / dpi, LABEL_HEIGHT / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    for i, label in enumerate(labels):
        fig.text((i * (width + gap) + width / 2) / total, 0.5, label, ha="center", va="center",
                 fontsize=7)
    canvas.draw()
    gray = np.asarray(canvas.buffer_rgba())[..., :3].mean(axis=2) / 255.0
    out = np.ones((LABEL_HEIGHT, total), np.float32)  # the canvas may round a pixel off
    h, w = min(LABEL_HEIGHT, gray.shape[0]), min(total, gray.shape[1])
    out[:h, :w] = gray[:h, :w]
    return out


def save_error_ratios_png(ratios: dict[str, dict[str, list[float]]], path: str | Path) -> None:
    """One panel per clip: each method's and reference's error ratio to holding the last frame
    (y) against the number of frames ahead (x), references dashed in greys (values above 2 are
    off the axes). ratios: {clip: {name: [ratio per step]}}."""
    fig = new_figure(figsize=(4.2 * len(ratios), 3.4))
    for i, (clip, curves) in enumerate(ratios.items()):
        ax = fig.add_subplot(1, len(ratios), i + 1)
        references = [n for n in curves if n in REFERENCES]
        methods = [n for n in curves if n not in REFERENCES]
        steps = np.arange(1, len(next(iter(curves.values()))) + 1)
        for j, name in enumerate(references):
            ax.plot(steps, curves[name], "--", color=str(0.15 + 0.2 * j), marker="s", ms=3,
                    label=name)
        for j, name in enumerate(methods):
            ax.plot(steps, curves[name], "-", color=f"C{j}", marker="o", ms=3, label=name)
        ax.set_title(clip, fontsize=9)
        ax.set_xticks(steps)
        ax.set_xlabel("frames ahead")
        ax.set_ylim(0, 2)
        if i == 0:
            ax.set_ylabel("squared error / holding the last frame")
    fig.axes[-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
