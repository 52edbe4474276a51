"""Fused passes on the GPU: the CuPy twin of `csc.backends.cpu.fused` (same functions and
signatures).

The CUDA C kernels of `kernels/fused.cu` are compiled once per process with `cupy.RawModule`
(NVRTC) and every launch goes through the typed `Launcher` (csc/backends/cuda/launcher.py). Data are
float32 only (the kernels' type); partial sums are float64. Codes are real (N, 2K) arrays,
N = n_sequences · n_frames, row n = b·T + t holding [u_1..u_K, v_1..v_K], as on the CPU.

Differences from the CPU functions:
- `code_step` gets per-chain partials (n_sequences·K, 4) from the kernel and sums them over the
  units on the device into `partials` (n_sequences, 4).
- `recon_step` gets per-(row tile, column) energies from the kernel; `row_energy` receives their
  total in `row_energy[0]` and zeros elsewhere, so only `row_energy.sum()` is meaningful.
- Work buffers (per-chain partials, chain-prox scratch, column energies) are cached per shape and
  reused; launches are ordered on CuPy's current stream, so use one stream per process.

Nothing imports CuPy until a GPU function runs; `available()` says whether one can.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from csc.backends.cuda.launcher import Launcher, check_source
from csc.backends.cuda.source import NVRTC_OPTIONS, kernel_source
from csc.backends.device import device_module
from csc.core.priors import SLOW_L1

#: Threads per block for every kernel.
BLOCK = 128


def launch_blocks() -> dict[str, tuple[int, ...]]:
    """Kernel name → every block size (threads per block) csc launches it with; the resource
    budget (registers × block) is checked against these."""
    from csc.backends.cuda.launcher import KERNELS

    return {name: (BLOCK,) for name in KERNELS}
#: recon_step: aim for at least this many threads (one per (row tile, column)) and at most this
#: many rows per tile; fewer rows per tile means more float64 column sums to add up afterwards.
_RECON_TARGET_THREADS = 1 << 17
_RECON_MAX_ROWS_PER_TILE = 64

_state: dict[str, Any] = {}  # "module", "launcher"
_buffers: dict[tuple[str, str], Any] = {}  # (name, array module) → cached work buffer


# ------------------------------------------------------------------------------------------------
# Availability, source and module
# ------------------------------------------------------------------------------------------------
def available() -> tuple[bool, str]:
    """(True, device description) if CuPy imports and sees a CUDA device, else (False, reason)."""
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
    return True, f"{n} CUDA device(s); current: {name}"


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
        _state["launcher"] = Launcher(module.get_function, block=BLOCK, array_type=cupy.ndarray)
    return _state["launcher"]


def _xp(a: Any):
    """cupy for CuPy arrays, else numpy (tests passing NumPy arrays to a fake launcher)."""
    return device_module(a)


def _buffer(name: str, shape: tuple[int, ...], dtype: type, xp) -> Any:
    """A cached uninitialised work buffer; reallocated when the shape changes."""
    key = (name, xp.__name__)
    buf = _buffers.get(key)
    if buf is None or buf.shape != shape or buf.dtype != np.dtype(dtype):
        buf = _buffers[key] = xp.empty(shape, dtype=dtype)
    return buf


def clear_buffers() -> None:
    """Free the cached work buffers (they are re-made on the next call)."""
    _buffers.clear()


# ------------------------------------------------------------------------------------------------
# The fused passes
# ------------------------------------------------------------------------------------------------
def code_step(Y, G, X_old, X_new, Y_new, n_frames: int, tau: float, beta: float, lam: float,
              sigma: float, kappa: float, sparsity: int, slowness: int, partials) -> None:
    """One fused gradient-step + prox + momentum pass (see `csc.backends.cpu.fused`).

    Y, G, X_old, X_new, Y_new: float32 (N, 2K) C-contiguous device arrays, N = n_seq·n_frames;
    X_new, Y_new written. partials: float64 (n_seq, 4) device array, written with the
    per-sequence [sparse energy, slowness energy, ‖X_new − X_old‖², ‖X_new‖²].
    slowness = SLOW_L1 runs the chain kernel (l1 sparsity + TV slowness), else the pointwise one.
    """
    N, K2 = Y.shape
    if K2 % 2:
        raise ValueError(f"codes must have an even number of columns (2K), got {K2}")
    if n_frames < 1 or N % n_frames:
        raise ValueError(f"{N} code rows are not a whole number of {n_frames}-frame sequences")
    K, n_seq = K2 // 2, N // n_frames
    if tuple(partials.shape) != (n_seq, 4):
        raise ValueError(f"partials has shape {tuple(partials.shape)}, expected ({n_seq}, 4)")
    xp = _xp(Y)
    chain = _buffer("chain_partials", (n_seq * K, 4), np.float64, xp)
    common = dict(Y=Y, G=G, X_old=X_old, X_new=X_new, Y_new=Y_new, n_seq=n_seq,
                  n_frames=n_frames, K=K, tau=tau, beta=beta, lam=lam, kappa=kappa,
                  partials=chain)
    if slowness == SLOW_L1:
        get_launcher()("csc_code_step_chain", **common,
                       scratch_r=_buffer("scratch_r", (N, K), np.float32, xp),
                       scratch_s=_buffer("scratch_s", (N, K), np.float32, xp))
    else:
        get_launcher()("csc_code_step_pointwise", **common, sigma=sigma, sparsity=sparsity,
                       slowness=slowness)
    xp.sum(chain.reshape(n_seq, K, 4), axis=1, out=partials)


def recon_rows_per_tile(N: int, M: int) -> int:
    """Rows per tile of `recon_step`: enough (tile, column) threads to fill a GPU, ≤ 64 rows."""
    return int(min(max(-(-N * M // _RECON_TARGET_THREADS), 1), _RECON_MAX_ROWS_PER_TILE))


def recon_step(X, R_new, R_old, w, beta: float, E_y, row_energy) -> None:
    """Weighted reconstruction energy of the new codes and the residual at the momentum point.

    X, R_new, R_old, E_y: float32 (N, M) device arrays; w: float32 (M,); E_y written with
    w ∘ (R_new + β (R_new − R_old) − X). row_energy: float64 (N,) device array, written with the
    total ½ Σ w (X − R_new)² in row_energy[0] and zeros elsewhere (use `row_energy.sum()`).
    """
    N, M = X.shape
    if tuple(row_energy.shape) != (N,):
        raise ValueError(f"row_energy has shape {tuple(row_energy.shape)}, expected ({N},)")
    xp = _xp(X)
    rpt = recon_rows_per_tile(N, M)
    col = _buffer("col_energy", (-(-N // rpt), M), np.float64, xp)
    get_launcher()("csc_recon_step", X=X, R_new=R_new, R_old=R_old, w=w, beta=beta, E_y=E_y,
                   col_energy=col, N=N, M=M, rows_per_tile=rpt)
    row_energy.fill(0.0)
    if N:
        row_energy[0] = col.sum()


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
