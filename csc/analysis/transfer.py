"""Transform transfer (docs/design.md §5): carry the motion of a source pattern over to an unseen
target.

A source movie of pixel patches (n_frames, p, p) shows a pattern undergoing some transformation.
Its codes' phase changes say how it moves. The target (p, p), a different pattern, is encoded once
(codes a_0 e^{iφ_0}); every unit gets a predicted phase change δ̂_{k,t} per frame transition and
the target's codes are carried forward as

    z_{k,t} = a_{0,k} · exp(i (φ_{0,k} + Σ_{s ≤ t} δ̂_{k,s}))

then decoded to pixels. How δ̂ is predicted is the `method`:

- ``"translation"``: a velocity v_t (row, col) px/frame is estimated from the source's phase
  changes (`estimate_translation`) and every unit turns by δ̂_k = ⟨ω_k, v_t⟩, ω_k its signed
  spatial frequency (`unit_frequencies`).
- ``"self-correlation"``: the same velocities, summed to a displacement d_t since frame 0, and
  z_{k,t} = z_{k,0} · conj(c_k(d_t)), c_k the unit's self-correlation (`self_correlation`): the
  phase turns by the unit's mean frequency and the amplitude falls as the pattern leaves the
  envelope, instead of every unit turning forever.
- ``"operator"``: the same displacements applied in code space (`shifted_codes`): each unit's
  phase turns and its content passes to the units the pattern moves into, a linear map on the
  codes built from the units alone.
- ``"warp"``: the target moved by d_t in pixels (`shift_frames`). Only the velocity comes from
  the codes: a reference for how much a better use of them could gain, not a phase prediction.
- ``"motion"``: learned motion units (`csc.second_layer.MotionUnits`): their coefficients
  w_t are inferred from the phase velocities of the source's codes under the second layer's prior
  (`second_layer.second_layer_codes`) and δ̂ = D_m w_t.
- ``"motion-joint"``: the same, with w_t and the source's codes inferred jointly
  (`second_layer.infer_joint`).

Codes
-----
Every movie and patch here is encoded by `second_layer.second_layer_codes`: under the model's
`second_layer_prior` when it has one (the paper's Gaussian amplitude prior, the codes the second
layer works on), else under the first layer's own prior. Under a sparse prior most of a target's
units are exactly 0 and have no phase to carry; under the Gaussian prior every unit has one. On
the held-out clip this lifts the translation method from 0.382 to 0.453 mean correlation (static
frame 0.246) and the phase-only oracle from 0.653 to 0.828 (docs/guide/second-layer.md). The
oracle and the phase-only oracle use the same codes as the prediction.

Sign convention (derived here, checked in tests/test_transfer.py against known shifts)
-------------------------------------------------------------------------------------
A frame is explained as x̂ = Re(conj(z) B) = a (cos φ R + sin φ I) for a unit B = R + iI. Take ω_k
as the peak of the 2-D FFT of the *complex* basis B_k (NumPy's forward convention, e^{-2πi f·x}),
so that B_k ≈ g(x) e^{i⟨ω_k, x⟩} (R = g cos ω·x, I = g sin ω·x). Then
x̂ = a g(x) cos(⟨ω_k, x⟩ − φ), and the pattern translated by v (frame_t(x) = frame_0(x − t v), as
`csc.video.camera.transformed_movie` with shift=v) is a g(x) cos(⟨ω_k, x⟩ − (φ + ⟨ω_k, v⟩)):

    δ_k = wrap(φ_{k,t+1} − φ_{k,t}) ≈ +⟨ω_k, v⟩     (ω_k = FFT peak of the complex B_k)

which is docs/design.md's δ_k ≈ −⟨ω_k, v⟩ with ω_k the frequency of conj(B_k) (the spectral peak of
conj(B_k) is at −ω_k). Only the FFT of the complex basis carries this sign: the spectra of R and I
separately are symmetric and fold ±ω together (`geometry.unit_frequency(B, signed=False)` folds
them).
B_k is drawn in whitened pixel space by default (`whitened_bases`): codes are inferred there, and
the dewhitened `bases_pixels()` peak at too low a frequency (velocities came out ~2× too large
with them on runs/sample).

Wrapped phases
--------------
δ is only known modulo 2π, and ⟨ω_k, v⟩ exceeds π for fast motion and high frequencies. The
velocity is therefore fitted by maximising the circular (von Mises) likelihood
Σ_k w_k cos(δ_k − ⟨ω_k, v⟩) − (ε/2)|v|² over a grid of velocities (|v_row|, |v_col| ≤ max_speed),
where low-frequency units make the objective unimodal at the coarse scale, then refined by a few
iterations of amplitude-weighted least squares on the wrapped residuals r_k = wrap(δ_k − ⟨ω_k, v⟩)
of the units whose residual is below π/2 (the others are treated as outliers). Weights are
w_k = a_{k,t} a_{k,t+1} q_k on units whose amplitudes in both frames exceed `threshold` × the
largest amplitude of the source, q_k the unit's quadrature quality (share of its spectral power on
the +ω side, 0 for a unit with R and I in phase, 1 for a perfect quadrature pair). The small ridge
ε (1e-3 of the total weight) picks the slowest velocity where the data leave it undetermined:
a grating gives only the component along its normal (the aperture problem), and that is what is
returned for it.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import shift as shift_image

from csc.analysis.first_layer import whitened_bases
from csc.analysis.geometry import unit_frequency
from csc.core.phases import amplitude, phase, phase_velocity, wrap
from csc.second_layer import infer_joint, second_layer_codes

METHODS = ("translation", "self-correlation", "operator", "warp", "motion", "motion-joint")


# --------------------------------------------------------------------------- unit frequencies
def unit_frequencies(bases, pad: int = 8, space: str = "whitened"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Signed spatial frequency of each complex unit and how well it is in quadrature.

    bases: a `PixelModel` (its units drawn by `whitened_bases(model, space)`) or complex
    (K, p, p) pixel bases.
    Returns (omega, quality): omega float64 (K, 2) in radians/pixel (row, col), the peak of the
    zero-padded (`pad` × p) 2-D FFT of the complex basis B_k (2π × `geometry.unit_frequency`),
    so that B_k ≈ g e^{i⟨ω_k, x⟩} and a translation by v turns the unit's phase by +⟨ω_k, v⟩ (see
    the module docstring); quality float64 (K,) in [0, 1]: (P₊ − P₋)/(P₊ + P₋) clipped at 0,
    where P₊ and P₋ are the spectral power of B_k in the half plane ⟨f, ω_k⟩ > 0 and < 0.
    """
    B = whitened_bases(bases, space) if hasattr(bases, "bases_pixels") else bases
    B = np.asarray(B)
    if B.ndim != 3 or B.shape[1] != B.shape[2] or not np.iscomplexobj(B):
        raise ValueError(f"bases must be complex (K, p, p), got {B.dtype} {B.shape}")
    p = B.shape[-1]
    omega = 2 * np.pi * unit_frequency(B, pad=pad, signed=True)
    # quadrature quality from the unpadded spectrum (the padded one only adds interpolation)
    P = np.abs(np.fft.fft2(B.astype(np.complex128), axes=(-2, -1))) ** 2
    g = 2 * np.pi * np.fft.fftfreq(p)
    side = g[None, :, None] * omega[:, 0, None, None] + g[None, None, :] * omega[:, 1, None, None]
    plus = (P * (side > 0)).sum(axis=(1, 2))
    minus = (P * (side < 0)).sum(axis=(1, 2))
    quality = np.clip((plus - minus) / np.maximum(plus + minus, 1e-300), 0, 1)
    return omega, quality


def _codes_2d(Z) -> np.ndarray:
    """Codes of one sequence: (T, K) or (1, T, K) → (T, K) complex."""
    Z = np.asarray(Z)
    if Z.ndim == 3 and Z.shape[0] == 1:
        Z = Z[0]
    if Z.ndim != 2 or not np.iscomplexobj(Z):
        raise ValueError(f"codes must be complex (n_frames, K) or (1, n_frames, K), got "
                         f"{Z.dtype} {Z.shape}")
    if Z.shape[0] < 2:
        raise ValueError("the source needs at least 2 frames to have phase changes")
    return Z


def phase_changes(Z, threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wrapped phase changes of one sequence's codes and their amplitude weights.

    Z: complex (n_frames, K) (or (1, n_frames, K)). Returns (delta, weight), float64
    (n_frames − 1, K): delta = wrap(φ_{t+1} − φ_t) (`phases.phase_velocity`) and weight =
    a_t a_{t+1} where both amplitudes exceed `threshold` × the sequence's largest amplitude (one
    threshold for all units, unlike `phase_velocity`'s per-unit default), else 0.
    """
    Z = _codes_2d(Z).astype(np.complex128)
    a = amplitude(Z)
    delta, both = phase_velocity(Z[None], threshold=threshold * max(float(a.max()), 1e-300))
    weight = np.where(both[0], a[1:] * a[:-1], 0.0)
    return delta[0], weight


def self_correlation(model, D, pad: int = 4) -> np.ndarray:
    """c float complex128 (n, K): c_k(d) = ⟨B_k, B_k shifted by d⟩ / ‖B_k‖² for displacements
    D float (n, 2) (row, col) pixels, B_k the whitened-space units, computed exactly from the
    zero-padded power spectrum (a shift by d multiplies the spectrum by e^{−i⟨f, d⟩})."""
    B = np.asarray(whitened_bases(model, "whitened"), np.complex128)
    size = pad * B.shape[-1]
    power = np.abs(np.fft.fft2(B, s=(size, size))) ** 2
    power /= power.sum(axis=(1, 2), keepdims=True)
    f = 2 * np.pi * np.fft.fftfreq(size)
    D = np.asarray(D, np.float64)
    rows = np.exp(-1j * D[:, 0, None] * f[None, :])  # (n, size)
    cols = np.exp(-1j * D[:, 1, None] * f[None, :])
    return np.einsum("kab,na,nb->nk", power, rows, cols)


def shifted_codes(model, Z, D, pad: int = 3, ridge: float = 0.01) -> np.ndarray:
    """Codes Z complex (n, K) carried through a translation by D float (n, 2) pixels in code space:
    ẑ = conj(M(d)) z with M(d) = G⁻¹ C(d), C_jk(d) = ⟨B_j, B_k shifted by d⟩ and G = C(0), the
    whitened-space units' Gram matrix. Overcomplete units make G near singular, so M is the ridge
    solution that leans towards the diagonal self-correlation: M = (G + εI)⁻¹ (C + ε diag(C_kk /
    G_kk)), ε = `ridge` × G's mean diagonal; M(0) is then exactly the identity. Returns
    complex128 (n, K).

    For units in quadrature, B_k shifted by d ≈ Σ_j M_jk B_j (least squares), so the moved
    reconstruction Re(Σ_k conj(z_k) B_k(x − d)) is Re(Σ_j conj(ẑ_j) B_j): each unit's phase turns
    and its content passes to the units the pattern moves into. The diagonal of M alone is
    `self_correlation` (for orthogonal units).
    """
    B = np.asarray(whitened_bases(model, "whitened"), np.complex128)
    K, size = len(B), pad * B.shape[-1]
    F = np.fft.fft2(B, s=(size, size)).reshape(K, -1)
    f = 2 * np.pi * np.fft.fftfreq(size)
    fr, fc = np.repeat(f, size), np.tile(f, size)
    G = np.conj(F) @ F.T
    eps = ridge * np.trace(G).real / K
    gram_diag = np.diag(G).real
    Z = np.asarray(Z, np.complex128)
    out = np.empty_like(Z)
    for i, (z, d) in enumerate(zip(Z, np.asarray(D, np.float64))):
        C = (np.conj(F) * np.exp(-1j * (fr * d[0] + fc * d[1]))) @ F.T
        M = np.linalg.solve(G + eps * np.eye(K), C + eps * np.diag(np.diag(C) / gram_diag))
        out[i] = np.conj(M) @ z
    return out


def shift_frames(X, D) -> np.ndarray:
    """Frames X (n, p, p) moved by D (n, 2) pixels: frame(x − d)."""
    return np.stack([shift_image(x, d, order=3, mode="nearest") for x, d in zip(X, D)])


# --------------------------------------------------------------------------- translation
def fit_velocity(delta, weight, omega, *, max_speed: float = 3.0, grid_step: float = 0.1,
                 n_refine: int = 10, ridge: float = 1e-3) -> np.ndarray:
    """Velocities (n, 2) (row, col) px/frame from wrapped phase changes δ ≈ ⟨ω_k, v⟩.

    delta, weight: (n, K); omega: (K, 2) rad/px. Circular grid search on |v_i| ≤ max_speed, then
    weighted least squares on the wrapped residuals below π/2 (module docstring). Transitions with
    no weight give v = 0.
    """
    delta = np.atleast_2d(np.asarray(delta, np.float64))
    weight = np.atleast_2d(np.asarray(weight, np.float64))
    omega = np.asarray(omega, np.float64)
    axis = np.arange(-max_speed, max_speed + grid_step / 2, grid_step)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)  # (G, 2)
    steer = np.exp(-1j * (grid @ omega.T))  # (G, K)
    V = np.zeros((len(delta), 2))
    for t, (d, w) in enumerate(zip(delta, weight)):
        total = w.sum()
        if total <= 0:
            continue
        eps = ridge * total
        score = (steer @ (w * np.exp(1j * d))).real - 0.5 * eps * (grid**2).sum(1)
        v = grid[score.argmax()].copy()
        for _ in range(n_refine):
            r = wrap(d - omega @ v)
            ww = w * (np.abs(r) < np.pi / 2)
            A = (omega * ww[:, None]).T @ omega + eps * np.eye(2)
            b = (omega * ww[:, None]).T @ (r) - eps * v
            step = np.linalg.solve(A, b)
            v = v + step
            if np.abs(step).max() < 1e-6:
                break
        V[t] = v
    return V


def estimate_translation(model, Z_source, *, threshold: float = 0.05, max_speed: float = 3.0,
                         omega=None, quality=None) -> np.ndarray:
    """Velocity of a translating source, per frame transition: float64 (n_frames − 1, 2), (row,
    col) pixels per frame (frame_{t+1}(x) ≈ frame_t(x − v_t)).

    model: a `PixelModel` (for its bases); Z_source: the source's codes (n_frames, K) or
    (1, n_frames, K). `omega`/`quality` (from `unit_frequencies`) may be passed to skip
    recomputing them.
    """
    if omega is None or quality is None:
        omega, quality = unit_frequencies(model)
    delta, weight = phase_changes(Z_source, threshold)
    return fit_velocity(delta, weight * quality, omega, max_speed=max_speed)


# --------------------------------------------------------------------------- prediction
def _check_inputs(model, source, target):
    p = model.patch_size
    source = np.asarray(source, dtype=np.float32)
    target = np.asarray(target, dtype=np.float32)
    if source.ndim != 3 or source.shape[1:] != (p, p):
        raise ValueError(f"source must be (n_frames, {p}, {p}) pixel patches, got {source.shape}")
    if source.shape[0] < 2:
        raise ValueError("source must have at least 2 frames")
    if target.shape != (p, p):
        raise ValueError(f"target must be one ({p}, {p}) patch, got {target.shape}")
    if not (np.isfinite(source).all() and np.isfinite(target).all()):
        raise ValueError("source and target must be finite")
    return source, target


def _motion_units(model, options):
    mu = options.get("motion_units", getattr(model, "motion_units", None))
    if mu is None:
        raise ValueError('method="motion" needs learned motion units: pass motion_units=... (a '
                         'fitted csc.second_layer.MotionUnits) or set model.motion_units')
    return mu


def _motion_source(model, source, joint: bool, options) -> np.ndarray:
    """Motion-unit activities W (n_frames − 1, L) of the source movie (n_frames, p, p): from
    its codes under the second layer's prior, or, `joint`, inferred jointly with them
    (`second_layer.infer_joint`)."""
    mu = _motion_units(model, options)
    if joint:
        return infer_joint(model, source[None], motion_units=mu)[1][0]
    return mu.transform(*mu.features(second_layer_codes(model, source[None])))[0]


def source_velocities(model, source, omega=None, quality=None, **options) -> np.ndarray:
    """Velocity float64 (n_frames − 1, 2) of each transition of the source movie (n_frames, p, p),
    from its codes (`estimate_translation`; options threshold=0.05, max_speed=3.0; omega and
    quality from `unit_frequencies`, computed when not given)."""
    Z_source = _codes_2d(second_layer_codes(model, np.asarray(source, np.float32)[None])[0])
    if omega is None or quality is None:
        omega, quality = unit_frequencies(model)
    return estimate_translation(model, Z_source, threshold=options.get("threshold", 0.05),
                                max_speed=options.get("max_speed", 3.0), omega=omega,
                                quality=quality)


def predicted_phase_changes(model, source, method: str = "translation", **options) -> np.ndarray:
    """δ̂ float64 (n_frames − 1, K): every unit's predicted phase change per frame transition,
    from the source movie float (n_frames, p, p) (options: see `predict`)."""
    source = np.asarray(source, dtype=np.float32)
    if method == "translation":
        omega, quality = unit_frequencies(model)
        dhat = source_velocities(model, source, omega, quality, **options) @ omega.T
        min_quality = options.get("min_quality", 0.5)
        if min_quality > 0:  # units not in quadrature do not shift when their phase turns
            dhat[:, quality < min_quality] = 0.0
        return dhat
    if method in ("motion", "motion-joint"):
        mu = _motion_units(model, options)
        W = _motion_source(model, source, method == "motion-joint", options)
        return np.asarray(mu.predict_velocity(W), dtype=np.float64)
    raise ValueError(f"no phase changes for method {method!r}; choose one of translation, motion, "
                     f"motion-joint")


def predict(model, source, target, method: str = "translation", **options) -> np.ndarray:
    """The target carried through the source's transformation: float32 (n_frames, p, p).

    model: a `PixelModel`; source: float (n_frames, p, p), a pattern undergoing a transformation;
    target: float (p, p), another pattern. method: "translation" (options: threshold=0.05,
    max_speed=3.0, min_quality=0.5: units whose quadrature quality (`unit_frequencies`) is
    below it keep their phase, since turning the phase of a unit that is not a quadrature pair
    does not shift its pattern), "self-correlation", "operator" and "warp" (threshold,
    max_speed), "motion" (options: motion_units=..., else model.motion_units) or
    "motion-joint" (the same, with the source's codes and motion units inferred jointly,
    `csc.second_layer.infer_joint`).
    Frame 0 is the model's reconstruction of the target (the target itself for "warp"); frame t
    has codes a_0 e^{i(φ_0 + Σ_{s≤t} δ̂_s)} (module docstring for the others).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    source, target = _check_inputs(model, source, target)
    if method in ("self-correlation", "operator", "warp"):
        V = source_velocities(model, source, **options)
        D = np.concatenate([np.zeros((1, 2)), np.cumsum(V, axis=0)])
        if method == "warp":
            return shift_frames(np.repeat(target[None], len(D), axis=0), D).astype(np.float32)
    z0 = second_layer_codes(model, target[None, None])[0, 0].astype(np.complex128)
    if method == "self-correlation":
        Z = (z0[None, :] * np.conj(self_correlation(model, D))).astype(np.complex64)
    elif method == "operator":
        Z = shifted_codes(model, np.repeat(z0[None], len(D), axis=0), D).astype(np.complex64)
    else:
        dhat = predicted_phase_changes(model, source, method, **options)
        turn = np.concatenate([np.zeros((1, dhat.shape[1])), np.cumsum(dhat, axis=0)])
        Z = (z0[None, :] * np.exp(1j * turn)).astype(np.complex64)
    return np.asarray(model.decode_patches(Z[None])[0], dtype=np.float32)


# --------------------------------------------------------------------------- references, scores
def static_baseline(target, n_frames: int) -> np.ndarray:
    """The target repeated: float32 (n_frames, p, p) (nothing moves)."""
    target = np.asarray(target, dtype=np.float32)
    return np.repeat(target[None], n_frames, axis=0)


def pixel_shift(target, displacements) -> np.ndarray:
    """The target moved in pixels by the true displacement d_t of every frame: float32
    (n_frames, p, p), displacements float (n_frames, 2). For a translation it is the best that
    can be made of frame 0 alone, short of knowing what enters the patch."""
    target = np.asarray(target, dtype=np.float32)
    D = np.asarray(displacements, np.float64)
    return shift_frames(np.repeat(target[None], len(D), axis=0), D).astype(np.float32)


def oracle(model, truth) -> np.ndarray:
    """The true transformed target through the model (encode, decode): float32 (n_frames, p, p),
    the best any prediction made of the model's codes can expect."""
    truth = np.asarray(truth, dtype=np.float32)
    return np.asarray(model.decode_patches(second_layer_codes(model, truth[None]))[0], np.float32)


def phase_oracle(model, truth) -> np.ndarray:
    """The phase-only oracle: the true transformed target's own phases on its first frame's
    amplitudes, z_t = a_0 e^{iφ_t}, decoded: float32 (n_frames, p, p).

    It is not a bound on phase-only predictions: the true phases of frame t also carry content
    that has entered the patch and changes the codes' inference makes around it, which no
    predicted δ̂ from the source can know. It shows how much of the transformed target phases
    can carry with the amplitudes held."""
    truth = np.asarray(truth, dtype=np.float32)
    Z = second_layer_codes(model, truth[None])[0]
    Zp = (amplitude(Z[0])[None] * np.exp(1j * phase(Z))).astype(np.complex64)
    return np.asarray(model.decode_patches(Zp[None])[0], np.float32)


def scores(pred, truth) -> dict:
    """Per-frame agreement of a predicted movie with the true one, both (n_frames, p, p).

    Returns {"correlation": [...], "snr_db": [...], "mean_correlation", "mean_snr_db"}:
    Pearson correlation over each frame's pixels, and SNR = 10 log10(Σ(x − x̄)² / Σ(x̂ − x)²) per
    frame (x the true frame, x̄ its mean: signal is the frame's contrast, not its mean level).
    A constant frame has correlation 0.
    """
    pred = np.asarray(pred, np.float64)
    truth = np.asarray(truth, np.float64)
    if pred.shape != truth.shape or pred.ndim != 3:
        raise ValueError(f"pred and truth must both be (n_frames, p, p), got {pred.shape} and "
                         f"{truth.shape}")
    P = pred.reshape(len(pred), -1)
    X = truth.reshape(len(truth), -1)
    Pc = P - P.mean(1, keepdims=True)
    Xc = X - X.mean(1, keepdims=True)
    den = np.sqrt((Pc**2).sum(1) * (Xc**2).sum(1))
    corr = np.where(den > 0, (Pc * Xc).sum(1) / np.where(den > 0, den, 1), 0.0)
    err = ((P - X) ** 2).sum(1)
    snr = 10 * np.log10(np.maximum((Xc**2).sum(1), 1e-300) / np.maximum(err, 1e-300))
    return {"correlation": corr.tolist(), "snr_db": snr.tolist(),
            "mean_correlation": float(corr.mean()), "mean_snr_db": float(snr.mean())}


__all__ = ["predict", "estimate_translation", "unit_frequencies", "phase_changes",
           "fit_velocity", "predicted_phase_changes", "source_velocities", "self_correlation",
           "shift_frames", "shifted_codes", "pixel_shift", "static_baseline", "oracle",
           "phase_oracle",
           "scores", "whitened_bases",
           "METHODS"]
