"""The patch grid of whole-video encoding and streaming: patches of a model's size on a frame,
their top-left corners every `stride` pixels down and across from the frame's top-left corner,
as many as fit; arrays on the grid are (T, rows, cols, K), sequences (rows · cols, T, K)."""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from csc.backends.backend import BACKENDS
from csc.core.params import check_number


@dataclass(frozen=True)
class PatchGrid:
    """Patch positions on frames of height × width pixels: top-left corners at
    (`stride` · i, `stride` · j) for i < rows, j < cols, each patch `patch_size` pixels square.

    Codes on the grid are laid out (T, rows, cols, K): frame, grid row, grid column, unit;
    `csc.analysis` takes sequences (n_sequences, T, K), which `to_sequences` gives
    (n_sequences = rows · cols, row-major).
    """

    height: int
    width: int
    patch_size: int
    stride: int

    @property
    def rows(self) -> int:
        return (self.height - self.patch_size) // self.stride + 1

    @property
    def cols(self) -> int:
        return (self.width - self.patch_size) // self.stride + 1

    def origins(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel rows (rows,) and columns (cols,) of the patches' top-left corners, int64."""
        return np.arange(self.rows) * self.stride, np.arange(self.cols) * self.stride

    def centers(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel rows (rows,) and columns (cols,) of the patches' centres, float64."""
        y, x = self.origins()
        c = (self.patch_size - 1) / 2
        return y + c, x + c

    def cut(self, frames: np.ndarray) -> np.ndarray:
        """Frames float (T, height, width) → the patch sequences float32
        (rows · cols, T, p, p), row-major over the grid."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 3 or frames.shape[1:] != (self.height, self.width):
            raise ValueError(f"frames must have shape (T, {self.height}, {self.width}), got "
                             f"{frames.shape}")
        p, s = self.patch_size, self.stride
        windows = np.lib.stride_tricks.sliding_window_view(frames, (p, p), axis=(1, 2))
        windows = windows[:, ::s, ::s][:, :self.rows, :self.cols]  # (T, rows, cols, p, p)
        return np.ascontiguousarray(windows.transpose(1, 2, 0, 3, 4)).reshape(
            self.rows * self.cols, len(frames), p, p)

    def to_sequences(self, a: np.ndarray) -> np.ndarray:
        """(T, rows, cols, ...) on the grid → (rows · cols, T, ...), the layout of
        `csc.analysis` (a view where NumPy can make one)."""
        a = np.asarray(a)
        self._check_grid_axes(a, 1)
        moved = np.moveaxis(a, 0, 2)  # (rows, cols, T, ...)
        return moved.reshape(self.rows * self.cols, *moved.shape[2:])

    def from_sequences(self, z: np.ndarray) -> np.ndarray:
        """(rows · cols, T, ...) → (T, rows, cols, ...), C-contiguous; inverse of
        `to_sequences`."""
        z = np.asarray(z)
        if z.ndim < 2 or z.shape[0] != self.rows * self.cols:
            raise ValueError(f"expected ({self.rows * self.cols}, T, ...) sequences, got "
                             f"{z.shape}")
        grid = z.reshape(self.rows, self.cols, *z.shape[1:])
        return np.ascontiguousarray(np.moveaxis(grid, 2, 0))

    def _check_grid_axes(self, a: np.ndarray, first: int) -> None:
        if a.ndim < first + 2 or a.shape[first:first + 2] != (self.rows, self.cols):
            raise ValueError(f"expected an array (T, {self.rows}, {self.cols}, ...) on the "
                             f"grid, got {a.shape}")

    def to_attrs(self) -> dict:
        """JSON-able description (what a code store keeps): the sizes and the origins."""
        y, x = self.origins()
        return dict(height=self.height, width=self.width, patch_size=self.patch_size,
                    stride=self.stride, rows=self.rows, cols=self.cols,
                    origin_rows=y.tolist(), origin_cols=x.tolist())

    @classmethod
    def from_attrs(cls, attrs: dict) -> PatchGrid:
        grid = cls(int(attrs["height"]), int(attrs["width"]), int(attrs["patch_size"]),
                   int(attrs["stride"]))
        if (grid.rows, grid.cols) != (attrs["rows"], attrs["cols"]):
            raise ValueError(f"grid attributes disagree: {attrs['rows']}x{attrs['cols']} "
                             f"positions stored, {grid.rows}x{grid.cols} computed")
        return grid


def check_grid_options(model, stride: int | None, downsample: int,
                       backend: str) -> int:
    """ValueError (one line) for a bad stride, downsample or backend; returns the stride
    (None: half the model's patch), as `encode_video` and `csc.stream` take them."""
    stride = max(model.patch_size // 2, 1) if stride is None else stride
    check_number(stride, "stride", Integral, 1)
    check_number(downsample, "downsample", Integral, 1)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    return int(stride)


__all__ = ["PatchGrid", "check_grid_options"]
