"""Joint inference of both layers: first-layer codes and motion units together.

Inferring the layers one after the other, the motion units see the phase velocities of codes
that did not know about them. The paper also infers them jointly (the authors' `infer_twolayer`):
the first-layer codes Z (n_seq, T, K) and the motion-unit activities W (n_seq, T−1, L) minimise

    E(Z, W) = E₁(Z) + f · E_m(W; δ(Z), mask),

E₁ the first layer's energy (reconstruction, sparse prior on amplitudes, l2 slowness) under the
model's `second_layer_prior`, E_m the motion units' energy (`motion.energy_motion`) of the phase
velocities δ_t = arg(z_t z̄_{t−1}), and f the feedback factor (the authors': 0.1). So the
motion units' prediction pulls the first-layer phases towards a coherent motion, and the codes
pull the motion units towards what explains the pixels.

The mask (which phase velocities count) is taken from the codes inferred layer by layer and
held fixed (it is a step function of the amplitudes). Both are found by L-BFGS from the
layer-by-layer solution, in Cartesian coordinates (u, v = Re z, Im z); ∂φ/∂(u + iv) = i z/|z|².
The sparse prior must be smooth (cauchy or gauss; l1 is refused).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from csc.core.energy import (
    cauchy_gradient,
    energy_terms,
    gauss_gradient,
    recon_gradient_codes,
    slowness_l2_gradient,
)
from csc.priors import make_prior
from csc.second_layer.codes import second_layer_codes
from csc.second_layer.motion import energy_motion

#: the authors' weight of the motion units' energy in the joint energy
PAPER_FEEDBACK = 0.1


def _prior_gradient(Z: np.ndarray, prior) -> np.ndarray:
    """∂/∂(u + iv) of the smooth prior terms (sparse prior and l2 slowness)."""
    if prior.sparsity == "gauss":
        g = gauss_gradient(Z, prior.lam)
    else:
        g = cauchy_gradient(Z, prior.lam, prior.sigma)
    if prior.slowness == "l2":
        g = g + slowness_l2_gradient(Z, prior.kappa)
    return g


def joint_energy(X, Z, W, D, mu, mask, prior, feedback: float = PAPER_FEEDBACK,
                 grad: bool = False):
    """E(Z, W) (float) for whitened data X (n_seq, T, M), codes Z complex (n_seq, T, K),
    activities W (n_seq, T−1, L), first-layer dictionary D complex (K, M), fitted motion units
    `mu`, mask (n_seq, T−1, K) and a `Prior`; with grad=True also (∂E/∂(u + iv), ∂E/∂W)."""
    E1 = energy_terms(X, Z, D, prior)["total"]
    prod = Z[:, 1:] * np.conj(Z[:, :-1])
    delta = np.angle(prod)
    out = energy_motion(delta, mask, W, mu.components_, grad=grad, **mu._energy_kwargs())
    E = E1 + feedback * out[0]
    if not grad:
        return E
    gW = feedback * out[2]
    # ∂E_m/∂δ = κ mask sin(δ − D_m w); δ_t = φ_t − φ_{t−1}
    r = delta - W @ mu.components_.T
    gd = feedback * mu.kappa_vm * mask * np.sin(r)
    g_phi = np.zeros(Z.shape)
    g_phi[:, 1:] += gd
    g_phi[:, :-1] -= gd
    a2 = np.maximum(np.abs(Z) ** 2, 1e-12)
    w = prior.weight_vector(X.shape[-1])
    gZ = recon_gradient_codes(X, Z, D, w) + _prior_gradient(Z, prior) + g_phi * 1j * Z / a2
    return E, gZ, gW


def infer_joint(model, P, *, feedback: float = PAPER_FEEDBACK, max_iter: int = 150,
                tol: float = 1e-6, motion_units=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Codes Z complex128 (n_seq, T, K) and motion-unit activities W float64 (n_seq, T−1, L) of
    pixel movies P (n_seq, T, p, p), inferred jointly from the layer-by-layer solution, and
    {"energy_start", "energy", "n_iter"}.

    model: a `PixelModel` with `motion_units` (or pass fitted ones as `motion_units`); its codes
    are inferred under `model.second_layer_prior`.
    """
    mu = motion_units if motion_units is not None else model.motion_units
    if mu is None:
        raise ValueError("joint inference needs the model's motion units: learn them with "
                         "csc-second-layer")
    prior = make_prior(**{**model.coder._prior_kwargs(), **(model.second_layer_prior or {})})
    if prior.sparsity == "l1":
        raise ValueError("joint inference needs a smooth sparse prior (cauchy or gauss), got l1")
    X = model.whitener.transform(np.asarray(P)).astype(np.float64)
    D = np.asarray(model.components_, np.complex128)
    Z0 = second_layer_codes(model, P).astype(np.complex128)
    delta, mask = mu.features(Z0)
    W0 = mu.transform(delta, mask)
    mask = mask.astype(np.float64)
    nz, shape_z, shape_w = Z0.size, Z0.shape, W0.shape

    def unpack(x):
        return (x[:nz] + 1j * x[nz:2 * nz]).reshape(shape_z), x[2 * nz:].reshape(shape_w)

    def fun(x):
        Z, W = unpack(x)
        E, gZ, gW = joint_energy(X, Z, W, D, mu, mask, prior, feedback, grad=True)
        return E, np.concatenate([gZ.real.ravel(), gZ.imag.ravel(), gW.ravel()])

    x0 = np.concatenate([Z0.real.ravel(), Z0.imag.ravel(), W0.ravel()])
    E0 = fun(x0)[0]
    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12, "maxcor": 20})
    Z, W = unpack(res.x)
    return Z, W, {"energy_start": float(E0), "energy": float(res.fun), "n_iter": int(res.nit)}
