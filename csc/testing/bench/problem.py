"""The benchmark problem: the convex case (l1 sparsity, no slowness) on planted data.

For a complex dictionary D (K, M), W = [Re D; Im D] (2K, M) and each frame x (M,) is coded
independently by real-form codes c (2K,), z = c[:K] + i c[K:]:

    E(c) = ½ Σ_m w_m (x_m − (Wᵀ c)_m)² + λ Σ_k ‖(c_k, c_{K+k})‖₂,

a group lasso whose groups are the pairs {k, K+k} (the amplitudes |z_k|). Every solver's codes
are scored by this one energy (`csc.energy`), and certified by the dual bound of
`csc.core.duality`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csc.core.duality import dual_bound, lam_max
from csc.core.energy import energy
from csc.core.model import codes_from_real, dictionary_to_real
from csc.testing.planted import planted_data

SEQ_LEN = 64
"""Frames per sequence: N frames are laid out as N // SEQ_LEN sequences."""

LAM_RATIO = 0.1
"""lam = LAM_RATIO · lam_max."""


@dataclass
class Problem:
    """One benchmark instance (convex case, unit feature weights).

    D: complex128 dictionary (K, M), each complex row of unit l2 norm; X: float32 data
    (n_sequences, SEQ_LEN, M); lam: the group-lasso weight of every solver; lam_max: the smallest
    lam giving all-zero codes; weights: float64 feature weights (M,), all ones here.
    Real-form codes C are float (N, 2K) with N = n_sequences · SEQ_LEN frames.
    """

    D: np.ndarray
    X: np.ndarray
    lam: float
    lam_max: float
    weights: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of complex units K."""
        return self.D.shape[0]

    @property
    def n_features(self) -> int:
        """Number of features M."""
        return self.D.shape[1]

    @property
    def n_frames(self) -> int:
        """Total number of frames N."""
        return self.X.shape[0] * self.X.shape[1]

    def real_dict(self, dtype=np.float64) -> np.ndarray:
        """Real-form dictionary W = [Re D; Im D], (2K, M)."""
        return dictionary_to_real(self.D, dtype)

    def frames(self, dtype=np.float64) -> np.ndarray:
        """The data as a (N, M) matrix of frames."""
        return self.X.reshape(-1, self.n_features).astype(dtype)

    def codes(self, C: np.ndarray) -> np.ndarray:
        """Real-form codes C (N, 2K) → complex128 codes (n_sequences, SEQ_LEN, K)."""
        return codes_from_real(np.asarray(C, dtype=np.float64), *self.X.shape[:2])

    def energy(self, C: np.ndarray) -> float:
        """The common energy (float64) of real-form codes C (N, 2K), summed over frames."""
        return energy(self.X, self.codes(C), self.D, sparsity="l1", lam=self.lam,
                      slowness="none", weights=self.weights)["total"]

    def dual_bound(self, C: np.ndarray) -> float:
        """A lower bound on the optimal energy, from the dual point of codes C (N, 2K)."""
        return dual_bound(self.X, self.codes(C), self.D, self.lam, self.weights)

    def active_fraction(self, C: np.ndarray, rel: float = 1e-6) -> float:
        """Fraction of (frame, unit) amplitudes of C (N, 2K) above rel · the largest one."""
        amp = np.abs(self.codes(C))
        return float(np.mean(amp > rel * max(amp.max(), 1e-300)))


def make_problem(n_frames: int, n_features: int, n_units: int, seed: int,
                 density: float = 0.05, noise: float = 0.1) -> Problem:
    """A planted problem: `csc.testing.planted.planted_data` with each unit active in a sequence
    with probability `density`, a dictionary normalised "complex", and white noise of
    `noise` · rms(clean frames); X stored as float32, lam = LAM_RATIO · lam_max."""
    if n_frames % SEQ_LEN:
        raise ValueError(f"n_frames={n_frames} must be a multiple of {SEQ_LEN}")
    clean, D, _ = planted_data(n_components=n_units, n_features=n_features,
                               n_sequences=n_frames // SEQ_LEN, n_frames=SEQ_LEN,
                               p_active=density, noise=0.0, random_state=seed,
                               normalize="complex")
    rms = np.sqrt(np.mean(clean.astype(np.float64) ** 2))
    if rms == 0:
        raise ValueError(f"no planted unit is active (density {density}): use more units or "
                         f"frames")
    rng = np.random.default_rng([seed, 1])
    X = (clean + noise * rms * rng.standard_normal(clean.shape)).astype(np.float32)
    weights = np.ones(n_features)
    lmax = lam_max(X, D, weights)
    return Problem(D=D, X=X, lam=LAM_RATIO * lmax, lam_max=lmax, weights=weights)
