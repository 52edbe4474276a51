"""The resource budget of every kernel as a GPU will compile it, checked without a GPU.

NVRTC compiles the module with CuPy's exact options, ptxas assembles it for sm_80 (A100) and
sm_90 (H100/H200) and reports registers, spills and shared memory per kernel. A kernel launched
with more registers × threads than an SM has fails on its first launch ("too many resources
requested"), which no CPU test would see.
"""
import numpy as np
import pytest
from conftest import toolchain_missing

from csc.backends.cuda import launcher, ops, source
from csc.testing import kernel_resources as kr

if source.find_nvrtc() is None or kr.ptxas_path() is None:
    toolchain_missing("libnvrtc or ptxas not found: kernel resources cannot be checked")

pytestmark = pytest.mark.toolchain


@pytest.mark.parametrize("arch", source.ARCHES)
def test_every_kernel_fits_its_launches(arch):
    """No spills; registers × block ≤ 64K and __launch_bounds__ ≥ block for every kernel and
    every block size csc launches it with."""
    res = kr.kernel_resources(arch)
    blocks = ops.launch_blocks()
    assert set(blocks) == set(launcher.KERNELS) <= set(res)
    for name, sizes in blocks.items():
        r = res[name]
        assert r.spill_stores == r.spill_loads == 0, (arch, name, r)
        for block in sizes:
            assert r.registers * block <= kr.REGISTERS_PER_SM, (arch, name, r, block)
            assert r.max_ntid >= block, f"{name}: __launch_bounds__ {r.max_ntid} < {block}"
            assert block <= r.max_threads_per_block, (arch, name, r, block)
            # the block reductions add by halves
            assert block & (block - 1) == 0, (name, block)


def test_the_former_generic_kernel_would_not_launch_with_1024_threads():
    """What this check catches: ptxas's report of the generic pointwise kernel before the
    kernels were specialised (68 registers on sm_90) allows 896 threads per block, so the 1024
    the launcher used to accept fail at launch."""
    log = """ptxas info    : Compiling entry function 'csc_code_step_pointwise' for 'sm_90'
ptxas info    : Function properties for csc_code_step_pointwise
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 68 registers, used 0 barriers, 464 bytes cmem[0]
ptxas info    : Compiling entry function 'k' for 'sm_90'
ptxas info    : Function properties for k
    8 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 9216 bytes smem, 432 bytes cmem[0]
"""
    ptx = ".visible .entry k(\n .param .u64 k_param_0\n)\n.maxntid 256, 1, 1\n{\n}"
    res = kr.parse_ptxas(log, ptx)
    old = res["csc_code_step_pointwise"]
    assert (old.registers, old.max_ntid) == (68, 0)
    assert old.registers * 1024 > kr.REGISTERS_PER_SM and old.max_threads_per_block == 896
    assert res["k"] == kr.Resources(255, 8, 4, 9216, 256) and res["k"].max_threads_per_block == 256


def test_the_launcher_refuses_a_block_the_compiled_kernel_cannot_run():
    """CuPy's RawKernel.attributes['max_threads_per_block'] counts registers and launch bounds;
    the launcher checks the block against it before the first launch."""
    name = "csc_iteration_sums"
    calls = []

    def lookup(limit):
        def f(grid, block, args, shared_mem=0):
            calls.append(block)
        f.attributes = {"max_threads_per_block": limit}
        return lambda _name: f

    args = dict(code_partials=np.zeros((1, 4)), n_code=1, recon_partials=np.zeros(1), n_recon=1,
                out=np.zeros(3))
    launcher.Launcher(lookup(256))(name, **args)
    assert calls == [(256,)]
    with pytest.raises(RuntimeError, match="blocks of 256 threads .* allows 128"):
        launcher.Launcher(lookup(128))(name, **args)
    assert calls == [(256,)]
