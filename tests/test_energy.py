"""The model and the energy: definitions, and every smooth gradient against finite differences."""
import numpy as np
import pytest
from conftest import random_problem

import csc
from csc.core.energy import (
    cauchy_gradient,
    gauss_gradient,
    recon_gradient_codes,
    recon_gradient_dictionary,
    slowness_l2_gradient,
)
from csc.core.proxes import prox_codes


def test_reconstruct_is_amplitude_phase_sum(rng):
    X, D, Z, _ = random_problem(rng)
    a, phi = np.abs(Z), np.angle(Z)
    expected = np.einsum("btk,km->btm", a * np.cos(phi), D.real) + np.einsum(
        "btk,km->btm", a * np.sin(phi), D.imag)
    np.testing.assert_allclose(csc.reconstruct(Z, D), expected, atol=1e-12)
    np.testing.assert_allclose(csc.reconstruct(Z, D), (Z.conj() @ D).real, atol=1e-12)


@pytest.mark.parametrize("sparsity,slowness", [("l1", "none"), ("l1", "l2"), ("l1", "l1"),
                                               ("cauchy", "l2"), ("cauchy", "none"),
                                               ("gauss", "none"), ("gauss", "l2")])
def test_energy_parts_match_definition(rng, sparsity, slowness):
    X, D, Z, w = random_problem(rng)
    lam, sigma, kappa = 0.7, 0.3, 0.4
    e = csc.energy(X, Z, D, sparsity=sparsity, lam=lam, sigma=sigma, slowness=slowness,
                   kappa=kappa, weights=w)
    a = np.abs(Z)
    recon = 0.5 * np.sum(w * (X - (Z.conj() @ D).real) ** 2)
    sparse = lam * {"l1": a.sum(), "cauchy": np.log(1 + a**2 / sigma**2).sum(),
                    "gauss": 0.5 * np.sum(a**2)}[sparsity]
    da = a[:, 1:] - a[:, :-1]
    slow = {"none": 0.0, "l2": 0.5 * kappa * np.sum(da**2), "l1": kappa * np.abs(da).sum()}
    assert e["recon"] == pytest.approx(recon, rel=1e-12)
    assert e["sparse"] == pytest.approx(sparse, rel=1e-12)
    assert e["slow"] == pytest.approx(slow[slowness], rel=1e-12, abs=1e-14)
    assert e["total"] == pytest.approx(recon + sparse + slow[slowness], rel=1e-12)


def _fd_gradient(f, Z, h=1e-6):
    """Central finite differences of a real function of complex Z, packed as ∂/∂u + i∂/∂v."""
    g = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        for unit in (1, 1j):
            Zp, Zm = Z.copy(), Z.copy()
            Zp[idx] += h * unit
            Zm[idx] -= h * unit
            g[idx] += unit * (f(Zp) - f(Zm)) / (2 * h)
    return g


def test_recon_gradient_codes_fd(rng):
    X, D, Z, w = random_problem(rng, B=2, T=3, K=3, M=6)
    f = lambda Z_: 0.5 * np.sum(w * (X - csc.reconstruct(Z_, D)) ** 2)
    np.testing.assert_allclose(recon_gradient_codes(X, Z, D, w), _fd_gradient(f, Z), rtol=1e-6,
                               atol=1e-7)


def test_recon_gradient_dictionary_fd(rng):
    X, D, Z, w = random_problem(rng, B=2, T=3, K=3, M=6)
    f = lambda D_: 0.5 * np.sum(w * (X - csc.reconstruct(Z, D_)) ** 2)
    np.testing.assert_allclose(recon_gradient_dictionary(X, Z, D, w), _fd_gradient(f, D),
                               rtol=1e-6, atol=1e-7)


def test_slowness_l2_gradient_fd(rng):
    _, _, Z, _ = random_problem(rng, B=2, T=5, K=3)
    kappa = 0.8
    f = lambda Z_: 0.5 * kappa * np.sum(np.diff(np.abs(Z_), axis=1) ** 2)
    np.testing.assert_allclose(slowness_l2_gradient(Z, kappa), _fd_gradient(f, Z), rtol=1e-6,
                               atol=1e-7)


def test_cauchy_gradient_fd(rng):
    _, _, Z, _ = random_problem(rng, B=2, T=3, K=3)
    f = lambda Z_: 1.3 * np.sum(np.log1p(np.abs(Z_) ** 2 / 0.5**2))
    np.testing.assert_allclose(cauchy_gradient(Z, 1.3, 0.5), _fd_gradient(f, Z), rtol=1e-6,
                               atol=1e-7)


def test_gauss_gradient_fd(rng):
    _, _, Z, _ = random_problem(rng, B=2, T=3, K=3)
    f = lambda Z_: 0.5 * 1.3 * np.sum(np.abs(Z_) ** 2)
    np.testing.assert_allclose(gauss_gradient(Z, 1.3), _fd_gradient(f, Z), rtol=1e-6, atol=1e-7)


def test_gauss_with_l2_slowness_smooth_gradient_fd(rng):
    """With gauss sparsity and l2 slowness the whole prior is differentiable (away from a = 0):
    the energy's gradient is the sum of the reference pieces."""
    X, D, Z, w = random_problem(rng, B=2, T=4, K=3, M=6)
    lam, kappa = 0.9, 0.6
    f = lambda Z_: csc.energy(X, Z_, D, sparsity="gauss", lam=lam, slowness="l2", kappa=kappa,
                              weights=w)["total"]
    g = (recon_gradient_codes(X, Z, D, w) + gauss_gradient(Z, lam)
         + slowness_l2_gradient(Z, kappa))
    np.testing.assert_allclose(g, _fd_gradient(f, Z), rtol=1e-6, atol=1e-6)


def test_kernel_gradient_step_matches_reference(rng):
    """The fused CPU pass's gradient step (reconstruction + l2 slowness), with the prox made the
    identity (lam=0), equals Y − τ ∇f(Y) from the NumPy reference gradients."""
    from csc.backends.cpu.fused import code_step
    from csc.core.model import codes_from_real, codes_to_real
    X, D, Z, w = random_problem(rng, B=3, T=7, K=4, M=9)
    kappa, tau = 0.6, 0.05
    G = codes_to_real(recon_gradient_codes(X, Z, D, w), np.float64)
    Y = codes_to_real(Z, np.float64)
    out, ynew = np.empty_like(Y), np.empty_like(Y)
    partials = np.empty((3, 4))
    code_step(Y, G, np.zeros_like(Y), out, ynew, 7, tau, 0.0, 0.0, 0.4, kappa, 0, 1, partials)
    expected = Z - tau * (recon_gradient_codes(X, Z, D, w) + slowness_l2_gradient(Z, kappa))
    np.testing.assert_allclose(codes_from_real(out, 3, 7), expected, rtol=1e-12, atol=1e-12)
    # and its slowness energy of the result is the reference one
    slow = 0.5 * kappa * np.sum(np.diff(np.abs(expected), axis=1) ** 2)
    assert partials[:, 1].sum() == pytest.approx(slow, rel=1e-10)


def test_prox_codes_shape_dtype_and_value(rng):
    """prox_codes keeps the shape and dtype, and with the l1 prior (no slowness) shrinks each
    amplitude by τλ and keeps its phase."""
    _, _, Z, _ = random_problem(rng)
    out = prox_codes(Z.astype(np.complex64), 0.1, lam=1.0)
    assert out.shape == Z.shape and out.dtype == np.complex64
    want = np.maximum(np.abs(Z) - 0.1, 0) * np.exp(1j * np.angle(Z))
    np.testing.assert_allclose(out, want, atol=1e-6)
    assert 0 < np.mean(out == 0) < 1
