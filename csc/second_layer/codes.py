"""From pixel movies to second-layer activities, as the units were learned.

The paper infers the first-layer codes that feed its second layer under a Gaussian amplitude
prior (β = 8) with quadratic slowness (κ = 0.5: the authors' slow_gauss), instead of the sparse
prior the first layer is learned with: under a sparse prior most amplitudes are exactly 0 and
their phases undefined. `PAPER_CODE_PRIOR` holds those keywords; a `PixelModel` keeps the ones
its second layer was learned with as `second_layer_prior`.
"""
from __future__ import annotations

import numpy as np

#: prior keywords replacing the first layer's when codes are collected for the second layer
PAPER_CODE_PRIOR = {"sparsity": "gauss", "lam": 8.0, "slowness": "l2", "kappa": 0.5}


def second_layer_codes(model, P) -> np.ndarray:
    """Codes complex64 (n_seq, T, K) of pixel movies P float (n_seq, T, p, p), inferred under
    the model's `second_layer_prior` (the first layer's own prior when that is None)."""
    return model.encode_patches(P, **(model.second_layer_prior or {}))


def _layer(model, attr: str):
    layer = getattr(model, attr, None)
    if layer is None:
        raise ValueError(f"the model has no {attr.replace('_', ' ')}: learn them with "
                         f"csc-second-layer")
    return layer


def motion_activities(model, P, motion_units=None) -> np.ndarray:
    """Motion-unit activities W float64 (n_seq, T−1, L) of pixel movies P (n_seq, T, p, p).

    model: a `PixelModel` with fitted `motion_units` (or pass other fitted ones as
    `motion_units`). The movies are encoded (`second_layer_codes`), their phase velocities masked
    (`MotionUnits.features`) and the motion units inferred.
    """
    mu = motion_units if motion_units is not None else _layer(model, "motion_units")
    return mu.transform(*mu.features(second_layer_codes(model, P)))


def form_activities(model, P) -> np.ndarray:
    """Form-unit activities V float64 (n_seq, T, L) of pixel movies P (n_seq, T, p, p)."""
    fu = _layer(model, "form_units")
    return fu.transform(fu.features(second_layer_codes(model, P)))
