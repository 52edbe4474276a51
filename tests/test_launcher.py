"""The typed kernel launcher and the GPU ops' marshalling, without a GPU.

- A fake function lookup records launches: conversions, every rejection path, grid sizes.
- The declared signatures are compared with kernels/fused.cu.
- csc.backends.cuda.ops runs end to end on NumPy arrays through the kernels' host emulation
  (`<name>_host(grid, block, ...)`, built with nvcc as a shared library) and is compared with
  csc.backends.cpu.fused and with CPU `encode`.
"""
import numpy as np
import pytest
from conftest import toolchain_missing

import csc
from csc.backends.backend import Backend
from csc.backends.cuda import launcher as L
from csc.backends.cuda import ops, signatures, source
from csc.backends.cuda.launcher import KERNELS, Arg, Launcher, Signature, check_source
from csc.core import inference
from csc.resources import kernels_dir

FUSED_CU = kernels_dir() / "fused.cu"
PW = "csc_code_step_cauchy_l2"


class FakeLookup:
    """function_lookup recording (name, grid, block, args) per launch and lookups per name."""

    def __init__(self, effects=None):
        self.launches = []
        self.shared = []
        self.lookups = []
        self.effects = effects or {}

    def __call__(self, name):
        self.lookups.append(name)

        def f(grid, block, args, shared_mem=0):
            self.launches.append((name, grid, block, args))
            self.shared.append(shared_mem)
            if name in self.effects:
                self.effects[name](args)

        return f


def pointwise_kwargs(n_seq=3, n_frames=4, K=43, **over):
    N = n_seq * n_frames
    z = lambda: np.zeros((N, 2 * K), np.float32)  # noqa: E731
    kw = dict(Y=z(), G=z(), X_old=z(), X_new=z(), Y_new=z(), n_seq=n_seq, n_frames=n_frames, K=K,
              tau=0.5, beta=0.25, lam=0.1, sigma=0.4, kappa=0.0,
              partials=np.zeros((L.pointwise_blocks(n_seq, n_frames, K), 4)))
    kw.update(over)
    return kw


# ------------------------------------------------------------------------------------------------
# Conversions and the grid
# ------------------------------------------------------------------------------------------------
def test_scalars_are_converted_to_the_declared_types():
    fake = FakeLookup()
    kw = pointwise_kwargs(tau=np.float64(0.5), beta=1, n_frames=np.int64(4))
    launch = Launcher(fake)("csc_code_step_cauchy_l2", **kw)
    (name, grid, block, args), = fake.launches
    assert name == "csc_code_step_cauchy_l2" and args == launch.args
    sig = KERNELS[name]
    assert len(args) == len(sig.args)
    for arg, value in zip(sig.args, args):
        if arg.is_array:
            assert value is kw[arg.name]
        else:
            assert type(value) is arg.dtype.type, (arg.name, type(value))
    by = dict(zip([a.name for a in sig.args], args))
    assert type(by["tau"]) is np.float32 and by["tau"] == np.float32(0.5)
    assert type(by["beta"]) is np.float32 and by["beta"] == 1.0  # int → float32
    assert type(by["n_frames"]) is np.int32 and by["n_frames"] == 4
    assert type(by["K"]) is np.int32
    # tiles of 32 units × 8 frames: 3 sequences × 1 frame tile × 2 unit tiles
    assert grid == (6,) and block == (256,)


@pytest.mark.parametrize("n_seq, n_frames, K, grid", [
    (1, 1, 1, 1), (2, 8, 32, 2), (1, 9, 33, 4), (5, 16, 128, 40), (7, 3, 65, 21), (0, 4, 8, 0),
])
def test_pointwise_grid_is_one_block_per_tile(n_seq, n_frames, K, grid):
    """One 256-thread block per tile of 32 units × 8 frames of one sequence."""
    fake = FakeLookup()
    launch = Launcher(fake)(PW, **pointwise_kwargs(n_seq, n_frames, K))
    assert launch.grid == (grid,) and launch.block == (256,) and launch.threads == grid * 256


def test_chain_kernel_stages_in_shared_memory_or_global():
    """The chain kernel asks for 3·T floats per thread of dynamic shared memory, or none when
    its chains stage in a global array."""
    fake = FakeLookup()
    n_seq, T, K = 3, 16, 40
    z = lambda: np.zeros((n_seq * T, 2 * K), np.float32)  # noqa: E731
    kw = dict(Y=z(), G=z(), X_old=z(), X_new=z(), Y_new=z(), n_seq=n_seq, n_frames=T, K=K,
              tau=0.5, beta=0.25, lam=0.1, kappa=0.2, partials=np.zeros((2, 4)))
    shared = Launcher(fake)(L.CHAIN_KERNEL, **kw, stage_global=np.zeros(0, np.float32),
                            stage_in_global=0)
    assert shared.grid == (2,) and shared.block == (64,)
    assert shared.shared_mem == fake.shared[-1] == 3 * 4 * T * 64
    staged = Launcher(fake)(L.CHAIN_KERNEL, **kw, stage_in_global=1,
                            stage_global=np.zeros(3 * T * n_seq * K, np.float32))
    assert staged.shared_mem == fake.shared[-1] == 0
    with pytest.raises(ValueError, match="'stage_global' has 0 elements"):
        Launcher(fake)(L.CHAIN_KERNEL, **kw, stage_in_global=1,
                       stage_global=np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="shared memory"):
        T = 80
        z = lambda: np.zeros((n_seq * T, 2 * K), np.float32)  # noqa: E731
        Launcher(fake)(L.CHAIN_KERNEL, **{**kw, "n_frames": T, "Y": z(), "G": z(), "X_old": z(),
                                          "X_new": z(), "Y_new": z()},
                       stage_global=np.zeros(0, np.float32), stage_in_global=0)


def test_rebind_checks_only_what_changes():
    fake = FakeLookup()
    launcher = Launcher(fake)
    kw = pointwise_kwargs()
    launch = launcher.prepare(PW, **kw)
    other = np.ones_like(kw["Y"])
    again = launcher.rebind(launch, tau=0.25, Y=other)
    by = dict(zip([a.name for a in KERNELS[PW].args], again.args))
    assert by["Y"] is other and type(by["tau"]) is np.float32 and by["tau"] == 0.25
    assert again.grid == launch.grid and launch.args[0] is kw["Y"]
    with pytest.raises(ValueError, match="finite"):
        launcher.rebind(launch, tau=float("nan"))
    with pytest.raises(TypeError, match="float32"):
        launcher.rebind(launch, Y=other.astype(np.float64))
    with pytest.raises(ValueError, match="does not match"):
        launcher.rebind(launch, Y=other[:1].copy())
    with pytest.raises(TypeError, match="prepare a new one"):
        launcher.rebind(launch, K=1)
    assert fake.launches == []


def test_recon_and_sampler_thread_counts():
    fake = FakeLookup()
    launch = Launcher(fake)
    N, M, rpt = 1000, 10, 7
    z = np.zeros((N, M), np.float32)
    rec = launch("csc_recon_step", X=z, R_new=z, R_old=z, w=np.ones(M, np.float32), beta=0.0,
                 E_y=z.copy(), partials=np.zeros(6), N=N, M=M, rows_per_tile=rpt)
    assert rec.grid == (6,) and rec.threads == 6 * 256  # 143 tiles × 10 columns = 1430 threads
    i32 = lambda *v: np.array(v, np.int32)  # noqa: E731
    smp = launch("csc_sample_patches", frames=np.zeros(100, np.float32),
                 clip_offset=np.array([0], np.int64), clip_h=i32(10), clip_w=i32(10),
                 which=i32(0, 0, 0), t0=i32(0, 0, 0), y0=i32(0, 0, 0), x0=i32(0, 0, 0),
                 out=np.zeros((3, 1, 5, 5), np.float32), n_sequences=3, n_frames=1, patch=5)
    assert smp.threads == 75 and smp.grid == (1,) and smp.block == (256,)
    assert [c[0] for c in fake.launches] == ["csc_recon_step", "csc_sample_patches"]


def test_zero_threads_skip_the_launch_and_functions_are_looked_up_once():
    fake = FakeLookup()
    launch = Launcher(fake)
    out = launch("csc_code_step_cauchy_l2", **pointwise_kwargs(n_seq=0))
    assert out.threads == 0 and out.grid == (0,) and fake.launches == []
    for _ in range(3):
        launch("csc_code_step_cauchy_l2", **pointwise_kwargs())
    assert fake.lookups == ["csc_code_step_cauchy_l2"] and len(fake.launches) == 3


# ------------------------------------------------------------------------------------------------
# Rejections (and nothing launched)
# ------------------------------------------------------------------------------------------------
def _reject(exc, match, **over):
    fake = FakeLookup()
    with pytest.raises(exc, match=match):
        Launcher(fake)("csc_code_step_cauchy_l2", **{**pointwise_kwargs(), **over})
    assert fake.launches == []


def test_wrong_dtype_message():
    G = np.zeros((12, 86))
    with pytest.raises(TypeError) as e:
        Launcher(FakeLookup())("csc_code_step_cauchy_l2", **pointwise_kwargs(G=G))
    assert str(e.value) == ("csc_code_step_cauchy_l2: argument 'G' must be a C-contiguous float32 "
                            "array, got float64")


@pytest.mark.parametrize("over, match", [
    (dict(Y=np.zeros((86, 12), np.float32).T), "'Y' must be a C-contiguous float32 array, got a "
                                               "non-contiguous"),
    (dict(X_old=[[0.0] * 86] * 12), "'X_old' must be a C-contiguous float32 array, got list"),
    (dict(X_new=np.float32(0)), "'X_new' must be .* got numpy.float32"),
    (dict(partials=np.zeros((6, 4), np.float32)), "'partials' must be a C-contiguous float64"),
    (dict(n_seq=3.0), "'n_seq' must be an integer .* got float"),
    (dict(K=True), "'K' must be an integer .* got bool"),
    (dict(tau=True), "'tau' must be a real number .* got bool"),
    (dict(tau=np.array(0.5)), "'tau' must be a real number .* got numpy.ndarray"),
    (dict(tau=np.ones(1, np.float32)), "'tau' must be a real number"),
    (dict(tau=0.5 + 0j), "'tau' must be a real number .* got complex"),
    (dict(lam="0.1"), "'lam' must be a real number .* got str"),
])
def test_type_rejections(over, match):
    _reject(TypeError, match, **over)


@pytest.mark.parametrize("over, match", [
    (dict(n_frames=2**31), "'n_frames' = 2147483648 does not fit in int32"),
    (dict(n_seq=-1), "'n_seq' must be >= 0, got -1"),
    (dict(n_frames=0), "'n_frames' must be >= 1"),
    (dict(tau=float("nan")), "'tau' must be finite as float32, got nan"),
    (dict(kappa=float("inf")), "'kappa' must be finite"),
    (dict(beta=1e39), "'beta' must be finite as float32"),  # overflows float32
    (dict(Y=np.zeros((12, 84), np.float32)), "'Y' has 1008 elements, expected 1032"),
    (dict(partials=np.zeros((3, 4))), "'partials' has 12 elements, expected 24"),
])
def test_value_rejections(over, match):
    _reject(ValueError, match, **over)


def test_missing_unknown_and_unknown_kernel():
    kw = pointwise_kwargs()
    del kw["sigma"]
    with pytest.raises(TypeError, match=r"missing argument\(s\) \['sigma'\]"):
        Launcher(FakeLookup())("csc_code_step_cauchy_l2", **kw)
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['scratch_r'\]"):
        Launcher(FakeLookup())("csc_code_step_cauchy_l2",
                               **pointwise_kwargs(scratch_r=np.zeros(1, np.float32)))
    with pytest.raises(KeyError, match="unknown kernel"):
        Launcher(FakeLookup())("csc_nope")


def test_array_type_restriction_refuses_host_arrays():
    class DeviceArray(np.ndarray):
        pass

    with pytest.raises(TypeError, match="'Y' must be a device array .*DeviceArray.*got "
                                        "numpy.ndarray"):
        Launcher(FakeLookup(), array_type=DeviceArray)("csc_code_step_cauchy_l2",
                                                       **pointwise_kwargs())


def test_cross_array_sizes_and_bad_launcher_settings():
    i32 = lambda *v: np.array(v, np.int32)  # noqa: E731
    kw = dict(frames=np.zeros(100, np.float32), clip_offset=np.array([0, 50], np.int64),
              clip_h=i32(5), clip_w=i32(10, 5), which=i32(0), t0=i32(0), y0=i32(0), x0=i32(0),
              out=np.zeros(25, np.float32), n_sequences=1, n_frames=1, patch=5)
    with pytest.raises(ValueError, match="'clip_h' has 1 elements, expected 2"):
        Launcher(FakeLookup())("csc_sample_patches", **kw)
    for block in (0, 1025, 128.0, True):
        with pytest.raises(ValueError, match="block"):
            Signature([Arg("a", "int32")], threads=lambda a: 1, block=block)
    with pytest.raises(ValueError, match="unknown type"):
        Arg("x", "float16*")
    with pytest.raises(ValueError, match="scalar can only be an input"):
        Arg("x", "int32", "out")
    with pytest.raises(ValueError, match="duplicate"):
        Signature([Arg("a", "int32"), Arg("a", "int32")], threads=lambda a: 1, block=32)


# ------------------------------------------------------------------------------------------------
# The declared signatures against the CUDA source
# ------------------------------------------------------------------------------------------------
def test_signatures_match_kernels_source():
    source = FUSED_CU.read_text()
    assert check_source(source) == []
    found = signatures.parse_kernel_signatures(source)
    for name, sig in KERNELS.items():
        assert [(p.name, p.ctype) for p in found[name].params] == \
               [(a.name, a.ctype) for a in sig.args]


def test_source_parser_and_mismatch_reports():
    src = """
    // extern "C" __global__ void csc_recon_step(int commented_out) {}
    extern "C" {
    __global__ void __launch_bounds__(128) csc_recon_step(
        const float* __restrict__ X, const float *R_new, const float* R_old,
        const float* w, /* the momentum */ float beta, float* E_y,
        int N, int M, int rows_per_tile, double* partials) { body(); }
    }
    __global__ void csc_sample_patches(void) { }
    extern "C" __global__ void csc_code_step_l1_tv(const float* Y, float* G) { }
    extern "C" __global__ void csc_code_step_cauchy_l2(
        const float* Y, const float* G, const float* X_old, float* X_new, float* Y_new,
        int n_seq, int n_frames, int K, float tau, float beta, float lam, double sigma,
        float kappa, double* partials) { }
    """
    decl = signatures.parse_kernel_signatures(src)
    assert set(decl) == {"csc_recon_step", "csc_sample_patches", "csc_code_step_l1_tv", PW}
    rec = decl["csc_recon_step"]
    assert rec.extern_c and len(rec.params) == 10
    assert rec.params[0] == signatures.Param("float32*", "X", True)
    assert rec.params[4] == signatures.Param("float32", "beta", False)
    assert rec.params[9] == signatures.Param("float64*", "partials", False)
    assert not decl["csc_sample_patches"].extern_c and decl["csc_sample_patches"].params == ()
    problems = "\n".join(check_source(src))
    assert "csc_recon_step" not in problems
    assert "csc_sample_patches: not extern \"C\"" in problems
    assert "csc_code_step_l1_tv: parameters differ" in problems
    assert f"{PW}: parameters differ" in problems and "'float64'" in problems
    # const-ness of inputs
    bad = src.replace("const float *R_new", "float* R_new").replace("float* E_y",
                                                                      "const float* E_y")
    problems = check_source(bad, {"csc_recon_step": KERNELS["csc_recon_step"]})
    assert problems == ["csc_recon_step: parameter 'R_new' should be a const pointer (role 'in')",
                        "csc_recon_step: parameter 'E_y' should be a non-const pointer "
                        "(role 'out')"]
    assert check_source("", {"k": KERNELS["csc_recon_step"]}) == \
        ["k: no __global__ kernel of that name in the source"]


# ------------------------------------------------------------------------------------------------
# csc.backends.cuda.ops marshalling with the fake lookup (NumPy stand-ins for device arrays)
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_ops(monkeypatch):
    """ops with a launcher over a fake lookup (records launches, runs nothing)."""
    fake = FakeLookup()
    launcher = Launcher(fake)
    monkeypatch.setattr(ops, "get_launcher", lambda: launcher)
    return fake


def test_ops_sample_patches_marshalling_and_bounds(fake_ops):
    frames = np.zeros(3 * 6 * 7 + 2 * 4 * 4, np.float32)
    off = np.array([0, 126], np.int64)
    h, w = np.array([6, 4], np.int32), np.array([7, 4], np.int32)
    i32 = lambda *v: np.array(v, np.int32)  # noqa: E731
    out = ops.sample_patches(frames, off, h, w, i32(0, 1), i32(1, 0), i32(3, 1), i32(4, 1), 2, 3)
    assert out.shape == (2, 2, 3, 3) and out.dtype == np.float32
    assert fake_ops.launches[-1][0] == "csc_sample_patches"
    n = len(fake_ops.launches)
    bad = [((i32(0, 2), i32(1, 0), i32(3, 1), i32(4, 1)), "clip index is out of range"),
           ((i32(0, 1), i32(2, 0), i32(3, 1), i32(4, 1)), "past its clip's frames"),
           ((i32(0, 1), i32(1, 0), i32(4, 1), i32(4, 1)), "past its clip's height or width"),
           ((i32(0, 1), i32(1, 0), i32(3, 1), i32(5, 1)), "past its clip's height or width"),
           ((i32(0, 1), i32(-1, 0), i32(3, 1), i32(4, 1)), "negative start"),
           ((i32(0, 1), i32(1, 1), i32(3, 1), i32(4, 1)), "past its clip's frames")]
    for idx, match in bad:
        with pytest.raises(ValueError, match=match):
            ops.sample_patches(frames, off, h, w, *idx, 2, 3)
    with pytest.raises(ValueError, match="not ascending"):
        ops.sample_patches(frames, off[::-1].copy(), h, w, i32(0), i32(0), i32(0), i32(0), 1, 1)
    with pytest.raises(TypeError, match="'t0' must be a C-contiguous int32 array, got int64"):
        ops.sample_patches(frames, off, h, w, i32(0), np.zeros(1, np.int64), i32(0), i32(0), 1, 1)
    assert len(fake_ops.launches) == n


def test_ops_available_and_source(monkeypatch, tmp_path):
    ok, reason = ops.available()
    try:
        import cupy  # noqa: F401
    except Exception:
        assert not ok and "CuPy" in reason
    (tmp_path / "a.cuh").write_text("#pragma once\nint a_value;\n#include \"a.cuh\"\n")
    (tmp_path / "fused.cu").write_text('#include "a.cuh"\n#include <cuda_fp16.h>\nint main;\n')
    monkeypatch.setattr(source, "kernels_dir", lambda: tmp_path)
    src = source.kernel_source()
    assert "int a_value;" in src and "#include <cuda_fp16.h>" in src
    assert '#include "a.cuh"' not in src  # inlined, the self-include dropped
    monkeypatch.setattr(source, "kernels_dir", lambda: tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="reinstall csc"):
        source.kernel_source()


def test_real_source_inlines_amplitude_header():
    src = source.kernel_source()
    assert '#include "amplitude.cuh"' not in src and "csc_cauchy_amplitude" in src
    assert check_source(src) == []


@pytest.mark.toolchain
@pytest.mark.parametrize("arch", source.ARCHES)
def test_module_source_compiles_with_nvrtc(arch):
    """What cupy.RawModule will do on a GPU machine: NVRTC (not nvcc) on ops.kernel_source()
    with the options CuPy passes (source.CUPY_NVRTC_OPTIONS). NVRTC rejects host-only
    functions, unlike nvcc."""
    path = source.find_nvrtc()
    if path is None:
        toolchain_missing("libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12, or set "
                          "CSC_NVRTC_LIB): cannot check that the CuPy module source compiles")
    ok, log, ptx = source.nvrtc_compile(source.kernel_source(), arch, path)
    assert ok, f"NVRTC ({path}) failed to compile kernel_source():\n{log}"
    assert source.ptx_entries(ptx) >= set(KERNELS)  # extern "C": unmangled


# ------------------------------------------------------------------------------------------------
# End to end through the kernels' host emulation (nvcc builds them for the host; no GPU needed)
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def emulated_ops(monkeypatch, tmp_path_factory):
    """ops with its launches run by the kernels' host twins (csc.testing.host_kernels)."""
    from csc.testing import host_kernels as host_build

    if not host_build.nvcc_available():
        toolchain_missing("nvcc not found: cannot build the kernels' host emulation")
    launcher = host_build.host_launcher(host_build.default_library())
    monkeypatch.setattr(ops, "get_launcher", lambda: launcher)
    return ops


PRIORS = [dict(sparsity="l1", lam=0.3, slowness="none"),
          dict(sparsity="l1", lam=0.3, slowness="l2", kappa=0.4),
          dict(sparsity="l1", lam=0.3, slowness="l1", kappa=0.4),
          dict(sparsity="cauchy", lam=0.3, sigma=0.4, slowness="none"),
          dict(sparsity="cauchy", lam=0.3, sigma=0.4, slowness="l2", kappa=0.4),
          dict(sparsity="gauss", lam=0.3, slowness="l2", kappa=0.4)]


@pytest.mark.parametrize("prior", PRIORS, ids=lambda p: f"{p['sparsity']}-{p['slowness']}")
def test_emulated_ops_drive_encode_like_the_cpu(emulated_ops, monkeypatch, rng, prior):
    """Full FISTA with csc.backends.cuda.ops as the backend's ops (NumPy arrays, host-emulated
    kernels)."""
    from csc.testing.planted import random_dictionary

    D = random_dictionary(12, 24, rng, normalize="complex")
    X = rng.standard_normal((4, 6, 24)).astype(np.float32)
    Z_cpu, info_cpu = csc.encode(X, D, backend="cpu", return_info=True, max_iter=300, tol=1e-6,
                                 **prior)
    monkeypatch.setattr(inference, "get_backend", lambda name: Backend("gpu", np, emulated_ops))
    host_launcher = emulated_ops.get_launcher()
    names, prepared = [], []
    monkeypatch.setattr(emulated_ops, "get_launcher",
                        lambda: names.append(1) or host_launcher)
    real_prepare = host_launcher.prepare
    monkeypatch.setattr(host_launcher, "prepare",
                        lambda name, **kw: prepared.append(name) or real_prepare(name, **kw))
    Z_gpu, info_gpu = csc.encode(X, D, backend="cpu", return_info=True, max_iter=300, tol=1e-6,
                                 **prior)
    e_cpu = csc.energy(X, Z_cpu, D, **prior)["total"]
    e_gpu = csc.energy(X, Z_gpu, D, **prior)["total"]
    assert len(names) >= 2 * info_gpu.n_iter  # every pass went through the emulated kernels
    # launches are prepared once per solve and set of buffers (two parities of the swapped
    # buffers, restarts, the readings rows), then rebound: not once per iteration
    assert info_gpu.n_iter > 30 and len(prepared) <= 20
    assert abs(e_gpu - e_cpu) <= 1e-4 * abs(e_cpu)
    assert np.max(np.abs(Z_gpu - Z_cpu)) < 1e-2 * max(1.0, np.max(np.abs(Z_cpu)))
