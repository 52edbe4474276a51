"""Pictures of second-layer units (motion or form), drawn as the paper does: each first-layer unit
is a dot at its position in the patch and at its spatial-frequency vector, coloured by its weight
in the second-layer unit (diverging colormap, limits symmetric about zero)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

from csc.plotting.bases import new_figure, save_figure


def save_second_layer_png(components: np.ndarray, centres: np.ndarray, frequencies: np.ndarray,
                          path: str | Path, n_show: int = 16, patch_size: float | None = None,
                          title: str | None = None, mirror: str | None = "odd",
                          units: np.ndarray | None = None) -> None:
    """One panel pair per second-layer unit (up to n_show): left, the first-layer units at their
    envelope centres (row, col) in the patch; right, at their spatial-frequency vectors
    (f_row, f_col) in cycles/pixel. Colour = the unit's weight, symmetric limits per second-layer
    unit; dot size grows with |weight|, so the units that matter stand out.

    mirror: also draw each first-layer unit hollow at −f, as the same real pattern seen from the
    other half-plane: "odd" (default, for motion units: at −f the phase turns the other way, so
    the weight's sign flips), "even" (for form units: amplitudes do not change sign) or None.
    With signed frequencies (`csc.analysis.geometry.unit_frequency(B)`, whose sign says which way
    a unit's phase turns under a translation: on csc's first-layer models the mean cos of the
    wrapped residual of δ ≈ 2π⟨f, v⟩ was 0.65 with it against 0.53 with the folded frequency) a
    translation-coding motion unit then shows one consistent dipole across the whole plane.

    components (K, L), centres (K, 2) and frequencies (K, 2) as from
    `csc.analysis.geometry.envelope_centre` / `unit_frequency` of `PixelModel.bases_pixels()`;
    patch_size (pixels) fixes the position panel's extent (default: from the centres); units:
    the second-layer units to draw, in order (default all in index order; the first n_show).
    """
    components = np.asarray(components, np.float64)
    centres = np.asarray(centres, np.float64)
    frequencies = np.asarray(frequencies, np.float64)
    K, L = components.shape
    if mirror not in ("odd", "even", None):
        raise ValueError(f"mirror must be 'odd', 'even' or None, got {mirror!r}")
    if centres.shape != (K, 2) or frequencies.shape != (K, 2):
        raise ValueError(f"centres and frequencies must be ({K}, 2), got {centres.shape} and "
                         f"{frequencies.shape}")
    units = (np.arange(L) if units is None else np.asarray(units, int))[:n_show]
    n = len(units)
    n_cols = max(1, math.ceil(math.sqrt(n)))
    n_rows = math.ceil(n / n_cols)
    extent = patch_size if patch_size is not None else max(float(np.max(centres)) + 0.5, 1.0)
    fmax = max(float(np.max(np.abs(frequencies))) * 1.1, 1e-3)
    fig = new_figure(figsize=(2.2 * 2 * n_cols, 2.3 * n_rows + 0.4))
    axes = fig.subplots(n_rows, 2 * n_cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    scatter = None
    for i, l in enumerate(units):
        r, c = divmod(i, n_cols)
        ax_pos, ax_freq = axes[r, 2 * c], axes[r, 2 * c + 1]
        w = components[:, l]
        lim = max(float(np.max(np.abs(w))), 1e-12)
        size = 6 + 60 * np.abs(w) / lim
        order = np.argsort(np.abs(w))                       # strongest drawn on top
        kw = dict(c=w[order], cmap="RdBu_r", vmin=-lim, vmax=lim, s=size[order],
                  edgecolors="k", linewidths=0.2)
        for ax in (ax_pos, ax_freq):
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
        scatter = ax_pos.scatter(centres[order, 1], centres[order, 0], **kw)
        ax_pos.set_xlim(-0.5, extent - 0.5)
        ax_pos.set_ylim(extent - 0.5, -0.5)               # image coordinates: row 0 at the top
        ax_pos.set_title(f"unit {l}: position", fontsize=7)
        ax_freq.scatter(frequencies[order, 1], frequencies[order, 0], **kw)
        if mirror is not None:
            sign = -1.0 if mirror == "odd" else 1.0
            ax_freq.scatter(-frequencies[order, 1], -frequencies[order, 0], c="none",
                            edgecolors=matplotlib.colormaps["RdBu_r"](
                                0.5 + 0.5 * sign * w[order] / lim),
                            s=size[order], linewidths=0.8)
        ax_freq.axhline(0, color="0.8", lw=0.5, zorder=0)
        ax_freq.axvline(0, color="0.8", lw=0.5, zorder=0)
        ax_freq.set_xlim(-fmax, fmax)
        ax_freq.set_ylim(fmax, -fmax)
        ax_freq.set_title("frequency", fontsize=7)
    if scatter is not None:
        cb = fig.colorbar(scatter, ax=axes.ravel().tolist(), shrink=0.6, ticks=[])
        cb.set_label("weight (− … +, scaled per unit)")
    fig.suptitle(title or f"second-layer units ({n} of {L}): first-layer units by position and "
                 "spatial frequency, coloured by weight", fontsize=9)
    save_figure(fig, path, dpi=100)


def match_columns(true: np.ndarray, learned: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """Best one-to-one matching of learned columns to true ones under sign and permutation
    (greedy on |cosine|). Returns (perm, signs, cosines): learned[:, perm[j]] * signs[j] matches
    true[:, j] with cosine cosines[j] (columns taken as unit norm)."""
    t = true / np.linalg.norm(true, axis=0)
    u = learned / np.linalg.norm(learned, axis=0)
    C = t.T @ u
    A = np.abs(C).copy()
    L = true.shape[1]
    perm = np.full(L, -1)
    for _ in range(min(L, learned.shape[1])):
        j, k = np.unravel_index(np.argmax(A), A.shape)
        perm[j] = k
        A[j, :] = -1
        A[:, k] = -1
    signs = np.sign(C[np.arange(L), perm])
    signs[signs == 0] = 1
    return perm, signs, np.abs(C[np.arange(L), perm])


def save_recovery_png(true: np.ndarray, learned: np.ndarray, path: str | Path,
                      history: dict | None = None, title: str = "planted recovery") -> None:
    """Planted versus learned dictionary columns (matched for sign and order) as bar pairs, with
    the |cosine| of each match, and (if given) the per-update energy of learning."""
    perm, signs, cos = match_columns(true, learned)
    L = true.shape[1]
    K = true.shape[0]
    n_panels = L + (history is not None)
    fig = new_figure(figsize=(3.6 * n_panels, 3))
    axes = fig.subplots(1, n_panels, squeeze=False)
    x = np.arange(K)
    for j in range(L):
        ax = axes[0, j]
        ax.bar(x - 0.2, true[:, j], width=0.4, label="planted", color="0.4")
        ax.bar(x + 0.2, signs[j] * learned[:, perm[j]], width=0.4, label="learned",
               color="tab:orange")
        ax.set_title(f"column {j}: |cos| = {cos[j]:.4f}", fontsize=9)
        ax.set_xlabel("first-layer unit")
        if j == 0:
            ax.legend(fontsize=7)
    if history is not None:
        ax = axes[0, -1]
        ax.plot(np.arange(1, len(history["energy"]) + 1), history["energy"], lw=1)
        ax.set_xlabel("update")
        ax.set_title("energy per frame", fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def save_form_units_png(components: np.ndarray, centres: np.ndarray, orientation: np.ndarray,
                        activity: np.ndarray, movies: np.ndarray, path: str | Path,
                        units: np.ndarray, n_patches: int = 4) -> None:
    """What form units respond to: one row per unit in `units` (most used first). Left, its
    first-layer inputs drawn as bars at their envelope centres (row, col), along the stripes of
    each unit's pattern (perpendicular to its frequency; orientation (K,) radians of the
    frequency vector, `geometry.orientation`), length and opacity by |weight|, red for positive
    weights and blue for negative; right, the frames that drive it most, one per movie from the
    `n_patches` movies whose best frame drives it most.

    components (K, L); activity float (n, T, L): the unit activities of `movies` (n, T, p, p)
    (pixels, shown on one grey scale per frame).
    """
    components = np.asarray(components, np.float64)
    units = np.asarray(units, int)
    p = movies.shape[-1]
    n_rows = max(len(units), 1)
    fig = new_figure(figsize=(1.5 * (1 + n_patches), 1.5 * n_rows + 0.5))
    axes = fig.subplots(n_rows, 1 + n_patches, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    # geometry.orientation is the angle of (f_col, f_row); the stripes run perpendicular to it
    stripe = np.asarray(orientation, float) + np.pi / 2
    dr, dc = np.sin(stripe), np.cos(stripe)  # (row, col) of a unit step along the stripes
    for i, u in enumerate(units):
        w = components[:, u]
        lim = max(float(np.max(np.abs(w))), 1e-12)
        ax = axes[i, 0]
        for k in np.argsort(np.abs(w)):
            half = 2.5 * abs(w[k]) / lim
            ax.plot([centres[k, 1] - half * dc[k], centres[k, 1] + half * dc[k]],
                    [centres[k, 0] - half * dr[k], centres[k, 0] + half * dr[k]],
                    color="tab:red" if w[k] > 0 else "tab:blue", alpha=abs(w[k]) / lim,
                    lw=2.5, solid_capstyle="round")
        ax.set_xlim(-0.5, p - 0.5)
        ax.set_ylim(p - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_ylabel(f"unit {u}", fontsize=7)
        best_t = activity[:, :, u].argmax(1)  # each movie's most driving frame
        best = activity[np.arange(len(movies)), best_t, u]
        for j, n in enumerate(np.argsort(-best)[:n_patches]):
            axes[i, 1 + j].imshow(movies[n, best_t[n]], cmap="gray", interpolation="nearest")
    axes[0, 0].set_title("inputs (red +, blue −)", fontsize=7)
    for j in range(n_patches):
        axes[0, 1 + j].set_title(f"driving frame {j + 1}", fontsize=7)
    fig.suptitle("form units: their strongest first-layer inputs and the frames that drive them",
                 fontsize=8)
    save_figure(fig, path, dpi=100)
