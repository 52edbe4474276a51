"""What the second layer sees of first-layer codes: log-amplitudes, normalised (form units).

Phase velocities and their mask (motion units) are `csc.core.phases.phase_velocity`.
"""
from __future__ import annotations

import math

import numpy as np

#: log-amplitudes are floored at this value (the authors' a_thresh = e^−4)
LOG_AMPLITUDE_FLOOR = -4.0


def log_amplitude_features(Z, stats: dict | None = None, *, floor: float = LOG_AMPLITUDE_FLOOR,
                           variance: float = 1.0, center_units: bool = False
                           ) -> tuple[np.ndarray, dict]:
    """Normalised log-amplitudes ℓ float64 (n_seq, T, K) and the stats used.

    ℓ = (log max(|Z|, e^floor) − mean_k) · sqrt(variance / var_k) per first-layer unit k, so that
    every unit has mean 0 and `variance` over the data (the paper: 0.1); with `center_units`,
    the mean over units is then subtracted at every frame (the paper: what all units share,
    such as the patch's overall contrast, is not a form). The stats {"mean": (K,), "scale": (K,),
    "floor", "center_units"} are computed from Z unless given: pass those of the training data
    to map new codes the same way.
    """
    Z = np.asarray(Z)
    if Z.ndim != 3:
        raise ValueError(f"Z must be (n_seq, T, K), got shape {Z.shape}")
    a = np.abs(Z).astype(np.float64)
    if stats is None:
        ell = np.log(np.maximum(a, math.exp(floor)))
        flat = ell.reshape(-1, ell.shape[-1])
        std = flat.std(axis=0)
        scale = np.where(std > 1e-12, math.sqrt(variance) / np.where(std > 1e-12, std, 1), 1.0)
        stats = {"mean": flat.mean(axis=0), "scale": scale, "floor": float(floor),
                 "center_units": bool(center_units)}
    else:
        ell = np.log(np.maximum(a, math.exp(float(stats["floor"]))))
        if np.shape(stats["mean"]) != (Z.shape[-1],):
            raise ValueError(f"stats are for {np.shape(stats['mean'])[0]} units, Z has "
                             f"{Z.shape[-1]}")
    ell = (ell - np.asarray(stats["mean"], float)) * np.asarray(stats["scale"], float)
    if stats["center_units"]:
        ell -= ell.mean(axis=-1, keepdims=True)
    return ell, stats
