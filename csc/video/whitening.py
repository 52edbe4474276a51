"""Whitening of image patches (docs/design.md §4): PCA as in the paper, or the Olshausen–Field
filter.

A whitener maps pixel patches (..., p, p) to feature vectors (..., n_features) and back, and gives
the per-feature reconstruction weights the model's energy uses. Both kinds save to and load from
plain arrays (`to_arrays` / `from_arrays`) so a model file can carry its whitener.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from csc import io
from csc.backends.backend import array_module
from csc.core.params import check_number

WHITENINGS = ("pca", "of")
#: how a PCA whitener weights its kept components in the reconstruction error
WEIGHTINGS = ("paper", "tail")


class PCAWhitener:
    """PCA whitening: x = diag(λ^{-½}) Eᵀ (p − μ); dewhitening p = E diag(λ^{½}) x + μ.

    Components are kept while their variance exceeds `cutoff` × `noise_variance` × the mean pixel
    variance (paper: 1.25 × 0.01). Reconstruction weights are ρ_m / noise_variance, with ρ
    (`weighting`):
    - "paper" (the authors' code): ρ = 1 on the components whose variance exceeds `flat` (8) × the
      cutoff, then a raised cosine over the remaining kept components, falling toward 0 at the
      cutoff (ρ_j = ½(1 + cos(π j / (m + 1))), j = 1..m, so no kept component weighs exactly 0).
      The components near the cutoff are mostly noise and compression artefacts: they change
      more from frame to frame than the image does, and units made to fit them do not form;
    - "tail": ρ = 1, rolling off as the same raised cosine over the last `rolloff` fraction.

    Fitted attributes: mean_ float32 (p·p,), components_ float32 (p·p, n_features) (E),
    variances_ float32 (n_features,) (λ), weights_ float32 (n_features,).
    """

    kind = "pca"

    def __init__(self, patch_size: int, noise_variance: float = 0.01, cutoff: float = 1.25,
                 rolloff: float = 0.1, weighting: str = "paper", flat: float = 8.0):
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {weighting!r}; choose one of {WEIGHTINGS}")
        self.patch_size = patch_size
        self.noise_variance = noise_variance
        self.cutoff = cutoff
        self.rolloff = rolloff
        self.weighting = weighting
        self.flat = flat

    def fit(self, patches: np.ndarray) -> PCAWhitener:
        """patches: float (n, p, p) or (n, p·p), n ≥ 2."""
        P = np.asarray(patches, dtype=np.float64).reshape(len(patches), -1)
        if P.shape[1] != self.patch_size**2:
            raise ValueError(f"patches have {P.shape[1]} pixels, expected {self.patch_size}²")
        mean = P.mean(axis=0)
        cov = np.cov(P - mean, rowvar=False)
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        evals, evecs = evals[order], evecs[:, order]
        pixel_variance = float(np.trace(cov)) / cov.shape[0]
        if pixel_variance <= 0:
            raise ValueError("the patches are constant: nothing to whiten")
        threshold = self.cutoff * self.noise_variance * pixel_variance
        keep = max(int(np.sum(evals > threshold)), 1)
        if self.weighting == "paper":
            rolled = keep - min(int(np.sum(evals > self.flat * threshold)), keep)
            rho = raised_cosine_rolloff(keep, rolled / keep)
        else:
            rho = raised_cosine_rolloff(keep, self.rolloff)
        self.mean_ = mean.astype(np.float32)
        self.components_ = evecs[:, :keep].astype(np.float32)
        self.variances_ = evals[:keep].astype(np.float32)
        self.weights_ = (rho / self.noise_variance).astype(np.float32)
        return self

    @property
    def n_features(self) -> int:
        return self.components_.shape[1]

    def transform(self, patches):
        """(..., p, p) pixels → (..., n_features) float32; NumPy or CuPy in, the same out."""
        xp = array_module(patches)
        P = xp.asarray(patches, dtype=np.float32).reshape(*patches.shape[:-2], -1)
        E, mean, var = (xp.asarray(a) for a in (self.components_, self.mean_, self.variances_))
        return ((P - mean) @ E) / xp.sqrt(var)

    def inverse_transform(self, features, *, add_mean: bool = True):
        """(..., n_features) → (..., p, p) float32 pixels (the mean patch added back by default)."""
        xp = array_module(features)
        E, mean, var = (xp.asarray(a) for a in (self.components_, self.mean_, self.variances_))
        P = (xp.asarray(features, dtype=np.float32) * xp.sqrt(var)) @ E.T
        if add_mean:
            P = P + mean
        return P.reshape(*P.shape[:-1], self.patch_size, self.patch_size)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return dict(kind=np.array(self.kind), patch_size=np.array(self.patch_size),
                    noise_variance=np.array(self.noise_variance), cutoff=np.array(self.cutoff),
                    rolloff=np.array(self.rolloff), weighting=np.array(self.weighting),
                    flat=np.array(self.flat), mean=self.mean_,
                    components=self.components_, variances=self.variances_,
                    weights=self.weights_)

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray], n_features: int | None = None) -> PCAWhitener:
        """Rebuild a fitted whitener from `to_arrays` output, with `n_features` features when
        given. ValueError (naming the array) for one missing, of the wrong dtype kind or shape
        (mean (p·p,), components (p·p, F), variances and weights (F,)), NaN or Inf, or variances
        or noise_variance not > 0."""
        p = _patch_size(a)
        # files written before the "paper" weighting existed used the "tail" one
        weighting = io.require_scalar(a, "weighting", "U") if "weighting" in a else "tail"
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting {weighting!r} is not one of {WEIGHTINGS}")
        flat = _number(a, "flat") if "flat" in a else 8.0
        w = cls(p, _number(a, "noise_variance", positive=True), _number(a, "cutoff"),
                _number(a, "rolloff"), weighting, flat)
        w.mean_ = io.require_array(a, "mean", "f", (p * p,))
        w.components_ = io.require_array(a, "components", "f", (p * p, n_features))
        F = w.components_.shape[1]
        if F == 0:
            raise ValueError(f"components has shape {w.components_.shape}: no features")
        w.variances_ = io.require_array(a, "variances", "f", (F,))
        w.weights_ = io.require_array(a, "weights", "f", (F,))
        if np.any(w.variances_ <= 0):
            raise ValueError("variances must be > 0")
        return w


def _patch_size(a: dict[str, np.ndarray]) -> int:
    """The stored patch size p, an integer >= 1."""
    return check_number(io.require_scalar(a, "patch_size", "iu"), "patch_size", Integral, 1)


def _number(a: dict[str, np.ndarray], name: str, positive: bool = False) -> float:
    """The stored finite real number a[name] (0-d), > 0 if `positive`."""
    value = float(io.require_scalar(a, name, "iuf"))
    if positive:
        check_number(value, name, Real, 0, include_min=False)
    return value


def raised_cosine_rolloff(n: int, fraction: float) -> np.ndarray:
    """(n,) weights: 1, then a raised cosine falling toward 0 over the last `fraction` of n
    (the last m = round(fraction · n) get ½(1 + cos(π j / (m + 1))), j = 1..m)."""
    rho = np.ones(n)
    m = int(round(fraction * n))
    if m > 0:
        rho[n - m:] = 0.5 * (1 + np.cos(np.pi * (np.arange(1, m + 1)) / (m + 1)))
    return rho


class OFWhitener:
    """Olshausen–Field whitening filter R(f) = f·exp(−(f/f₀)⁴), f₀ = 0.4·Nyquist, applied to each
    patch in the Fourier domain (periodic boundary), then scaled to unit pixel variance.

    The inverse divides by R where R > 1e-3·max R (the DC term and the far corners are lost).
    Features are the p·p filtered pixels; weights are uniform 1/noise_variance.
    """

    kind = "of"

    def __init__(self, patch_size: int, noise_variance: float = 0.01, f0: float = 0.4):
        self.patch_size = patch_size
        self.noise_variance = noise_variance
        self.f0 = f0
        fy = np.fft.fftfreq(patch_size)[:, None]
        fx = np.fft.fftfreq(patch_size)[None, :]
        f = np.hypot(fx, fy) / 0.5  # in units of the Nyquist frequency
        self._filter = f * np.exp(-((f / f0) ** 4))

    def fit(self, patches: np.ndarray) -> OFWhitener:
        filtered = self._apply(np.asarray(patches, dtype=np.float64), self._filter)
        scale = float(np.std(filtered))
        if scale <= 0:
            raise ValueError("the patches are constant: nothing to whiten")
        self.scale_ = scale
        self.weights_ = np.full(self.n_features, 1.0 / self.noise_variance, dtype=np.float32)
        return self

    @property
    def n_features(self) -> int:
        return self.patch_size**2

    def _apply(self, P, H: np.ndarray):
        """P float64 (..., p, p), NumPy or CuPy, filtered by the host filter H (p, p) in the
        Fourier domain; an array of P's kind."""
        xp = array_module(P)
        spectrum = xp.fft.fft2(P, axes=(-2, -1)) * xp.asarray(H)
        return xp.fft.ifft2(spectrum, axes=(-2, -1)).real

    def transform(self, patches):
        """(..., p, p) pixels → (..., p·p) float32 features; NumPy or CuPy in, the same out."""
        xp = array_module(patches)
        F = self._apply(xp.asarray(patches, dtype=np.float64), self._filter) / self.scale_
        return F.reshape(*F.shape[:-2], -1).astype(np.float32)

    def inverse_transform(self, features, *, add_mean: bool = True):
        """(..., p·p) features → (..., p, p) float32 pixels; NumPy or CuPy in, the same out."""
        p = self.patch_size
        xp = array_module(features)
        F = xp.asarray(features, dtype=np.float64).reshape(*features.shape[:-1], p, p)
        R = self._filter
        inv = np.where(R > 1e-3 * R.max(), 1.0 / np.where(R > 0, R, 1.0), 0.0)
        return (self._apply(F * self.scale_, inv)).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return dict(kind=np.array(self.kind), patch_size=np.array(self.patch_size),
                    noise_variance=np.array(self.noise_variance), f0=np.array(self.f0),
                    scale=np.array(self.scale_))

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray], n_features: int | None = None) -> OFWhitener:
        """Rebuild a fitted whitener from `to_arrays` output, with `n_features` (= p·p) features
        when given (checked before the p×p filter is built). ValueError (naming the array) for
        one missing, of the wrong dtype kind, or not a finite number > 0."""
        p = _patch_size(a)
        if n_features is not None and p * p != n_features:
            raise ValueError(f"patch_size {p} makes {p * p} features, expected {n_features}")
        w = cls(p, _number(a, "noise_variance", positive=True), _number(a, "f0", positive=True))
        w.scale_ = _number(a, "scale", positive=True)
        w.weights_ = np.full(w.n_features, 1.0 / w.noise_variance, dtype=np.float32)
        return w


def make_whitener(kind: str, patch_size: int, **kwargs):
    """A new unfitted whitener of `kind` ("pca" or "of")."""
    if kind == "pca":
        return PCAWhitener(patch_size, **kwargs)
    if kind == "of":
        return OFWhitener(patch_size, **kwargs)
    raise ValueError(f"unknown whitening {kind!r}; choose one of {WHITENINGS}")


def whitener_from_arrays(a: dict[str, np.ndarray], n_features: int | None = None):
    """Rebuild a fitted whitener from `to_arrays` output, with `n_features` features when given
    (ValueError naming the array at fault otherwise: see each kind's `from_arrays`)."""
    kind = io.require_scalar(a, "kind", "U")
    classes = {"pca": PCAWhitener, "of": OFWhitener}
    if kind not in classes:
        raise ValueError(f"kind {kind!r} is not a whitener kind (known: {WHITENINGS})")
    return classes[kind].from_arrays(a, n_features)


__all__ = ["WEIGHTINGS", "PCAWhitener", "OFWhitener", "make_whitener", "whitener_from_arrays",
           "raised_cosine_rolloff", "WHITENINGS", "SPACES", "draw_units"]


#: where units are drawn: whitened pixel space (where codes are inferred) or pixel space
SPACES = ("whitened", "pixels")


def draw_units(D, whitener, space: str = "whitened") -> np.ndarray:
    """complex (K, p, p): units D complex (K, n_features) of a whitener's feature space drawn as
    pixel patches.

    space="pixels": dewhitened (`whitener.inverse_transform`, no mean: what decoding paints);
    "whitened": as the unit looks in whitened pixel space (PCA: E d_k, the ZCA view; the
    Olshausen–Field features are filtered pixels already), which is where codes are inferred.
    """
    D = np.asarray(D)
    p = whitener.patch_size
    if space == "pixels":
        return (whitener.inverse_transform(D.real, add_mean=False)
                + 1j * whitener.inverse_transform(D.imag, add_mean=False)).astype(np.complex64)
    if space != "whitened":
        raise ValueError(f"unknown space {space!r}; choose one of {SPACES}")
    E = getattr(whitener, "components_", None)
    if getattr(whitener, "kind", None) == "pca" and E is not None:
        return (D @ np.asarray(E, np.float64).T).reshape(len(D), p, p)
    if D.shape[1] == p * p:
        return D.reshape(len(D), p, p)
    return draw_units(D, whitener, "pixels")
