"""CUDA kernels without a GPU (docs/design.md §6): every kernels/*.cu compiles to PTX for sm_80 and
sm_90, and the host emulation of each launch (kernels/fused.cu built with `nvcc -shared`) matches
the Numba CPU kernels and NumPy.

Tolerances. Data is float32 on both sides, but the two implementations round differently: the
Numba kernels compute some intermediates in float64 (the l2 slowness coefficient, the phase
scale, the momentum point, the chain kernel's magnitudes and TV), the CUDA ones in float32 (with
double only for the Cauchy root and the accumulators). Measured differences are a few float32
ulps: |ΔX| ≤ ~1e-6 on codes of size ~1-4, partial sums ≤ ~1e-7 relative. The tests use
rtol = atol = 1e-5 on codes (atol matters for codes near 0) and rtol = 1e-5 on the partials,
and 1e-12 where both sides compute in double (the Cauchy amplitude).
The Cauchy prox is discontinuous where the two candidate minima have equal objective; a
float32-level perturbation can then pick the other one, so such codes are accepted when the two
amplitudes are a near-tie of the objective (none occur with the seeds used here).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import toolchain_missing

from csc.core.priors import SLOW_L1, SLOW_L2, SLOW_NONE, SPARSE_CAUCHY, SPARSE_GAUSS, SPARSE_L1
from csc.resources import kernels_dir
from csc.testing import host_kernels as hb

if not hb.nvcc_available():
    toolchain_missing("nvcc (CUDA toolkit) not found: the CUDA kernels cannot be compiled here")

KERNELS = ("csc_code_step_pointwise", "csc_code_step_chain", "csc_recon_step",
           "csc_sample_patches")
L1, CAUCHY, GAUSS = SPARSE_L1, SPARSE_CAUCHY, SPARSE_GAUSS
NONE, L2, TV = SLOW_NONE, SLOW_L2, SLOW_L1
RTOL = ATOL = 1e-5


@pytest.fixture(scope="session")
def lib(tmp_path_factory):
    return hb.build_host_library(tmp_path_factory.mktemp("csc_kernels"))


# ------------------------------------------------------------------------------------------------
# compilation

@pytest.mark.parametrize("arch", hb.PTX_ARCHES)
def test_every_kernel_compiles_to_ptx(arch, tmp_path):
    sources = hb.kernel_sources()
    assert sources, f"no .cu files in {kernels_dir()}"
    outs = hb.compile_ptx(arch, tmp_path)
    assert [p.name for p in outs] == [f"{s.stem}.{arch}.ptx" for s in sources]
    ptx = {p.stem.split(".")[0]: p.read_text() for p in outs}
    for text in ptx.values():
        assert re.search(rf"^\.target\s+{arch}\b", text, re.M)
    for name in KERNELS:
        assert re.search(rf"\.visible \.entry {name}\(", ptx["fused"]), name


def test_compile_ptx_reports_nvcc_errors(tmp_path):
    bad = tmp_path / "bad.cu"
    bad.write_text('extern "C" __global__ void k(float* x) { x[0] = undefined_name; }\n')
    with pytest.raises(hb.NvccError, match="undefined_name"):
        hb.compile_ptx("sm_80", tmp_path / "out", sources=[bad])


def test_host_library_is_cached(lib, monkeypatch):
    out_dir = Path(lib._name).parent
    assert [p.name for p in out_dir.iterdir()] == [Path(lib._name).name]  # no temporaries left
    assert hb.build_host_library(out_dir) is lib

    def no_nvcc(args):
        raise AssertionError("recompiled although the sources did not change")

    monkeypatch.setattr(hb, "_run_nvcc", no_nvcc)
    monkeypatch.setattr(hb, "_LOADED", {})
    reloaded = hb.build_host_library(out_dir)  # from the file on disk
    assert reloaded.csc_tv_denoise_host.argtypes == lib.csc_tv_denoise_host.argtypes


def _params(decl: str) -> list[str]:
    return [" ".join(p.split()) for p in decl.split(",")]


def test_host_entry_points_mirror_the_kernels():
    """<name>_host(int grid, int block, ...) takes exactly the kernel's parameters, and the ctypes
    declarations have the right arity."""
    src = (kernels_dir() / "fused.cu").read_text()
    for name in KERNELS:
        kernel = re.search(rf'extern "C" __global__ void {name}\(([^)]*)\)', src)
        host = re.search(rf'extern "C" void {name}_host\(([^)]*)\)', src)
        assert kernel and host, name
        assert _params(host.group(1)) == ["int grid", "int block", *_params(kernel.group(1))]
        assert len(hb.HOST_SIGNATURES[f"{name}_host"]) == len(_params(host.group(1)))


# ------------------------------------------------------------------------------------------------
# per-element math

def _cauchy_objective(s, r, t, sigma):
    return 0.5 * (r - s) ** 2 + t * np.log1p(s * s / (sigma * sigma))


def _three_roots(r, t, sigma):
    """Where the stationarity cubic has three real roots in (0, r): two candidate minima."""
    c = sigma * sigma + 2 * t
    disc = r * r - 3 * c
    sq = np.sqrt(np.maximum(disc, 0))
    p = lambda s: ((s - r) * s + c) * s - r * sigma * sigma  # noqa: E731
    return (disc > 0) & (p((r - sq) / 3) >= 0) & (p((r + sq) / 3) <= 0)


def test_cauchy_amplitude_matches_cpu(lib):
    from csc.backends.cpu.amplitude import cauchy_amplitude

    rng = np.random.default_rng(1)
    n = 4000
    # the three-root regime (small sigma), then a broad one, then edge cases
    r = np.concatenate([rng.uniform(0.5, 2.0, n), rng.uniform(0.0, 5.0, n),
                        [0.0, 1.0, 1.0, 1e-8, 3.0]])
    t = np.concatenate([rng.uniform(0.05, 0.6, n), rng.uniform(0.0, 2.0, n),
                        [0.3, 0.0, 1e-12, 0.1, 5.0]])
    sigma = np.concatenate([rng.uniform(0.05, 0.2, n), rng.uniform(0.05, 2.0, n),
                            [0.4, 0.4, 0.4, 0.4, 0.1]])
    got = hb.host_cauchy_amplitude(r, t, sigma, lib=lib)
    # the hard case is exercised: three real roots, and both the low and the high one win
    three = _three_roots(r[:n], t[:n], sigma[:n])
    assert three.mean() > 0.1
    s_max = (r - np.sqrt(np.maximum(r * r - 3 * (sigma**2 + 2 * t), 0))) / 3  # local max of p
    low = got[:n][three] < s_max[:n][three]
    assert 0.05 < low.mean() < 0.95
    want = np.array([cauchy_amplitude(a, b, c) for a, b, c in zip(r, t, sigma)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # independently: in [0, r], and no worse than 0, r, and a dense grid of [0, r]
    assert np.all((got >= 0) & (got <= r))
    f = _cauchy_objective(got, r, t, sigma)
    grid = np.linspace(0, 1, 2001)[:, None] * r
    f_grid = _cauchy_objective(grid, r, t, sigma).min(axis=0)
    assert np.all(f <= np.minimum(f_grid, _cauchy_objective(0 * r, r, t, sigma)) + 1e-12)


def test_soft_amplitude(lib):
    rng = np.random.default_rng(2)
    r = rng.uniform(0, 2, 1000).astype(np.float32)
    t = rng.uniform(0, 1, 1000).astype(np.float32)
    np.testing.assert_array_equal(hb.host_soft_amplitude(r, t, lib=lib),
                                  np.maximum(r - t, np.float32(0)))


def test_gauss_amplitude_matches_cpu(lib):
    from csc.backends.cpu.amplitude import gauss_amplitude

    rng = np.random.default_rng(8)
    r = np.concatenate([rng.uniform(0, 5, 1000), [0.0, 0.0, 2.0, 1e-30]]).astype(np.float32)
    t = np.concatenate([rng.uniform(0, 3, 1000), [0.0, 4.0, 0.0, 0.5]]).astype(np.float32)
    got = hb.host_gauss_amplitude(r, t, lib=lib)
    assert got.dtype == np.float32
    want = np.array([gauss_amplitude(a, b) for a, b in zip(r.tolist(), t.tolist())])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)  # float32 vs float64 division
    # the minimiser of ½(r − s)² + (t/2)s²: stationary, (1 + t)s = r
    np.testing.assert_allclose((1 + t.astype(np.float64)) * got, r, rtol=1e-6)
    assert got[-4] == 0.0 and got[-2] == r[-2]


def _tv_signals(rng):
    for n in (1, 2, 3, 5, 17, 64, 200):
        for kind in ("noise", "steps", "const"):
            if kind == "noise":
                y = rng.standard_normal(n)
            elif kind == "steps":
                y = np.repeat(rng.uniform(0, 3, n), rng.integers(1, 6, n))[:n]
                y = y + 0.05 * rng.standard_normal(n)
            else:
                y = np.full(n, 0.7)
            for lam in (0.0, 0.01, 0.3, 1.0, 50.0):
                yield y.astype(np.float32), lam


def _assert_tv_optimal(x, y, lam):
    """KKT of min ½‖x − y‖² + λ Σ|x_{i+1} − x_i|: g = −cumsum(y − x) has |g| ≤ λ, ends at 0, and
    g_i = λ sign(x_{i+1} − x_i) across every jump."""
    x = x.astype(np.float64)
    g = -np.cumsum(y.astype(np.float64) - x)
    tol = 1e-5 * (1 + np.abs(y).max()) * len(y)
    assert abs(g[-1]) <= tol
    assert np.all(np.abs(g[:-1]) <= lam + tol)
    jump = np.diff(x)
    big = np.abs(jump) > 1e-5 * (1 + np.abs(y).max())
    assert np.all(np.abs(g[:-1][big] - lam * np.sign(jump[big])) <= tol)


def test_tv_denoise_matches_cpu(lib):
    from csc.backends.cpu.amplitude import tv_denoise

    rng = np.random.default_rng(3)
    cases = 0
    for y, lam in _tv_signals(rng):
        n = len(y)
        want = np.empty(n)
        tv_denoise(y.astype(np.float64), want, n, np.float32(lam).item())
        got = hb.host_tv_denoise(y, np.empty_like(y), n, lam, lib=lib)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * (1 + np.abs(y).max()))
        _assert_tv_optimal(got, y, np.float32(lam).item())
        cases += 1
    assert cases == 105


@pytest.mark.parametrize("stride", [1, 3, 40])
def test_tv_denoise_strided_and_in_place(lib, stride):
    rng = np.random.default_rng(4)
    for y, lam in _tv_signals(rng):
        n = len(y)
        want = hb.host_tv_denoise(y, np.empty_like(y), n, lam, lib=lib)
        # NaN everywhere outside the chain: a stray read would poison the result, and the
        # elements between the chain's must stay untouched
        buf = np.full(n * stride + stride, np.nan, np.float32)
        buf[: n * stride : stride] = y
        out = np.full_like(buf, -7.0)
        hb.host_tv_denoise(buf, out, n, lam, stride, lib=lib)
        np.testing.assert_array_equal(out[: n * stride : stride], want)
        mask = np.ones(buf.size, bool)
        mask[: n * stride : stride] = False
        assert np.all(out[mask] == -7.0)
        hb.host_tv_denoise(buf, buf, n, lam, stride, lib=lib)  # in place
        np.testing.assert_array_equal(buf[: n * stride : stride], want)
        assert np.all(np.isnan(buf[mask]))


# ------------------------------------------------------------------------------------------------
# code step vs the Numba kernels

SIZES = [(1, 1, 1), (3, 5, 7), (4, 16, 40), (2, 33, 65)]  # (n_seq, n_frames, K)
PRIORS = [(L1, NONE), (L1, L2), (CAUCHY, NONE), (CAUCHY, L2), (GAUSS, NONE), (GAUSS, L2),
          (L1, TV)]
PRIOR_IDS = ["l1", "l1+l2", "cauchy", "cauchy+l2", "gauss", "gauss+l2", "l1+tv"]
# sigma = 0.1 puts ~30% of the Cauchy codes in the three-root regime (two candidate minima)
PARAMS = dict(tau=0.3, beta=0.7, lam=0.5, sigma=0.1, kappa=0.8)


def _codes(rng, n_seq, n_frames, K):
    N = n_seq * n_frames
    Y, G, X_old = (rng.standard_normal((N, 2 * K)).astype(np.float32) for _ in range(3))
    # exact zeros: a zero amplitude of Y (l2 gradient direction) and a zero gradient step (r = 0)
    for _ in range(max(1, N * K // 20)):
        n, k = rng.integers(N), rng.integers(K)
        Y[n, [k, K + k]] = 0.0
        if rng.random() < 0.5:
            G[n, [k, K + k]] = 0.0
    return Y, G, X_old


def _run_host(lib, Y, G, X_old, n_frames, sparsity, slowness, block, p=PARAMS, out=None):
    N, K2 = Y.shape
    K, n_seq = K2 // 2, N // n_frames
    X_new, Y_new = out if out is not None else (np.full_like(Y, np.nan), np.full_like(Y, np.nan))
    partials = np.full((n_seq * K, 4), np.nan)
    if slowness == TV:
        scratch = [np.full((N, K), np.nan, np.float32) for _ in range(2)]
        hb.host_code_step_chain(Y, G, X_old, X_new, Y_new, *scratch, n_frames, p["tau"],
                                p["beta"], p["lam"], p["kappa"], partials, block=block, lib=lib)
    else:
        hb.host_code_step_pointwise(Y, G, X_old, X_new, Y_new, n_frames, p["tau"], p["beta"],
                                    p["lam"], p["sigma"], p["kappa"], sparsity, slowness,
                                    partials, block=block, lib=lib)
    return X_new, Y_new, partials.reshape(n_seq, K, 4).sum(axis=1)


def _run_cpu(Y, G, X_old, n_frames, sparsity, slowness, p=PARAMS):
    from csc.backends.cpu import fused

    X_new, Y_new = np.empty_like(Y), np.empty_like(Y)
    partials = np.empty((Y.shape[0] // n_frames, 4))
    fused.code_step(Y, G, X_old, X_new, Y_new, n_frames, p["tau"], p["beta"], p["lam"],
                    p["sigma"], p["kappa"], sparsity, slowness, partials)
    return X_new, Y_new, partials


def _mismatched_codes(a, b, K):
    bad = ~np.isclose(a, b, rtol=RTOL, atol=ATOL)
    return bad[:, :K] | bad[:, K:]


def _assert_cauchy_near_ties(X_gpu, X_cpu, bad, K, p):
    """Codes whose Cauchy amplitude differs must be (near-)ties between two local minima."""
    t, sigma = p["tau"] * p["lam"], p["sigma"]
    a_gpu = np.hypot(X_gpu[:, :K], X_gpu[:, K:])[bad].astype(np.float64)
    a_cpu = np.hypot(X_cpu[:, :K], X_cpu[:, K:])[bad].astype(np.float64)
    # both are stationary points for the same r (up to float32): r = s + 2ts/(σ² + s²)
    r = a_cpu + 2 * t * a_cpu / (sigma**2 + a_cpu**2)
    gap = np.abs(_cauchy_objective(a_gpu, r, t, sigma) - _cauchy_objective(a_cpu, r, t, sigma))
    assert np.all(gap <= 1e-5 * (1 + r * r)), gap


@pytest.mark.parametrize("block", [32, 128])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("prior", PRIORS, ids=PRIOR_IDS)
def test_code_step_matches_cpu(lib, prior, size, block):
    sparsity, slowness = prior
    n_seq, n_frames, K = size
    rng = np.random.default_rng([sparsity, slowness, *size])
    Y, G, X_old = _codes(rng, n_seq, n_frames, K)
    X_gpu, Y_gpu, P_gpu = _run_host(lib, Y, G, X_old, n_frames, sparsity, slowness, block)
    X_cpu, Y_cpu, P_cpu = _run_cpu(Y, G, X_old, n_frames, sparsity, slowness)
    assert np.isfinite(X_gpu).all() and np.isfinite(Y_gpu).all() and np.isfinite(P_gpu).all()

    bad = _mismatched_codes(X_gpu, X_cpu, K) | _mismatched_codes(Y_gpu, Y_cpu, K)
    if sparsity == CAUCHY and bad.any():
        assert bad.mean() < 1e-3
        _assert_cauchy_near_ties(X_gpu, X_cpu, bad, K, PARAMS)
        keep = np.concatenate([~bad, ~bad], axis=1)
        X_gpu, X_cpu, Y_gpu, Y_cpu = X_gpu[keep], X_cpu[keep], Y_gpu[keep], Y_cpu[keep]
        ptol = 1e-3
    else:
        ptol = RTOL
    np.testing.assert_allclose(X_gpu, X_cpu, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(Y_gpu, Y_cpu, rtol=RTOL, atol=ATOL)
    if slowness == NONE:
        assert np.all(P_gpu[:, 1] == 0.0)
    np.testing.assert_allclose(P_gpu, P_cpu, rtol=ptol, atol=1e-9)


@pytest.mark.parametrize("slowness", [NONE, L2], ids=["none", "l2"])
def test_gauss_code_step_against_closed_form(lib, slowness):
    """Gauss prox and energy from first principles, on both sides: with no slowness X_new is
    (Y − τG)/(1 + τλ); with either, the sparse partial is (λ/2) Σ |x_new|² per sequence."""
    n_seq, n_frames, K = 3, 6, 10
    rng = np.random.default_rng(9)
    Y, G, X_old = _codes(rng, n_seq, n_frames, K)
    p = PARAMS
    runs = [_run_host(lib, Y, G, X_old, n_frames, GAUSS, slowness, 32),
            _run_cpu(Y, G, X_old, n_frames, GAUSS, slowness)]
    for X_new, _, partials in runs:
        x = X_new.astype(np.float64)
        sparse = 0.5 * p["lam"] * (x**2).reshape(n_seq, -1).sum(axis=1)
        np.testing.assert_allclose(partials[:, 0], sparse, rtol=1e-5)
        if slowness == NONE:
            step = Y.astype(np.float64) - p["tau"] * G.astype(np.float64)
            np.testing.assert_allclose(x, step / (1 + p["tau"] * p["lam"]), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("prior", PRIORS, ids=PRIOR_IDS)
def test_code_step_in_place(lib, prior):
    """Y_new may overwrite Y and X_new X_old: each thread reads its chain before writing it."""
    sparsity, slowness = prior
    rng = np.random.default_rng(5)
    Y, G, X_old = _codes(rng, 3, 9, 11)
    want = _run_host(lib, Y, G, X_old, 9, sparsity, slowness, 32)
    Y2, X2 = Y.copy(), X_old.copy()
    got = _run_host(lib, Y2, G, X2, 9, sparsity, slowness, 32, out=(X2, Y2))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_code_step_wrappers_check_arguments(lib):
    Y = np.zeros((6, 8), np.float32)
    P = np.zeros((3 * 4, 4))
    ok = [Y, Y.copy(), Y.copy(), Y.copy(), Y.copy()]
    args = (2, 0.1, 0.5, 0.1, 0.4, 0.5, L1, NONE, P)
    hb.host_code_step_pointwise(*ok, *args, lib=lib)
    with pytest.raises(ValueError, match="dtype"):
        hb.host_code_step_pointwise(Y.astype(np.float64), *ok[1:], *args, lib=lib)
    with pytest.raises(ValueError, match="contiguous"):
        hb.host_code_step_pointwise(*ok[:3], np.zeros((8, 6), np.float32).T, ok[4], *args,
                                    lib=lib)
    with pytest.raises(ValueError, match="partials"):
        hb.host_code_step_pointwise(*ok, *args[:-1], np.zeros((3, 4)), lib=lib)
    with pytest.raises(ValueError, match="multiple of n_frames"):
        hb.host_code_step_pointwise(*ok, 4, *args[1:], lib=lib)
    with pytest.raises(ValueError, match="slowness"):
        hb.host_code_step_pointwise(*ok, *args[:7], TV, P, lib=lib)
    hb.host_code_step_pointwise(*ok, *args[:6], GAUSS, L2, P, lib=lib)
    with pytest.raises(ValueError, match="sparsity"):
        hb.host_code_step_pointwise(*ok, *args[:6], max(L1, CAUCHY, GAUSS) + 1, NONE, P, lib=lib)


# ------------------------------------------------------------------------------------------------
# recon step and patch sampling vs NumPy

@pytest.mark.parametrize("N, M, rows_per_tile, block",
                         [(37, 23, 8, 32), (37, 23, 64, 128), (5, 3, 1, 32), (130, 70, 16, 128)])
def test_recon_step_matches_numpy(lib, N, M, rows_per_tile, block):
    rng = np.random.default_rng(N * M)
    X, R_new, R_old = (rng.standard_normal((N, M)).astype(np.float32) for _ in range(3))
    w = rng.uniform(0.5, 2.0, M).astype(np.float32)
    beta = 0.6
    n_tiles = -(-N // rows_per_tile)
    E_y = np.full_like(X, np.nan)
    col = np.full((n_tiles, M), np.nan)
    hb.host_recon_step(X, R_new, R_old, w, beta, E_y, col, rows_per_tile, block=block, lib=lib)

    x, rn, ro, w64 = (a.astype(np.float64) for a in (X, R_new, R_old, w))
    np.testing.assert_allclose(E_y, w64 * (rn + beta * (rn - ro) - x), rtol=RTOL, atol=ATOL)
    tiles = np.add.reduceat(0.5 * w64 * (x - rn) ** 2, np.arange(0, N, rows_per_tile), axis=0)
    np.testing.assert_allclose(col, tiles, rtol=1e-6)
    np.testing.assert_allclose(col.sum(), 0.5 * np.sum(w64 * (x - rn) ** 2), rtol=1e-6)

    from csc.backends.cpu import fused

    E_cpu, rows = np.empty_like(X), np.empty(N)
    fused.recon_step(X, R_new, R_old, w, np.float32(beta), E_cpu, rows)
    np.testing.assert_allclose(E_y, E_cpu, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(col.sum(), rows.sum(), rtol=1e-6)


@pytest.mark.parametrize("block", [32, 128])
def test_sample_patches_matches_numpy(lib, block):
    rng = np.random.default_rng(6)
    shapes = [(9, 20, 31), (12, 17, 17), (7, 40, 25)]  # (T_c, H_c, W_c)
    clips = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    frames = np.concatenate([c.ravel() for c in clips])
    clip_offset = np.cumsum([0] + [c.size for c in clips[:-1]]).astype(np.int64)
    clip_h = np.array([s[1] for s in shapes], np.int32)
    clip_w = np.array([s[2] for s in shapes], np.int32)
    n_seq, n_frames, patch = 11, 5, 7
    which = rng.integers(0, len(clips), n_seq).astype(np.int32)
    t0, y0, x0 = (np.array([rng.integers(0, shapes[c][d] - size + 1) for c in which], np.int32)
                  for d, size in ((0, n_frames), (1, patch), (2, patch)))
    out = np.full((n_seq, n_frames, patch, patch), np.nan, np.float32)
    hb.host_sample_patches(frames, clip_offset, clip_h, clip_w, which, t0, y0, x0, out,
                           block=block, lib=lib)
    want = np.stack([clips[c][t: t + n_frames, y: y + patch, x: x + patch]
                     for c, t, y, x in zip(which, t0, y0, x0)])
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match="dtype"):
        hb.host_sample_patches(frames, clip_offset.astype(np.int32), clip_h, clip_w, which, t0,
                               y0, x0, out, lib=lib)
    bad_x0 = x0.copy()
    bad_x0[0] = clip_w[which[0]] - patch + 1
    with pytest.raises(ValueError, match="outside"):
        hb.host_sample_patches(frames, clip_offset, clip_h, clip_w, which, t0, y0, bad_x0, out,
                               lib=lib)


def test_launch_math_is_exact_for_ragged_grids(lib):
    """Many more threads than chains (and blocks of 1): guards keep the extra threads idle."""
    rng = np.random.default_rng(7)
    Y, G, X_old = _codes(rng, 2, 3, 5)
    ref = _run_host(lib, Y, G, X_old, 3, CAUCHY, L2, 128)
    for block in (1, 7, 1024):
        got = _run_host(lib, Y, G, X_old, 3, CAUCHY, L2, block)
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a, b)
    assert math.isfinite(ref[2].sum())
