"""A learned dictionary together with its whitener: pixel patches in, pixel patches out."""
from __future__ import annotations

import numpy as np

from csc import io
from csc.learning.estimator import ComplexSparseCoding
from csc.priors import make_prior
from csc.second_layer import FormUnits, MotionUnits
from csc.video.whitening import draw_units, whitener_from_arrays


@io.register("pixel-model")
class PixelModel:
    """What `scripts/learn_dictionary.py` saves and `csc.load` returns for such a file.

    coder: the fitted `ComplexSparseCoding` on whitened features; whitener: a fitted
    `csc.video.whitening` whitener; optional second layers learned on its codes (`motion_units`,
    `form_units`), saved and loaded with it, and the prior keywords their codes are inferred
    with (`second_layer_prior`, e.g. `csc.second_layer.PAPER_CODE_PRIOR`; None: the
    first layer's own prior). Pixel patches are float (n_sequences, n_frames, p, p).
    """

    #: second-layer models a PixelModel may carry: file prefix → (attribute name, class)
    LAYERS = {"motion": ("motion_units", MotionUnits), "form": ("form_units", FormUnits)}

    def __init__(self, coder: ComplexSparseCoding, whitener, motion_units=None, form_units=None,
                 second_layer_prior: dict | None = None):
        self.coder = coder
        self.whitener = whitener
        self.motion_units = motion_units  # MotionUnits or None
        self.form_units = form_units  # FormUnits or None
        self.second_layer_prior = second_layer_prior

    def __repr__(self) -> str:
        """One line: units, patches, prior, training, and the second layers it carries."""
        p = self.coder.prior()
        prior = f"{p.sparsity} λ={p.lam:g}" + (f" σ={p.sigma:g}" if p.sparsity == "cauchy" else "")
        if p.slowness != "none":
            prior += f" + {p.slowness} slowness κ={p.kappa:g}"
        K, M = self.components_.shape
        layers = [f"{layer.components_.shape[1]} {prefix} units"
                  for prefix, (name, _) in self.LAYERS.items()
                  if (layer := getattr(self, name)) is not None]
        n_updates = getattr(self.coder, "n_updates_", 0)
        return (f"PixelModel({K} complex units on {self.patch_size}x{self.patch_size} patches "
                f"({M} whitened features), prior {prior}, {n_updates} updates"
                + (f"; second layer: {', '.join(layers)}" if layers else "") + ")")

    @property
    def patch_size(self) -> int:
        return self.whitener.patch_size

    @property
    def components_(self) -> np.ndarray:
        """complex64 (n_components, n_features): the bases in whitened space."""
        return self.coder.components_

    def encode_patches(self, P, *, max_iter: int | None = None, tol: float | None = None,
                       backend: str | None = None, init=None, **prior) -> np.ndarray:
        """Pixels (n_sequences, n_frames, p, p) → complex64 codes (n_sequences, n_frames, K).
        Prior keywords, max_iter, tol, backend and the starting codes `init` given replace
        the model's for this call (`ComplexSparseCoding.encode`)."""
        P = np.asarray(P)
        p = self.patch_size
        if P.ndim != 4 or P.shape[-2:] != (p, p):
            raise ValueError(f"patches must have shape (n_sequences, n_frames, {p}, {p}), got "
                             f"{P.shape}")
        return self.coder.encode(self.whitener.transform(P), prior=prior, max_iter=max_iter,
                                 tol=tol, backend=backend, init=init)

    def decode_patches(self, Z) -> np.ndarray:
        """Codes (n_sequences, n_frames, K) → float32 pixels (n_sequences, n_frames, p, p)."""
        return self.whitener.inverse_transform(self.coder.inverse_transform(Z))

    def predict_frames(self, P, n_ahead: int = 1, method: str = "auto", **options) -> np.ndarray:
        """The n_ahead frames after each of n patch sequences P float (n, T, p, p), T >= 2:
        float32 (n, n_ahead, p, p), predicted from the codes' phases by `method` (one of
        `csc.analysis.prediction.METHODS`, or "auto"); options: `prediction.predict_frames`."""
        from csc.analysis.prediction import predict_frames

        return predict_frames(self, P, n_ahead, method, **options)

    def bases_pixels(self) -> np.ndarray:
        """complex64 (n_components, p, p): each unit's real and imaginary parts in pixel space."""
        return draw_units(self.coder.components_, self.whitener, "pixels")

    def to_arrays(self, history: bool = True) -> dict[str, np.ndarray]:
        """Plain arrays: the coder's (`ComplexSparseCoding.to_arrays(history)`, unprefixed: its
        learning history only if `history`), the whitener's ("whitener_*") and those of each
        second layer present ("layer_motion_*", "layer_form_*", with their histories)."""
        arrays = {**self.coder.to_arrays(history),
                  **io.with_prefix("whitener_", self.whitener.to_arrays())}
        for prefix, (attr, _) in self.LAYERS.items():
            layer = getattr(self, attr)
            if layer is not None:
                arrays.update(io.with_prefix(f"layer_{prefix}_", layer.to_arrays()))
        if self.second_layer_prior is not None:
            arrays["second_layer_prior"] = io.json_array(self.second_layer_prior)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PixelModel:
        """Rebuild a model from `to_arrays` output. Each part checks its arrays (ValueError
        naming the array at fault), and the parts must agree: the whitener gives the coder's
        features, the second layers act on the coder's units, and the second-layer prior is a
        valid change of the coder's prior."""
        coder = ComplexSparseCoding.from_arrays(arrays)
        with io.in_part("whitener_"):
            whitener = whitener_from_arrays(io.strip_prefix("whitener_", arrays),
                                            coder.n_features_in_)
        model = cls(coder, whitener)
        for prefix, (attr, layer_cls) in cls.LAYERS.items():
            layer = io.strip_prefix(f"layer_{prefix}_", arrays)
            if layer:
                with io.in_part(f"layer_{prefix}_"):
                    setattr(model, attr, layer_cls.from_arrays(layer, coder.n_components))
        if "second_layer_prior" in arrays:
            prior = io.require_json(arrays, "second_layer_prior")
            io.require_kwargs(prior, make_prior, "second_layer_prior")
            with io.in_part("second_layer_prior: "):
                make_prior(**{**coder._prior_kwargs(), **prior})
            model.second_layer_prior = prior
        return model

    def save(self, path, extra: dict | None = None, history: bool = True) -> None:
        """Write the model and optional JSON-able `extra` state (e.g. a training run's sampler
        state, read back by `csc.io.load_extra`) to `path` atomically; the coder's learning
        history only if `history` (the second layers' always)."""
        arrays = self.to_arrays(history)
        if extra is not None:
            arrays["extra"] = io.json_array(extra)
        io.save(path, "pixel-model", arrays)
