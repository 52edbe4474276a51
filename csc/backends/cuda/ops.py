"""Fused passes on the GPU: the CuPy twin of `csc.backends.cpu.fused` (same functions and
signatures).

The CUDA C kernels of `kernels/fused.cu` are compiled once per process with `cupy.RawModule`
(NVRTC) and every launch goes through the typed `Launcher` (csc/backends/cuda/launcher.py). Data are
float32 only (the kernels' type); partial sums are float64. Codes are real (N, 2K) arrays,
N = n_sequences · n_frames, row n = b·T + t holding [u_1..u_K, v_1..v_K], as on the CPU.

One FISTA iteration is two cuBLAS GEMMs and three launches: `code_step` (a kernel specialised on
the prior), `recon_step`, and `iteration_sums`, which adds both steps' per-block partial sums into
the three numbers the host reads ([energy, ‖Δx‖², ‖x‖²]). Partials are per block, in the shapes
`code_partials_shape` and `recon_partials_shape` give; only `iteration_sums` reads them.

`plan`: a dict a solve owns and passes to every call. The first call of a kernel with a given set
of arrays prepares (validates) its launch there; later calls with the same arrays only convert
their float arguments (`Launcher.rebind`). Work buffers (the chain step's global staging area for
long chains) live in the plan too, so nothing is shared between solves, devices or streams.

Nothing imports CuPy until a GPU function runs; `available()` says whether one can.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from csc.backends.cuda import launcher as _launcher
from csc.backends.cuda.launcher import CHAIN_KERNEL, Launcher, check_source, pointwise_kernel
from csc.backends.cuda.source import BLOCKS, NVRTC_OPTIONS, kernel_source
from csc.backends.device import device_module
from csc.priors import SLOW_L1, SLOWNESS_CODE, SPARSITY_CODE

#: recon_step: aim for at least this many threads (one per (row tile, column)) and at most this
#: many rows per tile; fewer rows per tile means more partial sums to add up afterwards.
_RECON_TARGET_THREADS = 1 << 17
_RECON_MAX_ROWS_PER_TILE = 64
_SPARSITY_NAME = {code: name for name, code in SPARSITY_CODE.items()}
_SLOWNESS_NAME = {code: name for name, code in SLOWNESS_CODE.items()}

_state: dict[str, Any] = {}  # "module", "launcher"


def launch_blocks() -> dict[str, tuple[int, ...]]:
    """Kernel name → every block size (threads per block) csc launches it with; the resource
    budget (registers × block) is checked against these."""
    return {name: (sig.block,) for name, sig in _launcher.KERNELS.items()}


# ------------------------------------------------------------------------------------------------
# Availability, source and module
# ------------------------------------------------------------------------------------------------
def available() -> tuple[bool, str]:
    """(True, device description) when the GPU path works here, else (False, the reason).

    Checked once per process, in the order a first run would fail: CuPy imports; it sees a CUDA
    device; csc's kernel module compiles (NVRTC, which CuPy wheels do not bundle) and one kernel
    runs and gives the right sums; a small float32 matmul (cuBLAS, also not bundled) runs and
    matches NumPy. The reason names the step that failed and the exception.
    """
    if "available" not in _state:
        _state["available"] = _probe()
    return _state["available"]


def _probe() -> tuple[bool, str]:
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA install raising on import
        return False, f"CuPy is not installed or does not import ({type(e).__name__}: {e})"
    try:
        n = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:  # no driver: CUDARuntimeError
        return False, f"CuPy imports but no CUDA device is usable ({type(e).__name__}: {e})"
    if n < 1:
        return False, "CuPy imports but no CUDA device is present"
    try:
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        name = "unknown device"
    try:
        out = cupy.zeros(3, dtype=np.float64)
        get_launcher()("csc_iteration_sums", code_partials=cupy.asarray([[1.0, 2.0, 3.0, 4.0]]),
                       n_code=1, recon_partials=cupy.asarray([0.5, 0.25]), n_recon=2, out=out)
        got = out.get()
    except Exception as e:  # NVRTC missing or failing, a launch failure
        _state.pop("launcher", None)
        return False, (f"{name}: csc's CUDA kernels do not compile or run ({type(e).__name__}: "
                       f"{e}); NVRTC may be missing: pip install nvidia-cuda-nvrtc-cu12")
    if not np.array_equal(got, [3.75, 3.0, 4.0]):
        return False, f"{name}: a csc kernel ran but gave {got.tolist()}, not [3.75, 3.0, 4.0]"
    try:
        a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
        ok = np.allclose((cupy.asarray(a) @ cupy.asarray(a.T)).get(), a @ a.T, rtol=1e-5)
    except Exception as e:  # libcublas missing
        return False, (f"{name}: a matrix product fails ({type(e).__name__}: {e}); cuBLAS may be "
                       f"missing: pip install nvidia-cublas-cu12")
    if not ok:
        return False, f"{name}: a matrix product gives wrong values"
    return True, f"{n} CUDA device(s); current: {name} (kernels and cuBLAS checked)"


def _cupy():
    import cupy

    return cupy


def get_launcher() -> Launcher:
    """The process-wide Launcher over the compiled kernels (compiled on first use).

    Raises RuntimeError if the source's kernel parameter lists differ from `launcher.KERNELS`.
    """
    if "launcher" not in _state:
        cupy = _cupy()
        source = kernel_source()
        problems = check_source(source)
        if problems:
            raise RuntimeError("kernels/fused.cu does not match "
                               "csc.backends.cuda.launcher.KERNELS:\n" + "\n".join(problems))
        module = cupy.RawModule(code=source, options=NVRTC_OPTIONS)
        _state["module"] = module
        _state["launcher"] = Launcher(module.get_function, array_type=cupy.ndarray)
    return _state["launcher"]


def _xp(a: Any):
    """cupy for CuPy arrays, else numpy (tests passing NumPy arrays to a fake launcher)."""
    return device_module(a)


def _run(plan: dict | None, name: str, arrays: dict[str, Any], floats: dict[str, float],
         ints: dict[str, int]) -> None:
    """Launch kernel `name`: prepared once per plan and set of arrays (the plan keeps the launch
    and its float arguments), then only floats that changed are rebound."""
    launcher = get_launcher()
    if plan is None:
        launcher(name, **arrays, **floats, **ints)
        return
    key = (name, *(id(a) for a in arrays.values()), *ints.items())
    entry = plan.get(key)
    if entry is None:
        entry = plan[key] = [launcher.prepare(name, **arrays, **floats, **ints), floats]
    elif floats != entry[1]:
        changed = {k: v for k, v in floats.items() if entry[1].get(k) != v}
        entry[:] = [launcher.rebind(entry[0], **changed), floats]
    launcher.launch(entry[0])


# ------------------------------------------------------------------------------------------------
# The fused passes
# ------------------------------------------------------------------------------------------------
def code_partials_shape(n_seq: int, n_frames: int, K: int, slowness: int) -> tuple[int, int]:
    """Shape of `code_step`'s partials: (blocks, 4) float64."""
    if slowness == SLOW_L1:
        return -(-n_seq * K // BLOCKS["chain"]), 4
    return _launcher.pointwise_blocks(n_seq, n_frames, K), 4


def recon_partials_shape(N: int, M: int) -> tuple[int]:
    """Shape of `recon_step`'s partials: (blocks,) float64."""
    return (_launcher.recon_blocks(N, M, recon_rows_per_tile(N, M)),)


def code_step(Y, G, X_old, X_new, Y_new, n_frames: int, tau: float, beta: float, lam: float,
              sigma: float, kappa: float, sparsity: int, slowness: int, partials,
              plan: dict | None = None) -> None:
    """One fused gradient-step + prox + momentum pass (see `csc.backends.cpu.fused`).

    Y, G, X_old, X_new, Y_new: float32 (N, 2K) C-contiguous device arrays, N = n_seq·n_frames;
    X_new, Y_new written. X_new may be X_old's buffer, and Y_new may be Y's or G's except with l2
    slowness, whose threads read Y and G at neighbouring frames (ValueError). partials: float64
    device array of `code_partials_shape`, written with per-block [sparse energy, slowness energy,
    ‖X_new − X_old‖², ‖X_new‖²]. slowness = SLOW_L1 runs the chain kernel (l1 sparsity + TV
    slowness), else the pointwise kernel specialised for the prior.
    """
    N, K2 = Y.shape
    if K2 % 2:
        raise ValueError(f"codes must have an even number of columns (2K), got {K2}")
    if n_frames < 1 or N % n_frames:
        raise ValueError(f"{N} code rows are not a whole number of {n_frames}-frame sequences")
    K, n_seq = K2 // 2, N // n_frames
    want = code_partials_shape(n_seq, n_frames, K, slowness)
    if tuple(partials.shape) != want:
        raise ValueError(f"partials has shape {tuple(partials.shape)}, expected {want}")
    xp = _xp(Y)
    if slowness == SLOWNESS_CODE["l2"] and (xp.may_share_memory(Y_new, Y)
                                            or xp.may_share_memory(Y_new, G)):
        raise ValueError("with l2 slowness Y_new must not share memory with Y or G")
    arrays = dict(Y=Y, G=G, X_old=X_old, X_new=X_new, Y_new=Y_new)
    floats = dict(tau=tau, beta=beta, lam=lam, kappa=kappa)
    ints = dict(n_seq=n_seq, n_frames=n_frames, K=K)
    if slowness == SLOW_L1:
        in_global = not _launcher.chain_stages_in_shared(n_frames)
        stage = _stage(plan, 3 * N * K if in_global else 0, xp)
        _run(plan, CHAIN_KERNEL, {**arrays, "stage_global": stage, "partials": partials}, floats,
             {**ints, "stage_in_global": int(in_global)})
    else:
        name = pointwise_kernel(_SPARSITY_NAME[sparsity], _SLOWNESS_NAME[slowness])
        _run(plan, name, {**arrays, "partials": partials}, {**floats, "sigma": sigma}, ints)


def anchored_step(Y, G, anchor, X_old, X_new, Y_new, tau: float, beta: float, lam: float,
                  sigma: float, kappa: float, sparsity: int, slowness: int,
                  plan: dict | None = None) -> None:
    """One causal FISTA step on single-frame rows (see `csc.backends.cpu.fused.anchored_step`).

    Array code around the pointwise `code_step` kernel: with l2 slowness the gradient point's
    magnitudes are moved to (r + τκc)/(1 + τκ) and the sparse prior's kernel runs with step
    τ/(1 + τκ); with TV slowness the closed form is array code. Y, G, X_old, X_new, Y_new:
    float32 (N, 2K) device arrays; anchor: float32 (N, K) or None.
    """
    xp = _xp(Y)
    N, K2 = Y.shape
    K = K2 // 2
    V = Y - np.float32(tau) * G
    none = SLOWNESS_CODE["none"]
    zeros = xp.zeros_like(V)
    partials = xp.empty(code_partials_shape(N, 1, K, none), dtype=np.float64)
    if anchor is None or slowness == none:
        code_step(V, zeros, X_old, X_new, Y_new, 1, tau, beta, lam, sigma, kappa, sparsity, none,
                  partials)
        return
    r = xp.hypot(V[:, :K], V[:, K:])
    if slowness == SLOWNESS_CODE["l2"]:
        k = tau * kappa
        _rescale(xp, V, r, (r + k * anchor) / (1.0 + k), V)
        code_step(V, zeros, X_old, X_new, Y_new, 1, tau / (1.0 + k), beta, lam, sigma, kappa,
                  sparsity, none, partials)
        return
    above, below = r - tau * (lam + kappa), r - tau * (lam - kappa)
    s = xp.where(above > anchor, above, xp.where(below < anchor, below, anchor))
    _rescale(xp, V, r, xp.maximum(s, 0.0), X_new)
    Y_new[...] = X_new + beta * (X_new - X_old)


def _rescale(xp, V, r, s, out) -> None:
    """out ← V (N, 2K) with each code's magnitude r turned into s, phase kept (a zero code gets
    phase 0); out may be V."""
    K = V.shape[1] // 2
    ratio = s / xp.maximum(r, 1e-30)
    out[:, :K] = xp.where(r > 0, V[:, :K] * ratio, s)
    out[:, K:] = V[:, K:] * ratio


def _stage(plan: dict | None, size: int, xp) -> Any:
    """The chain step's global staging area (float32, `size` elements), kept in the plan."""
    stage = None if plan is None else plan.get("stage")
    if stage is None or stage.size != size:
        stage = xp.empty(size, dtype=np.float32)
        if plan is not None:
            plan["stage"] = stage
    return stage


def recon_rows_per_tile(N: int, M: int) -> int:
    """Rows per tile of `recon_step`: enough (tile, column) threads to fill a GPU, ≤ 64 rows."""
    return int(min(max(-(-N * M // _RECON_TARGET_THREADS), 1), _RECON_MAX_ROWS_PER_TILE))


def recon_step(X, R_new, R_old, w, beta: float, E_y, partials, plan: dict | None = None) -> None:
    """Weighted reconstruction energy of the new codes and the residual at the momentum point.

    X, R_new, R_old, E_y: float32 (N, M) device arrays; w: float32 (M,); E_y written with
    w ∘ (R_new + β (R_new − R_old) − X) (E_y may be R_old's buffer). partials: float64 device
    array of `recon_partials_shape`, written with per-block sums of ½ Σ w (X − R_new)².
    """
    N, M = X.shape
    want = recon_partials_shape(N, M)
    if tuple(partials.shape) != want:
        raise ValueError(f"partials has shape {tuple(partials.shape)}, expected {want}")
    _run(plan, "csc_recon_step", dict(X=X, R_new=R_new, R_old=R_old, w=w, E_y=E_y,
                                      partials=partials),
         dict(beta=beta), dict(N=N, M=M, rows_per_tile=recon_rows_per_tile(N, M)))


def iteration_sums(code_partials, recon_partials, out, plan: dict | None = None) -> None:
    """out (3,) float64 device array ← [reconstruction + sparse + slowness energy, ‖Δx‖², ‖x‖²]
    from the partials of `code_step` and `recon_step` (either may be None: its terms are 0)."""
    xp = _xp(out)
    if code_partials is None:
        code_partials = _empty(plan, "no_code", (0, 4), xp)
    if recon_partials is None:
        recon_partials = _empty(plan, "no_recon", (0,), xp)
    _run(plan, "csc_iteration_sums",
         dict(code_partials=code_partials, recon_partials=recon_partials, out=out), {},
         dict(n_code=int(code_partials.shape[0]), n_recon=int(recon_partials.shape[0])))


def _empty(plan: dict | None, key: str, shape: tuple[int, ...], xp) -> Any:
    """A zero-size float64 array, kept in the plan so its identity (the launch key) is stable."""
    if plan is None:
        return xp.empty(shape, dtype=np.float64)
    if key not in plan:
        plan[key] = xp.empty(shape, dtype=np.float64)
    return plan[key]


def sample_patches(frames_flat, clip_offset, clip_h, clip_w, which, t0, y0, x0, n_frames: int,
                   patch: int):
    """Gather space-time patch sequences from clips packed in one device buffer.

    frames_flat: float32 (total,) — clip i, of shape (T_i, H_i, W_i) C-order, occupies
    frames_flat[clip_offset[i] : clip_offset[i+1]] (the last one up to the end);
    clip_offset: int64 (n_clips,) ascending; clip_h, clip_w: int32 (n_clips,);
    which, t0, y0, x0: int32 (n_sequences,) — clip, first frame, top row, left column.
    Returns float32 (n_sequences, n_frames, patch, patch), out[i] =
    clip[which[i]][t0[i]:t0[i]+n_frames, y0[i]:y0[i]+patch, x0[i]:x0[i]+patch].
    Raises ValueError (after one device synchronisation) if a patch leaves its clip.
    """
    xp = _xp(frames_flat)
    n_seq = int(which.size)
    out = xp.empty((n_seq, n_frames, patch, patch), dtype=np.float32)
    launcher = get_launcher()
    launch = launcher.prepare("csc_sample_patches", frames=frames_flat, clip_offset=clip_offset,
                              clip_h=clip_h, clip_w=clip_w, which=which, t0=t0, y0=y0, x0=x0,
                              out=out, n_sequences=n_seq, n_frames=n_frames, patch=patch)
    _check_patches_inside(xp, frames_flat.size, clip_offset, clip_h, clip_w, which, t0, y0, x0,
                          n_frames, patch)
    launcher.launch(launch)
    return out


def _check_patches_inside(xp, total: int, clip_offset, clip_h, clip_w, which, t0, y0, x0,
                          n_frames: int, patch: int) -> None:
    """ValueError unless every requested patch lies inside its clip's span of the buffer."""
    n_clips = int(clip_offset.size)
    if which.size == 0:
        return
    if n_clips == 0:
        raise ValueError("sample_patches: no clips")
    off = clip_offset.astype(np.int64)
    end = xp.concatenate([off[1:], xp.asarray([total], dtype=np.int64)])
    c = xp.clip(which.astype(np.int64), 0, n_clips - 1)
    h, w = clip_h.astype(np.int64)[c], clip_w.astype(np.int64)[c]
    t, y, x = t0.astype(np.int64), y0.astype(np.int64), x0.astype(np.int64)
    last = off[c] + ((t + n_frames - 1) * h + (y + patch - 1)) * w + (x + patch - 1)
    ok = xp.stack([
        xp.all(off[1:] >= off[:-1]) if n_clips > 1 else xp.asarray(True),
        off[0] >= 0,
        xp.all((which >= 0) & (which < n_clips)),
        xp.all((t >= 0) & (y >= 0) & (x >= 0)),
        xp.all((y + patch <= h) & (x + patch <= w)),
        xp.all(last < end[c]),
    ])
    ok = np.asarray(ok.get() if hasattr(ok, "get") else ok)  # one synchronisation
    if not ok.all():
        what = ["clip_offset is not ascending", "clip_offset[0] < 0",
                "a clip index is out of range", "a negative start index",
                "a patch extends past its clip's height or width",
                "a patch extends past its clip's frames"]
        raise ValueError("sample_patches: " + "; ".join(m for m, g in zip(what, ok) if not g))
