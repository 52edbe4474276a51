"""Polar plots of motion-unit tuning curves (`csc.analysis.motion_tuning.tuning_curves`)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from csc.analysis.motion_tuning import active_units, summary, unit_strength
from csc.plotting.bases import new_figure, save_figure

#: how each stimulus kind is drawn
STYLES = {"grating": dict(color="tab:blue", lw=1.2), "noise": dict(color="tab:orange", lw=1.2)}


def unit_order(result: dict) -> np.ndarray:
    """Motion units by decreasing strongest response (`motion_tuning.unit_strength`), so that
    the units the model uses come first: int (L,) indices."""
    return np.argsort(-unit_strength(result), kind="stable")


def _closed_curve(kind: dict, unit: int, speeds: np.ndarray, directions: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(angles in radians, R at the kind's preferred speed scaled to its peak), both closed."""
    j = int(np.argmin(np.abs(speeds - kind["preferred_speed"][unit])))
    r = kind["rectified"][unit, :, j]
    r = r / r.max() if r.max() > 0 else r
    theta = np.radians(np.append(directions, directions[0]))
    return theta, np.append(r, r[0])


def save_motion_tuning_png(result: dict, path: str | Path, max_units: int = 16) -> None:
    """One polar panel per motion unit (at most `max_units`, in `unit_order`): the rectified
    tuning curve R(θ) to gratings and to noise, each at its own preferred speed and scaled to its
    own peak, with its preferred direction (vector sum) as a radial line. Directions as in
    `csc.analysis.motion_tuning`: 0° = motion to the right, counter-clockwise as displayed (90° =
    up). Each title gives the unit's index, its DSI under gratings | noise, the angle between
    their preferred directions, and "active" for the units `motion_tuning.active_units` counts."""
    directions = np.asarray(result["directions"], np.float64)
    speeds = np.asarray(result["speeds"], np.float64)
    grating, noise = result["grating"], result["noise"]
    units = unit_order(result)[:max(int(max_units), 1)]
    active = active_units(result)
    figures = summary(result)
    n_cols = max(1, math.ceil(math.sqrt(len(units))))
    n_rows = math.ceil(len(units) / n_cols)
    fig = new_figure(figsize=(max(2.0 * n_cols, 6.0), 2.3 * n_rows + 1.2))
    for i, l in enumerate(units):
        ax = fig.add_subplot(n_rows, n_cols, i + 1, projection="polar")
        for name, kind in (("grating", grating), ("noise", noise)):
            theta, r = _closed_curve(kind, l, speeds, directions)
            ax.plot(theta, r, label=name, **STYLES[name])
            pref = math.radians(kind["preferred_direction"][l])
            ax.plot([pref, pref], [0, 1], ls=":", **STYLES[name])
        ax.set_ylim(0, 1.05)
        ax.set_xticks(np.radians([0, 90, 180, 270]))
        ax.set_xticklabels([])
        ax.set_yticks([])
        ax.set_title(f"unit {l}{' (active)' if active[l] else ''}: DSI {grating['dsi'][l]:.2f}"
                     f" | {noise['dsi'][l]:.2f}, Δ {result['invariance']['angle'][l]:.0f}°",
                     fontsize=7, pad=9)
        if i == 0:
            fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=7,
                       title="rectified response at the preferred speed (each scaled to its "
                             "peak); dotted: preferred direction", title_fontsize=7)
    fig.suptitle(f"motion-unit direction tuning, the {len(units)} strongest of "
                 f"{len(grating['dsi'])} units (0° = rightward, 90° = up)\n"
                 f"{figures['n_active']} active units: median DSI grating "
                 f"{figures['median_dsi_grating_active']:.2f}, noise "
                 f"{figures['median_dsi_noise_active']:.2f}; grating and noise preferred "
                 f"directions within 30°: {100 * figures['share_within_30_active']:.0f}%",
                 fontsize=8)
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.9 / height, top=1 - 0.95 / height,
                        hspace=0.45, wspace=0.2)
    save_figure(fig, path, dpi=100)
