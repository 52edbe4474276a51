"""The live view of a stream: each frame beside the amplitude and phase-velocity maps of chosen
units, as RGB images, written to an MP4 as they come or to a GIF at the end.

One row per unit: the frame (gray), the unit's amplitude on the patch grid (black to white,
scaled by the largest amplitude the unit has shown so far, so the view does not flicker), and
its phase velocity wrap(φ_t − φ_{t−1}) (the "twilight_shifted" colour wheel over (−π, π],
white at 0; gray where either amplitude is below the threshold, so the phase carries no motion
there). Maps are drawn at the frame's size, each patch's value over the stride × stride block
at its centre.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from csc.core.phases import DEFAULT_REL_THRESHOLD, phase_velocity
from csc.video.grid import PatchGrid

GAP = 4  # pixels between panels
MASKED = np.array([96, 96, 96], np.uint8)


def _on_frame(grid: PatchGrid, values: np.ndarray) -> np.ndarray:
    """(rows, cols, ...) on the grid → (height, width, ...): each value over the stride-square
    block centred on its patch, the rest 0."""
    s, p = grid.stride, grid.patch_size
    big = np.repeat(np.repeat(values, s, axis=0), s, axis=1)
    out = np.zeros((grid.height, grid.width, *values.shape[2:]), values.dtype)
    top = left = max((p - s) // 2, 0)
    h, w = min(big.shape[0], grid.height - top), min(big.shape[1], grid.width - left)
    out[top:top + h, left:left + w] = big[:h, :w]
    return out


class LiveView:
    """Builds the view's images (`panel`) and writes them (`add`, then `close`) to `path`
    (.mp4: H.264 written as frames come; .gif: written at close), at `fps` frames/s."""

    def __init__(self, path: str | Path, units: Sequence[int], fps: float,
                 rel_threshold: float = DEFAULT_REL_THRESHOLD):
        import matplotlib

        self.path, self.units, self.fps = Path(path), list(units), float(fps)
        if self.path.suffix.lower() not in (".mp4", ".gif"):
            raise ValueError(f"the view must be a .mp4 or a .gif, got {self.path.name}")
        self.rel_threshold = rel_threshold
        self.colours = matplotlib.colormaps["twilight_shifted"]
        self.scale = np.zeros(len(self.units))
        self.previous = None
        self.frames: list[np.ndarray] = []
        self._container = self._stream = None

    def panel(self, frame: np.ndarray, codes: np.ndarray, grid: PatchGrid) -> np.ndarray:
        """uint8 RGB (units · (height + GAP) − GAP, 3 · width + 2 · GAP, 3) for one frame:
        frame float (height, width) in [0, 1], codes complex (rows, cols, K) on `grid`."""
        z = codes[:, :, self.units]
        amp = np.abs(z)
        self.scale = np.maximum(self.scale, amp.reshape(-1, len(self.units)).max(0))
        if self.previous is None:
            delta, mask = np.zeros(amp.shape), np.zeros(amp.shape, bool)
        else:
            pair = np.stack([self.previous, z], 2).reshape(-1, 2, len(self.units))
            threshold = self.rel_threshold * np.maximum(self.scale, 1e-30)
            delta, mask = phase_velocity(pair, threshold)
            delta, mask = (a.reshape(amp.shape) for a in (delta, mask))
        self.previous = z
        gray = np.repeat((np.clip(frame, 0, 1) * 255).astype(np.uint8)[:, :, None], 3, 2)
        rows = []
        for j in range(len(self.units)):
            a = amp[:, :, j] / max(self.scale[j], 1e-30)
            a_img = np.repeat((np.clip(a, 0, 1) * 255).astype(np.uint8)[:, :, None], 3, 2)
            v = self.colours((delta[:, :, j] + np.pi) / (2 * np.pi))[:, :, :3]
            v = (v * 255).astype(np.uint8)
            v[~mask[:, :, j]] = MASKED
            rows.append(_join([gray, _on_frame(grid, a_img), _on_frame(grid, v)], axis=1))
        return _join(rows, axis=0)

    def add(self, frame: np.ndarray, codes: np.ndarray, grid: PatchGrid) -> None:
        image = self.panel(frame, codes, grid)
        if self.path.suffix.lower() == ".gif":
            self.frames.append(image)
            return
        import av

        h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2  # yuv420p: even sizes
        if self._container is None:
            self._container = av.open(str(self.path), "w")
            self._stream = self._container.add_stream("libx264", rate=max(round(self.fps), 1))
            self._stream.width, self._stream.height, self._stream.pix_fmt = w, h, "yuv420p"
        frame_out = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]),
                                               format="rgb24")
        self._container.mux(self._stream.encode(frame_out))

    def close(self) -> None:
        if self.path.suffix.lower() == ".gif":
            if self.frames:
                import imageio.v3 as iio

                iio.imwrite(self.path, np.stack(self.frames), plugin="pillow", is_batch=True,
                            duration=1000 / self.fps, loop=0)
            return
        if self._container is not None:
            self._container.mux(self._stream.encode(None))
            self._container.close()


def _join(images: list[np.ndarray], axis: int) -> np.ndarray:
    shape = list(images[0].shape)
    shape[axis] = GAP
    gap = np.full(shape, 255, np.uint8)
    parts = []
    for image in images:
        parts += [image, gap]
    return np.concatenate(parts[:-1], axis=axis)
