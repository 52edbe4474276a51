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

import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import toolchain_missing

from csc.backends.cuda import launcher
from csc.priors import SLOW_L1, SLOW_L2, SLOW_NONE, SPARSE_CAUCHY, SPARSE_GAUSS, SPARSE_L1
from csc.resources import kernels_dir
from csc.testing import host_kernels as hb

if not hb.nvcc_available():
    toolchain_missing("nvcc (CUDA toolkit) not found: the CUDA kernels cannot be compiled here")

KERNELS = tuple(launcher.KERNELS)
L1, CAUCHY, GAUSS = SPARSE_L1, SPARSE_CAUCHY, SPARSE_GAUSS
NONE, L2, TV = SLOW_NONE, SLOW_L2, SLOW_L1
# Measured by scripts/host_arithmetic.py (code step, every prior, four sizes): the device-like
# build changes 30-38% of the outputs against the exact build, and both stay within 8.5e-7 of
# Numba (|diff| / max(1, |x|)); 1e-5 leaves a margin of 12x.
RTOL = ATOL = 1e-5


# The host builds compared with the references: IEEE arithmetic, and the device's (FMA contraction,
# float32 flush-to-zero). Under CSC_HOST_KERNELS=sanitized (test_sanitizers.py) only that build.
VARIANTS = ["sanitized"] if os.environ.get("CSC_HOST_KERNELS") == "sanitized" else ["exact",
                                                                                    "device"]


@pytest.fixture(scope="session", params=VARIANTS)
def lib(request, tmp_path_factory):
    if request.param == "sanitized":  # built by the parent in $CSC_KERNEL_CACHE
        return hb.default_library()
    return hb.build_host_library(tmp_path_factory.mktemp("csc_kernels"), request.param)


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


@pytest.mark.toolchain
def test_host_library_is_cached(lib, monkeypatch):
    out_dir = Path(lib._name).parent
    assert [p.name for p in out_dir.iterdir()] == [Path(lib._name).name]  # no temporaries left
    assert hb.build_host_library(out_dir, lib.csc_host_variant) is lib

    def no_nvcc(args):
        raise AssertionError("recompiled although the sources did not change")

    monkeypatch.setattr(hb, "_run_nvcc", no_nvcc)
    monkeypatch.setattr(hb, "_LOADED", {})
    reloaded = hb.build_host_library(out_dir, lib.csc_host_variant)  # from the file on disk
    assert reloaded.csc_tv_denoise_host.argtypes == lib.csc_tv_denoise_host.argtypes


def _params(decl: str) -> list[str]:
    return [" ".join(p.split()) for p in decl.split(",")]


def test_host_entry_points_mirror_the_kernels():
    """<name>_host(int grid, int block, ...) takes exactly the kernel's parameters, and the ctypes
    declarations have the right arity."""
    src = (kernels_dir() / "fused.cu").read_text()
    for name in KERNELS:
        kernel = re.search(rf'extern "C" __global__ void (?:__launch_bounds__\(\w+\) )?{name}\('
                           r'([^)]*)\)', src)
        host = re.search(rf'extern "C" void {name}_host\(([^)]*)\)', src)
        assert kernel and host, name
        assert _params(host.group(1)) == ["int grid", "int block", *_params(kernel.group(1))]


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


@pytest.fixture
def gpu_ops(lib, monkeypatch):
    """csc.backends.cuda.ops with its launches run by the kernels' host twins (NumPy arrays)."""
    from csc.backends.cuda import ops

    launcher = hb.host_launcher(lib)
    monkeypatch.setattr(ops, "get_launcher", lambda: launcher)
    return ops


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


def _run(ops, Y, G, X_old, n_frames, sparsity, slowness, p=PARAMS, out=None, plan=None):
    """ops.code_step (GPU kernels on the host, or the CPU's Numba passes); returns X_new, Y_new
    and the column totals of the partials [sparse, slowness, ‖Δx‖², ‖x‖²]."""
    N, K2 = Y.shape
    X_new, Y_new = out if out is not None else (np.full_like(Y, np.nan), np.full_like(Y, np.nan))
    partials = np.full(ops.code_partials_shape(N // n_frames, n_frames, K2 // 2, slowness),
                       np.nan)
    ops.code_step(Y, G, X_old, X_new, Y_new, n_frames, p["tau"], p["beta"], p["lam"],
                  p["sigma"], p["kappa"], sparsity, slowness, partials, plan=plan)
    return X_new, Y_new, partials.sum(axis=0)


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


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("prior", PRIORS, ids=PRIOR_IDS)
def test_code_step_matches_cpu(gpu_ops, prior, size):
    from csc.backends.cpu import fused

    sparsity, slowness = prior
    n_seq, n_frames, K = size
    rng = np.random.default_rng([sparsity, slowness, *size])
    Y, G, X_old = _codes(rng, n_seq, n_frames, K)
    X_gpu, Y_gpu, P_gpu = _run(gpu_ops, Y, G, X_old, n_frames, sparsity, slowness)
    X_cpu, Y_cpu, P_cpu = _run(fused, Y, G, X_old, n_frames, sparsity, slowness)
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
        assert P_gpu[1] == 0.0
    np.testing.assert_allclose(P_gpu, P_cpu, rtol=ptol, atol=1e-9)


@pytest.mark.parametrize("anchored", [True, False], ids=["anchor", "first frame"])
@pytest.mark.parametrize("prior", PRIORS, ids=PRIOR_IDS)
def test_anchored_step_matches_cpu(gpu_ops, prior, anchored):
    """The causal step (`ops.anchored_step`): the GPU's array code around the pointwise kernel
    against the CPU's Numba pass, with previous amplitudes (some zero) or none (frame 0)."""
    from csc.backends.cpu import fused

    sparsity, slowness = prior
    N, K = 37, 33
    rng = np.random.default_rng([sparsity, slowness, anchored])
    Y, G, X_old = _codes(rng, N, 1, K)
    anchor = None
    if anchored:
        anchor = np.abs(rng.standard_normal((N, K))).astype(np.float32)
        anchor[rng.random((N, K)) < 0.3] = 0.0
    p = PARAMS
    outs = []
    for ops in (gpu_ops, fused):
        X_new, Y_new = np.full_like(Y, np.nan), np.full_like(Y, np.nan)
        ops.anchored_step(Y, G, anchor, X_old, X_new, Y_new, p["tau"], p["beta"], p["lam"],
                          p["sigma"], p["kappa"], sparsity, slowness)
        outs.append((X_new, Y_new))
    (X_gpu, Y_gpu), (X_cpu, Y_cpu) = outs
    assert np.isfinite(X_gpu).all() and np.isfinite(Y_gpu).all()
    bad = _mismatched_codes(X_gpu, X_cpu, K) | _mismatched_codes(Y_gpu, Y_cpu, K)
    if sparsity == CAUCHY and bad.any():  # near-ties between two minima, as in the code step
        assert bad.mean() < 1e-2
        keep = np.concatenate([~bad, ~bad], axis=1)
        X_gpu, X_cpu, Y_gpu, Y_cpu = X_gpu[keep], X_cpu[keep], Y_gpu[keep], Y_cpu[keep]
    np.testing.assert_allclose(X_gpu, X_cpu, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(Y_gpu, Y_cpu, rtol=RTOL, atol=ATOL)
    assert np.any(X_cpu != 0)


@pytest.mark.parametrize("slowness", [NONE, L2], ids=["none", "l2"])
def test_gauss_code_step_against_closed_form(gpu_ops, slowness):
    """Gauss prox and energy from first principles, on both sides: with no slowness X_new is
    (Y − τG)/(1 + τλ); with either, the sparse partial is (λ/2) Σ |x_new|²."""
    from csc.backends.cpu import fused

    n_seq, n_frames, K = 3, 6, 10
    rng = np.random.default_rng(9)
    Y, G, X_old = _codes(rng, n_seq, n_frames, K)
    p = PARAMS
    for ops in (gpu_ops, fused):
        X_new, _, partials = _run(ops, Y, G, X_old, n_frames, GAUSS, slowness)
        x = X_new.astype(np.float64)
        np.testing.assert_allclose(partials[0], 0.5 * p["lam"] * (x**2).sum(), rtol=1e-5)
        if slowness == NONE:
            step = Y.astype(np.float64) - p["tau"] * G.astype(np.float64)
            np.testing.assert_allclose(x, step / (1 + p["tau"] * p["lam"]), rtol=RTOL, atol=ATOL)


def test_l2_slowness_energy_across_tiles(gpu_ops):
    """The l2 slowness energy pairs s_t with s_{t−1}: inside a tile from shared memory, at a
    tile's first frame by recomputing s_{t−1}. Against ½κ Σ (|x_t| − |x_{t−1}|)² of the output,
    with frames spanning several tiles and units several tiles."""
    n_seq, n_frames, K = 2, 21, 40
    Y, G, X_old = _codes(np.random.default_rng(3), n_seq, n_frames, K)
    for sparsity in (L1, CAUCHY, GAUSS):
        X_new, _, partials = _run(gpu_ops, Y, G, X_old, n_frames, sparsity, L2)
        a = np.hypot(X_new[:, :K], X_new[:, K:]).astype(np.float64).reshape(n_seq, n_frames, K)
        want = 0.5 * PARAMS["kappa"] * (np.diff(a, axis=1) ** 2).sum()
        np.testing.assert_allclose(partials[1], want, rtol=1e-5)


@pytest.mark.parametrize("prior", PRIORS, ids=PRIOR_IDS)
def test_code_step_in_place(gpu_ops, prior):
    """X_new may overwrite X_old, and Y_new Y (or G) except with l2 slowness: each thread reads
    the codes it writes before writing them, and no other thread reads them, except the l2
    threads, which read Y and G at neighbouring frames: there aliasing is refused."""
    sparsity, slowness = prior
    rng = np.random.default_rng(5)
    Y, G, X_old = _codes(rng, 3, 9, 11)
    want = _run(gpu_ops, Y, G, X_old, 9, sparsity, slowness)
    Y2, X2 = Y.copy(), X_old.copy()
    if slowness == L2:
        with pytest.raises(ValueError, match="must not share memory"):
            _run(gpu_ops, Y2, G, X2, 9, sparsity, slowness, out=(X2, Y2))
        with pytest.raises(ValueError, match="must not share memory"):
            _run(gpu_ops, Y2, Y2, X2, 9, sparsity, slowness, out=(X2, Y2))
        got = _run(gpu_ops, Y2, G, X2, 9, sparsity, slowness, out=(X2, np.empty_like(Y)))
    else:
        got = _run(gpu_ops, Y2, G, X2, 9, sparsity, slowness, out=(X2, Y2))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_long_chains_stage_in_global_memory(gpu_ops, monkeypatch):
    """Chains too long for shared memory stage in a global array: the same results."""
    from csc.backends.cuda import launcher

    n_frames = 70
    assert not launcher.chain_stages_in_shared(n_frames) and launcher.chain_stages_in_shared(16)
    Y, G, X_old = _codes(np.random.default_rng(8), 3, n_frames, 9)
    got = _run(gpu_ops, Y, G, X_old, n_frames, L1, TV)
    monkeypatch.setattr(launcher, "chain_stages_in_shared", lambda n: True)
    monkeypatch.setattr(launcher, "MAX_SHARED_BYTES", 1 << 20)  # the host has room
    want = _run(gpu_ops, Y, G, X_old, n_frames, L1, TV)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_prepared_launches_are_reused_and_rebound(gpu_ops):
    """Within a plan a launch is validated once per set of arrays; later calls only rebind the
    floats, and give what a fresh launch gives."""
    rng = np.random.default_rng(4)
    Y, G, X_old = _codes(rng, 2, 8, 12)
    plan: dict = {}
    _run(gpu_ops, Y, G, X_old, 8, CAUCHY, L2, plan=plan)
    prepared = {k: v for k, v in plan.items() if isinstance(k, tuple)}
    p2 = {**PARAMS, "tau": 0.2, "beta": 0.1}
    out = (np.empty_like(Y), np.empty_like(Y))
    got = _run(gpu_ops, Y, G, X_old, 8, CAUCHY, L2, p=p2, out=out, plan=plan)
    assert {k: v for k, v in plan.items() if isinstance(k, tuple)}.keys() != prepared.keys()
    again = _run(gpu_ops, Y, G, X_old, 8, CAUCHY, L2, p=p2, out=out, plan=plan)
    fresh = _run(gpu_ops, Y, G, X_old, 8, CAUCHY, L2, p=p2)
    for a, b, c in zip(got, again, fresh):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


def test_code_step_checks_arguments(gpu_ops):
    Y = np.zeros((6, 8), np.float32)
    ok = [Y, Y.copy(), Y.copy(), Y.copy(), Y.copy()]
    P = np.zeros(gpu_ops.code_partials_shape(3, 2, 4, NONE))
    args = (2, 0.1, 0.5, 0.1, 0.4, 0.5, L1, NONE)
    gpu_ops.code_step(*ok, *args, P)
    with pytest.raises(TypeError, match="float32"):
        gpu_ops.code_step(Y.astype(np.float64), *ok[1:], *args, P)
    with pytest.raises(TypeError, match="contiguous"):
        gpu_ops.code_step(*ok[:3], np.zeros((8, 6), np.float32).T, ok[4], *args, P)
    with pytest.raises(ValueError, match="partials"):
        gpu_ops.code_step(*ok, *args, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="whole number"):
        gpu_ops.code_step(*ok, 4, *args[1:], P)


# ------------------------------------------------------------------------------------------------
# recon step, iteration sums and patch sampling vs NumPy

@pytest.mark.parametrize("N, M", [(37, 23), (5, 3), (130, 70), (3000, 50)])
def test_recon_step_and_sums_match_numpy(gpu_ops, N, M):
    from csc.backends.cpu import fused

    rng = np.random.default_rng(N * M)
    X, R_new, R_old = (rng.standard_normal((N, M)).astype(np.float32) for _ in range(3))
    w = rng.uniform(0.5, 2.0, M).astype(np.float32)
    beta = 0.6
    E_y = np.full_like(X, np.nan)
    partials = np.full(gpu_ops.recon_partials_shape(N, M), np.nan)
    gpu_ops.recon_step(X, R_new, R_old, w, beta, E_y, partials)

    x, rn, ro, w64 = (a.astype(np.float64) for a in (X, R_new, R_old, w))
    np.testing.assert_allclose(E_y, w64 * (rn + beta * (rn - ro) - x), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(partials.sum(), 0.5 * np.sum(w64 * (x - rn) ** 2), rtol=1e-6)

    E_cpu, rows = np.empty_like(X), np.empty(N)
    fused.recon_step(X, R_new, R_old, w, np.float32(beta), E_cpu, rows)
    np.testing.assert_allclose(E_y, E_cpu, rtol=RTOL, atol=ATOL)

    # the fused reduction, against NumPy sums of random partials (code partials: several rows)
    code = rng.standard_normal((513, 4))
    sums, want = np.full(3, np.nan), np.empty(3)
    gpu_ops.iteration_sums(code, partials, sums)
    fused.iteration_sums(code, partials, want)
    np.testing.assert_allclose(sums, want, rtol=1e-12)
    np.testing.assert_allclose(
        sums, [partials.sum() + code[:, :2].sum(), *code[:, 2:].sum(axis=0)], rtol=1e-12)
    gpu_ops.iteration_sums(None, partials, sums)
    assert sums[1] == sums[2] == 0.0
    np.testing.assert_allclose(sums[0], rows.sum(), rtol=1e-6)


def test_sample_patches_matches_numpy(gpu_ops):
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
    out = gpu_ops.sample_patches(frames, clip_offset, clip_h, clip_w, which, t0, y0, x0,
                                 n_frames, patch)
    want = np.stack([clips[c][t: t + n_frames, y: y + patch, x: x + patch]
                     for c, t, y, x in zip(which, t0, y0, x0)])
    np.testing.assert_array_equal(out, want)
    with pytest.raises(TypeError, match="int64"):
        gpu_ops.sample_patches(frames, clip_offset.astype(np.int32), clip_h, clip_w, which, t0,
                               y0, x0, n_frames, patch)
    bad_x0 = x0.copy()
    bad_x0[0] = clip_w[which[0]] - patch + 1
    with pytest.raises(ValueError, match="past its clip"):
        gpu_ops.sample_patches(frames, clip_offset, clip_h, clip_w, which, t0, y0, bad_x0,
                               n_frames, patch)


def test_host_twins_refuse_what_the_device_would_misread(lib):
    """The host twin takes what CuPy would pass correctly: NumPy scalars of the parameter's
    exact type (a Python float would reach a CUDA `float` as a double)."""
    f = hb.host_function("csc_iteration_sums", lib)
    out = np.zeros(3)
    f((1,), (256,), (np.zeros((0, 4)), np.int32(0), np.ones(2), np.int32(2), out))
    assert out[0] == 2.0
    with pytest.raises(TypeError, match="n_code"):
        f((1,), (256,), (np.zeros((0, 4)), 0, np.ones(2), np.int32(2), out))
    with pytest.raises(ValueError, match="dtype"):
        f((1,), (256,), (np.zeros((0, 4), np.float32), np.int32(0), np.ones(2), np.int32(2), out))


@pytest.mark.toolchain
def test_device_build_has_device_arithmetic(tmp_path_factory):
    """The "device" host build is not the exact one: float32 denormals are flushed (as with
    CuPy's -ftz=true) and a·b + c is contracted (a third of the code-step outputs change), yet
    its results stay within the tolerances' measured margin of Numba."""
    from csc.backends.cpu import fused
    from csc.backends.cuda import ops

    out = tmp_path_factory.mktemp("variants")
    builds = {v: hb.build_host_library(out, v) for v in ("exact", "device")}
    tiny = np.float32(1e-39)  # a float32 denormal
    assert hb.host_soft_amplitude(tiny, 0.0, lib=builds["exact"])[()] == tiny
    got = np.empty(1, np.float32)
    hb.call_in_device_arithmetic(builds["device"], builds["device"].csc_soft_amplitude_array_host,
                                 *(hb._ptr(n, a, np.float32) for n, a in
                                   (("r", np.array([tiny])), ("t", np.zeros(1, np.float32)),
                                    ("out", got))), 1)
    assert got[0] == 0.0
    assert np.float32(1e-38) / np.float32(100) > 0  # the mode was restored: NumPy keeps denormals

    Y, G, X_old = _codes(np.random.default_rng(2), 4, 16, 40)
    runs = {}
    for variant, lib in builds.items():
        launcher = hb.host_launcher(lib)
        ops_get = ops.get_launcher
        ops.get_launcher = lambda: launcher  # noqa: B023
        try:
            runs[variant] = _run(ops, Y, G, X_old, 16, CAUCHY, L2)
        finally:
            ops.get_launcher = ops_get
    cpu = _run(fused, Y, G, X_old, 16, CAUCHY, L2)
    assert np.mean(runs["exact"][0] != runs["device"][0]) > 0.1
    for variant in builds:
        np.testing.assert_allclose(runs[variant][0], cpu[0], rtol=RTOL / 10, atol=ATOL / 10)


@pytest.mark.parametrize("case", ["lam0", "kappa0", "ties", "empty", "one_frame"])
@pytest.mark.parametrize("prior", PRIORS, ids=PRIOR_IDS)
def test_edge_cases_match_cpu(gpu_ops, prior, case):
    """λ = 0, κ = 0, ties (constant chains: equal magnitudes in every frame, the TV denoiser's
    flat runs), no sequences, one frame: the kernels agree with the CPU (and run clean under the
    sanitizers, test_sanitizers.py)."""
    from csc.backends.cpu import fused

    sparsity, slowness = prior
    n_seq, n_frames, K = {"empty": (0, 4, 5), "one_frame": (5, 1, 33)}.get(case, (3, 12, 37))
    Y, G, X_old = _codes(np.random.default_rng(11), n_seq, n_frames, K) if n_seq else (
        np.zeros((0, 2 * K), np.float32),) * 3
    if case == "ties":
        Y = np.tile(Y[:1], (len(Y), 1))
        G = np.zeros_like(Y)
    p = {**PARAMS, "lam": 0.0} if case == "lam0" else (
        {**PARAMS, "kappa": 0.0} if case == "kappa0" else PARAMS)
    got = _run(gpu_ops, Y, G, X_old, n_frames, sparsity, slowness, p=p)
    want = _run(fused, Y, G, X_old, n_frames, sparsity, slowness, p=p)
    for a, b in zip(got, want):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
