"""A learned dictionary together with its whitener: pixel patches in, pixel patches out."""
from __future__ import annotations

import numpy as np

from csc.learning.estimator import ComplexSparseCoding


class PixelModel:
    """What `scripts/learn_dictionary.py` saves and `csc.load` returns for such a file.

    coder: the fitted `ComplexSparseCoding` on whitened features; whitener: a fitted
    `csc.whitening` whitener; optional second layers learned on its codes (`motion_units`,
    `form_units`), saved and loaded with it. Pixel patches are float (n_sequences, n_frames, p, p).
    """

    #: second-layer models a PixelModel may carry, by file prefix → attribute name
    LAYERS = {"motion": "motion_units", "form": "form_units"}

    def __init__(self, coder: ComplexSparseCoding, whitener, motion_units=None, form_units=None):
        self.coder = coder
        self.whitener = whitener
        self.motion_units = motion_units  # csc.second_layer.MotionUnits or None
        self.form_units = form_units  # csc.second_layer.FormUnits or None

    @property
    def patch_size(self) -> int:
        return self.whitener.patch_size

    @property
    def components_(self) -> np.ndarray:
        """complex64 (n_components, n_features): the bases in whitened space."""
        return self.coder.components_

    def encode_patches(self, P) -> np.ndarray:
        """Pixels (n_sequences, n_frames, p, p) → complex64 codes (n_sequences, n_frames, K)."""
        P = np.asarray(P)
        p = self.patch_size
        if P.ndim != 4 or P.shape[-2:] != (p, p):
            raise ValueError(f"patches must have shape (n_sequences, n_frames, {p}, {p}), got "
                             f"{P.shape}")
        return self.coder.transform(self.whitener.transform(P))

    def decode_patches(self, Z) -> np.ndarray:
        """Codes (n_sequences, n_frames, K) → float32 pixels (n_sequences, n_frames, p, p)."""
        return self.whitener.inverse_transform(self.coder.inverse_transform(Z))

    def bases_pixels(self) -> np.ndarray:
        """complex64 (n_components, p, p): each unit's real and imaginary parts in pixel space."""
        D = self.coder.components_
        real = self.whitener.inverse_transform(D.real, add_mean=False)
        imag = self.whitener.inverse_transform(D.imag, add_mean=False)
        return (real + 1j * imag).astype(np.complex64)

    def save(self, path, extra: dict | None = None) -> None:
        """Write coder, whitener and optional JSON-able `extra` state to `path` atomically."""
        from csc.io import save_model

        layers = {prefix: getattr(self, attr) for prefix, attr in self.LAYERS.items()
                  if getattr(self, attr) is not None}
        save_model(self.coder, path, whitener=self.whitener, extra=extra, layers=layers)
