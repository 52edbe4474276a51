"""Maps of one unit's codes over a video: where it is active (amplitude) and how its phase
turns (phase velocity), on the patch grid, at a few frames (`unit_maps_figure`)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from csc.plotting.bases import new_figure, save_figure
from csc.video.code_reader import VideoCodes
from csc.video.reader import read_frames

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def unit_maps_figure(codes: VideoCodes, unit: int, times: Sequence[int], *,
                     show_frames: bool = True, velocity: tuple | None = None,
                     velocity_max: float | None = None) -> Figure:
    """A matplotlib Figure (off pyplot): one column per frame t of `times` (each ≥ 1), rows
    (1) the video's frame t (with show_frames), (2) the unit's amplitude |z| on the grid at t,
    on one colour scale for all columns, (3) its phase velocity δ = wrap(φ_t − φ_{t−1}) in
    radians per frame, on a diverging scale symmetric about 0 up to `velocity_max` (default:
    the largest |δ| shown, at most π), dark grey where `VideoCodes.phase_velocity`'s mask is
    off (an amplitude below a tenth of the unit's largest). Each grid cell is drawn where its
    patch's centre is, over the frame's pixels. velocity: (delta, mask) of
    `codes.phase_velocity()` when already computed (it costs a pass over the amplitudes)."""
    from matplotlib import colormaps

    times = [int(t) for t in times]
    if not times or min(times) < 1 or max(times) >= codes.n_frames:
        raise ValueError(f"times must lie in [1, {codes.n_frames - 1}], got {times}")
    K = codes.attrs["model"]["n_components"]
    if not 0 <= unit < K:
        raise ValueError(f"unit must lie in [0, {K - 1}], got {unit}")
    delta, mask = codes.phase_velocity() if velocity is None else velocity
    amp = np.stack([np.asarray(codes.amplitude[t, :, :, unit]) for t in times])
    vel = np.stack([np.asarray(delta[t - 1, :, :, unit]) for t in times])
    on = np.stack([np.asarray(mask[t - 1, :, :, unit]) for t in times])
    grid = codes.grid
    yc, xc = grid.centers()
    s = grid.stride
    extent = (xc[0] - s / 2, xc[-1] + s / 2, yc[-1] + s / 2, yc[0] - s / 2)
    rows = 3 if show_frames else 2
    width = grid.width / grid.height
    fig = new_figure(figsize=(1.4 + 2.2 * width * len(times), 0.6 + 2.2 * rows),
                     layout="constrained")
    axes = fig.subplots(rows, len(times), squeeze=False)
    diverging = colormaps["RdBu_r"].with_extremes(bad="0.35")
    a_max = float(amp.max()) or 1.0
    if velocity_max is None:
        shown = np.abs(vel[on])
        velocity_max = min(float(shown.max()), np.pi) if shown.size else np.pi
    v_max = velocity_max or np.pi
    for j, t in enumerate(times):
        col = axes[:, j]
        if show_frames:
            frame = read_frames(codes.source, t, t + 1,
                                downsample=codes.attrs["settings"]["downsample"])[0]
            col[0].imshow(frame, cmap="gray", vmin=0, vmax=1)
            col[0].set_title(f"frame {t}", fontsize=9)
        im_a = col[-2].imshow(amp[j], cmap="magma", vmin=0, vmax=a_max, extent=extent,
                              interpolation="nearest")
        im_v = col[-1].imshow(np.ma.masked_array(vel[j], ~on[j]), cmap=diverging,
                              vmin=-v_max, vmax=v_max, extent=extent, interpolation="nearest")
        for ax in col:
            ax.set_xlim(0, grid.width)
            ax.set_ylim(grid.height, 0)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[-2, 0].set_ylabel("amplitude |z|", fontsize=9)
    axes[-1, 0].set_ylabel("phase velocity (rad/frame)", fontsize=9)
    fig.colorbar(im_a, ax=axes[-2, :].tolist(), shrink=0.9)
    fig.colorbar(im_v, ax=axes[-1, :].tolist(), shrink=0.9)
    if show_frames:  # the frames keep the maps' width: a colour bar's room, left empty
        fig.colorbar(im_a, ax=axes[0, :].tolist(), shrink=0.9).remove()
    fig.suptitle(f"{codes.name}: unit {unit} on {grid.rows}x{grid.cols} patches of "
                 f"{grid.patch_size} px every {s} px; dark grey: amplitude below a tenth of "
                 f"the unit's largest", fontsize=9)
    return fig


def save_unit_maps_png(codes: VideoCodes, unit: int, times: Sequence[int], path: str | Path,
                       **kwargs) -> None:
    """`unit_maps_figure` saved to `path` (PNG, atomically)."""
    save_figure(unit_maps_figure(codes, unit, times, **kwargs), path, dpi=100)
