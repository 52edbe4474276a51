"""Pictures of a learned model: tiled bases, a GIF of their phases turning, training curves."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from csc.io import atomic_write


def new_figure(**kwargs):
    """A matplotlib `Figure` not managed by pyplot: drawing and saving it neither switches the
    user's backend nor opens a window, and it is freed like any object."""
    from matplotlib.figure import Figure  # matplotlib loads only when a figure is drawn

    return Figure(**kwargs)


def save_figure(fig, path: str | Path, **savefig_kwargs) -> None:
    """`fig.savefig` to `path` atomically (`csc.io.atomic_write`), in the format its suffix
    names."""
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or None, **savefig_kwargs)


def tile(images: np.ndarray, n_cols: int | None = None, pad: int = 1,
         symmetric: bool = True) -> np.ndarray:
    """Tile images (n, h, w) into one float array in [0, 1], each image scaled on its own
    (symmetric: 0.5 is zero), separated by `pad` pixels of background."""
    n, h, w = images.shape
    n_cols = n_cols or math.ceil(math.sqrt(n))
    n_rows = math.ceil(n / n_cols)
    out = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad), 0.5 if symmetric else 0.0)
    for i, img in enumerate(images):
        scale = np.max(np.abs(img)) or 1.0
        img = 0.5 + 0.5 * img / scale if symmetric else img / scale
        r, c = divmod(i, n_cols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h,
            pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return out


def bases_layout(n_units: int, p: int) -> tuple[int, int, int]:
    """(columns, cell height, cell width) of `bases_image`'s grid for K units of p×p: a cell
    holds one unit's three p×p panels with 1-pixel separators, and a 2-pixel gap around."""
    return max(1, round(math.sqrt(n_units) / 2)), p + 4, 3 * p + 6


def bases_image(bases: np.ndarray) -> np.ndarray:
    """Complex bases (K, p, p) → a grid where each unit shows its real part, imaginary part and
    amplitude envelope |R + iI| side by side (each triple scaled together). float (H, W): the
    panels in [0, 1] (0.5 is zero for the real and imaginary parts), white 1-pixel separators
    between a unit's panels, NaN in the gaps between units (drawn in a colour of their own)."""
    K, p, _ = bases.shape
    triples = np.zeros((K, p, 3 * p + 2))
    for k, b in enumerate(bases):
        scale = max(np.max(np.abs(b.real)), np.max(np.abs(b.imag)), 1e-12)
        env = np.abs(b) / max(np.max(np.abs(b)), 1e-12)
        triples[k, :, :p] = 0.5 + 0.5 * b.real / scale
        triples[k, :, p + 1: 2 * p + 1] = 0.5 + 0.5 * b.imag / scale
        triples[k, :, 2 * p + 2:] = env
        triples[k, :, [p, 2 * p + 1]] = 1.0
    n_cols, cell_h, cell_w = bases_layout(K, p)
    grid = np.full((math.ceil(K / n_cols) * cell_h, n_cols * cell_w), np.nan)
    for k in range(K):
        r, c = divmod(k, n_cols)
        row, col = r * cell_h + 2, c * cell_w + 2
        grid[row: row + p, col: col + 3 * p + 2] = triples[k]
    return grid


def save_bases_png(bases: np.ndarray, path: str | Path) -> None:
    """bases.png: real | imaginary | envelope of each unit (complex (K, p, p) in pixel space),
    each cell numbered with its unit index, the gaps between units in light blue."""
    from matplotlib import colormaps

    K, p, _ = bases.shape
    img = bases_image(bases)
    n_cols, cell_h, cell_w = bases_layout(K, p)
    fig = new_figure(figsize=(min(16, 2 + img.shape[1] / 30), min(16, 1 + img.shape[0] / 30)))
    ax = fig.subplots()
    cmap = colormaps["gray"].with_extremes(bad="#cfe0f5")
    ax.imshow(np.ma.masked_invalid(img), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    size = max(4.0, min(8.0, 60.0 / math.ceil(K / n_cols)))
    for k in range(K):
        r, c = divmod(k, n_cols)
        ax.text(c * cell_w + 2, r * cell_h + 1.6, str(k), color="#1f3f7a", fontsize=size,
                va="bottom", ha="left")
    ax.set_title("each unit (numbered): real part | imaginary part | amplitude envelope")
    ax.axis("off")
    save_figure(fig, path, dpi=100, bbox_inches="tight")


def save_bases_gif(bases: np.ndarray, path: str | Path, n_steps: int = 16,
                   zoom: int = 3) -> None:
    """bases.gif: every unit's phase turning through 2π, Re(e^{−iθ}(R + iI)) = cosθ R + sinθ I,
    so its pattern drifts as it would under the motion its phase encodes."""
    import imageio.v3 as iio

    frames = []
    for theta in np.linspace(0, 2 * np.pi, n_steps, endpoint=False):
        rotated = np.cos(theta) * bases.real + np.sin(theta) * bases.imag
        scaled = rotated / np.maximum(np.max(np.abs(bases), axis=(1, 2), keepdims=True), 1e-12)
        img = tile(scaled, symmetric=True)
        img = np.kron(img, np.ones((zoom, zoom)))
        frames.append((np.clip(img, 0, 1) * 255).astype(np.uint8))
    with atomic_write(path) as f:
        iio.imwrite(f, np.stack(frames), extension=".gif", duration=80, loop=0)


def running_mean(values, window: int) -> np.ndarray:
    """The mean of the last `window` values at each point (fewer at the start), float (n,)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    c = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(1, v.size + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def save_training_png(history: dict, path: str | Path) -> None:
    """training.png: energy per frame, reconstruction SNR and active fraction over updates; each
    raw per-update value faint, its running mean over a fiftieth of the run (at least 5
    updates) on top."""
    fig = new_figure(figsize=(13, 3.5))
    axes = fig.subplots(1, 3)
    for ax, key, label in zip(axes, ("energy", "snr", "active"),
                              ("energy per frame", "reconstruction SNR (dB)",
                               "active fraction of amplitudes")):
        values = np.asarray(history[key], dtype=np.float64)
        x = np.arange(1, len(values) + 1)
        window = max(5, len(values) // 50)
        ax.plot(x, values, lw=0.6, alpha=0.35, color="C0", label="per update")
        ax.plot(x, running_mean(values, window), lw=1.6, color="C0",
                label=f"mean of the last {window}")
        ax.set_xlabel("update")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
