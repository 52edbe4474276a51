"""Next-frame prediction (docs/design.md §5): the frames that follow a patch sequence, from its
codes' phases.

Every sequence P (T frames) is encoded by `second_layer.second_layer_codes` (the Gaussian codes
when the model has a `second_layer_prior`: every unit then has a phase). Frame T−1, the last one,
has codes z = a e^{iφ} and reconstruction x̂ = decode(z); its residual r = x − x̂ is what the
model does not explain. A method turns z into predicted codes ẑ_h for h = 1..n_ahead frames
ahead, and the prediction is decode(ẑ_h) + r: the model predicts the *change* of the frame, and
the part it does not represent is carried as it is (`keep_residual=False` drops it; the
prediction is then decode(ẑ_h) alone).

Methods (`METHODS`):

- ``"phase"``: every unit keeps turning by its own last phase step,
  ẑ_h = a e^{i(φ + h δ)}, δ = wrap(φ_{T−1} − φ_{T−2}).
- ``"translation"``: one velocity v per sequence, fitted to the last transition's phase changes
  (`transfer.estimate_translation`); every quadrature unit turns by h ⟨ω_k, v⟩.
- ``"local"``: the same with one velocity per quadrant of the patch, fitted to the units centred
  there (`geometry.envelope_centre`); each unit turns by its quadrant's velocity.
- ``"self-correlation"``: ẑ_{k,h} = z_k · conj(c_k(h v)), c_k(d) = ⟨B_k, B_k shifted by d⟩ / ‖B_k‖²
  (the characteristic function of the unit's power spectrum): the phase turns by the unit's
  mean frequency and the amplitude falls as the pattern leaves the unit's envelope.
- ``"operator"``: the same velocity applied in code space, ẑ_h = conj(M(h v)) z
  (`transfer.shifted_codes`): phases turn and content passes between units as the pattern
  moves across their envelopes.
- ``"motion"``: the motion units' activities w of the last transition
  (`MotionUnits.transform`) predict every unit's phase change δ̂ = D_m w, applied h times.
- ``"warp"``: the last frame moved by h v in pixels (cubic interpolation, edges repeated), v the
  velocity fitted to the phases as for "translation". The phases measure the motion; the pixels
  carry it.

``"auto"`` is `AUTO_METHOD`, the method with the lowest error on the real clips measured in the
docs/guide/prediction.md (`csc-predict`).
"""
from __future__ import annotations

import numpy as np

from csc.analysis.first_layer import whitened_bases
from csc.analysis.geometry import envelope_centre
from csc.analysis.transfer import (
    estimate_translation,
    self_correlation,
    shift_frames,
    shifted_codes,
    unit_frequencies,
)
from csc.core.phases import wrap
from csc.second_layer import second_layer_codes

METHODS = ("phase", "translation", "local", "self-correlation", "operator", "motion", "warp")
AUTO_METHOD = "warp"


def check_sequences(model, P, n_ahead: int = 1) -> np.ndarray:
    """P as float32 (n, T, p, p), T ≥ 2 and finite; ValueError (one line) otherwise."""
    p = model.patch_size
    P = np.asarray(P)
    if P.ndim != 4 or P.shape[-2:] != (p, p):
        raise ValueError(f"P must be patch sequences (n, T, {p}, {p}), got shape {P.shape}")
    if P.shape[0] < 1 or P.shape[1] < 2:
        raise ValueError(f"P needs at least 1 sequence of at least 2 frames, got shape {P.shape}")
    if not np.issubdtype(P.dtype, np.number) or np.iscomplexobj(P):
        raise ValueError(f"P must be real numbers, got dtype {P.dtype}")
    if not np.isfinite(P).all():
        raise ValueError("P holds NaN or Inf")
    if isinstance(n_ahead, bool) or int(n_ahead) != n_ahead or n_ahead < 1:
        raise ValueError(f"n_ahead must be an integer >= 1, got {n_ahead!r}")
    return P.astype(np.float32, copy=False)


def _decode(model, Z) -> np.ndarray:
    """codes (n, K) → float32 pixels (n, p, p)."""
    return np.asarray(model.decode_patches(Z[:, None].astype(np.complex64))[:, 0], np.float32)


def _velocities(model, Z, omega, quality, threshold: float, max_speed: float,
                units: np.ndarray | None = None) -> np.ndarray:
    """Velocity (n, 2) of each sequence's last transition from codes Z (n, T, K)
    (`transfer.estimate_translation`); only `units` (a boolean (K,) mask) count when given."""
    weight = quality if units is None else quality * units
    return np.stack([estimate_translation(model, z[-2:], threshold=threshold, max_speed=max_speed,
                                          omega=omega, quality=weight)[-1] for z in Z])


def _quadrants(model) -> np.ndarray:
    """(K,) quadrant 0..3 (row-major) of each unit's envelope centre in whitened space."""
    B = whitened_bases(model, "whitened")
    centre = envelope_centre(np.asarray(B))
    half = (model.patch_size - 1) / 2
    return 2 * (centre[:, 0] > half) + (centre[:, 1] > half)


def predict_frames(model, P, n_ahead: int = 1, method: str = "auto", *,
                   keep_residual: bool = True, threshold: float = 0.05, max_speed: float = 3.0,
                   min_quality: float = 0.5, motion_units=None) -> np.ndarray:
    """The n_ahead frames after each sequence: float32 (n, n_ahead, p, p).

    model: a `PixelModel`; P: float (n, T, p, p), the last T ≥ 2 frames of n patch sequences;
    method: one of `METHODS` or "auto" (`AUTO_METHOD`); threshold, max_speed: the velocity fit's
    (`transfer.estimate_translation`); min_quality: units whose quadrature quality is below it
    keep their phase in "translation" and "local" (turning a unit that is not a quadrature pair
    does not move its pattern); motion_units: for "motion" (default: `model.motion_units`).
    """
    P = check_sequences(model, P, n_ahead)
    method = AUTO_METHOD if method == "auto" else method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS} or 'auto'")
    if method == "motion":
        motion_units = motion_units if motion_units is not None else model.motion_units
        if motion_units is None:
            raise ValueError('method="motion" needs motion units: the model has none (learn '
                             'them with csc-second-layer) and none were passed')
    Z = second_layer_codes(model, P).astype(np.complex128)
    last = P[:, -1]
    h = np.arange(1, n_ahead + 1)
    if method in ("translation", "local", "self-correlation", "operator", "warp"):
        omega, quality = unit_frequencies(model)
        if method == "local":
            quadrant = _quadrants(model)
            Vq = np.stack([_velocities(model, Z, omega, quality, threshold, max_speed,
                                       quadrant == q) for q in range(4)], 1)  # (n, 4, 2)
            turn = np.einsum("nkd,kd->nk", Vq[:, quadrant], omega)
        else:
            V = _velocities(model, Z, omega, quality, threshold, max_speed)
            turn = V @ omega.T
        if method == "warp":
            return np.stack([shift_frames(last, k * V) for k in h], 1).astype(np.float32)
        if method in ("translation", "local"):
            turn[:, quality < min_quality] = 0.0
    z = Z[:, -1]
    if method == "phase":
        delta = wrap(np.angle(Z[:, -1]) - np.angle(Z[:, -2]))
        ahead = [z * np.exp(1j * k * delta) for k in h]
    elif method == "self-correlation":
        ahead = [z * np.conj(self_correlation(model, k * V)) for k in h]
    elif method == "operator":
        ahead = [shifted_codes(model, z, k * V) for k in h]
    elif method == "motion":
        W = motion_units.transform(*motion_units.features(Z.astype(np.complex64)))
        delta = np.asarray(motion_units.predict_velocity(W), np.float64)[:, -1]
        ahead = [z * np.exp(1j * k * delta) for k in h]
    else:
        ahead = [z * np.exp(1j * k * turn) for k in h]
    residual = last - _decode(model, z) if keep_residual else 0.0
    return np.stack([_decode(model, za) + residual for za in ahead], 1).astype(np.float32)


# --------------------------------------------------------------------------- references
def copy_last(P, n_ahead: int) -> np.ndarray:
    """The last frame held: float32 (n, n_ahead, p, p)."""
    P = np.asarray(P, np.float32)
    return np.repeat(P[:, -1:], n_ahead, axis=1)


def linear_extrapolation(P, n_ahead: int) -> np.ndarray:
    """Each pixel continued along its last change: x_{T−1} + h (x_{T−1} − x_{T−2})."""
    P = np.asarray(P, np.float32)
    h = np.arange(1, n_ahead + 1, dtype=np.float32)[None, :, None, None]
    return P[:, -1:] + h * (P[:, -1:] - P[:, -2:-1])


def static_reconstruction(model, P, n_ahead: int) -> np.ndarray:
    """The model's reconstruction of the last frame, held: float32 (n, n_ahead, p, p)."""
    Z = second_layer_codes(model, np.asarray(P, np.float32))
    return np.repeat(_decode(model, Z[:, -1])[:, None], n_ahead, axis=1)


def true_phases(model, P, future, *, keep_residual: bool = True) -> np.ndarray:
    """The last frame's amplitudes with the *true* future frames' phases, decoded (plus the
    last frame's residual): float32 (n, n_ahead, p, p); future: float (n, n_ahead, p, p).

    Not a bound on the methods: it reads the future frames, so their phases carry content that
    enters the patch and changes of form as well as the motion. It shows how much of the frame
    change phases alone can carry with the amplitudes held.
    """
    P = np.asarray(P, np.float32)
    future = np.asarray(future, np.float32)
    z = second_layer_codes(model, P)[:, -1].astype(np.complex128)  # what the methods start from
    Z = second_layer_codes(model, np.concatenate([P, future], 1))[:, P.shape[1]:]
    residual = P[:, -1] - _decode(model, z) if keep_residual else 0.0
    return np.stack([_decode(model, np.abs(z) * np.exp(1j * np.angle(Z[:, k]))) + residual
                     for k in range(future.shape[1])], 1).astype(np.float32)


__all__ = ["METHODS", "AUTO_METHOD", "predict_frames", "check_sequences",
           "copy_last", "linear_extrapolation", "static_reconstruction", "true_phases"]
