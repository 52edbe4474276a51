"""FISTA: accelerated proximal gradient with exact amplitude proxes (docs/design.md §2).

Each iteration is two GEMMs and two fused passes:
    G = E_y Wᵀ                       gradient of the weighted reconstruction term at y (GEMM 1)
    x⁺, y⁺ = code_step(y, G, x)      gradient step + prox + momentum, prior energy of x⁺
    R⁺ = x⁺ W                        reconstruction of x⁺ (GEMM 2)
    E_y⁺, recon(x⁺) = recon_step(…)  residual at y⁺ = x⁺ + β(x⁺ − x) by linearity, energy of x⁺
The energy of every iterate is therefore known at no extra GEMM, which gives a monotone method:
a step that raises the energy is rejected and the momentum restarted (adaptive restart); if even a
plain prox-gradient step raises it, the step size is halved (backtracking). Non-convex priors thus
still decrease the energy monotonically, and the convex case converges to the optimum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from csc.backends.backend import Backend, to_numpy
from csc.core.energy import slowness_penalty, sparse_penalty
from csc.priors import SLOWNESS_CODE, SPARSITY_CODE, Prior


class NumericRangeError(ValueError):
    """The problem does not fit the working float type: a step size or an energy would underflow
    or overflow it (see `fista`)."""


@dataclass
class EncodeInfo:
    """What `encode(..., return_info=True)` reports.

    n_iter: iterations run (each two GEMMs); energies: total energy of the current iterate, first
    at the start and then after each iteration (non-increasing); converged: the relative change
    ‖x⁺ − x‖/‖x⁺‖ fell below `tol`; residual: relative prox-gradient residual
    ‖c − prox(c − τ∇f(c))‖ / ‖c‖ at the returned codes (0 at a stationary point); lipschitz: the
    final step-size constant L (τ = 1/L); n_restarts: rejected steps; n_batches: solves `encode`
    ran (see `merge_infos` for how their reports combine).
    """

    n_iter: int = 0
    energies: list[float] = field(default_factory=list)
    converged: bool = False
    residual: float = float("nan")
    lipschitz: float = float("nan")
    n_restarts: int = 0
    n_batches: int = 1


def lipschitz_constant(W: np.ndarray, w: np.ndarray, v0: np.ndarray | None = None,
                       n_iter: int = 30) -> tuple[float, np.ndarray]:
    """Largest eigenvalue of W diag(w) Wᵀ by power iteration, with a 1% safety margin.

    W: float (2K, M); w: float (M,). Returns (L, v) with v the (2K,) eigenvector estimate, to
    warm-start the next call after a small dictionary change.
    """
    v = np.random.default_rng(0).standard_normal(W.shape[0]) if v0 is None else v0
    v = v.astype(np.float64) / max(np.linalg.norm(v), 1e-30)
    W64 = W.astype(np.float64)
    w64 = w.astype(np.float64)
    L = 0.0
    for _ in range(n_iter):
        u = W64 @ (w64 * (W64.T @ v))
        L = float(np.linalg.norm(u))
        if L == 0.0:
            return 1.0, v
        v = u / L
    return 1.01 * L, v


#: A solve's first steps take the data term's curvature as L_data / STEP_BOOST. The power
#: iteration's L_data bounds it in the worst direction, which the codes' steps rarely take. The
#: first step that raises the energy brings L back towards the bound (doubling it, at most to
#: the bound), so the solve ends as monotone FISTA with step 1/L. On the benchmark's planted
#: problems a first step of 2/L reached 1e-4 of the optimum in 15 iterations where 1/L took 25
#: (l1, 1,024 and 8,192 frames).
STEP_BOOST = 2.0


def _range_error(what: str, dtype) -> NumericRangeError:
    name = np.dtype(dtype).name
    advice = ("scale the data/dictionary or pass float64 data (CPU backend)"
              if name == "float32" else "scale the data/dictionary")
    return NumericRangeError(f"{what}: beyond {name} range; {advice}")


def check_step(L: float, dtype) -> None:
    """NumericRangeError unless the step τ = 1/L is a normal number of `dtype` (the kernels run
    it in the data's float type: a dictionary scaled by 1e25 makes τ 0 in float32)."""
    info = np.finfo(dtype)
    tau = 1.0 / L if L != 0 else math.inf  # NaN stays NaN
    if not float(info.tiny) <= tau <= float(info.max):  # also refuses NaN
        raise _range_error(f"step size 1/L = {tau:.3g} (L from the dictionary and weights) is "
                           f"not a normal {np.dtype(dtype).name}", dtype)


def check_data_range(Xf, w) -> None:
    """NumericRangeError unless every weighted squared frame value w_m x² fits the float type
    of Xf (N, M) (w: (M,)): the reconstruction energy is summed from such terms."""
    x_max = max(float(Xf.max()), -float(Xf.min()))
    if float(w.max()) * x_max * x_max > float(np.finfo(Xf.dtype).max):
        raise _range_error(f"data values up to {x_max:.3g} give squared errors that overflow",
                           Xf.dtype)


def prior_energy(C: np.ndarray, n_frames: int, prior: Prior) -> float:
    """Sparse + slowness energy of real codes C (N, 2K) (NumPy, used once per solve)."""
    K = C.shape[1] // 2
    a = np.hypot(C[:, :K], C[:, K:]).reshape(-1, n_frames, K)
    return sparse_penalty(a, prior) + slowness_penalty(a, prior)


def solver_bytes_per_frame(n_components: int, n_features: int, itemsize: int,
                           backend_name: str) -> int:
    """Bytes of one frame in the arrays of a solve (`_FistaState`): the codes x, x⁺, y, y⁺
    (2K values each) and the reconstructions R, R⁺, the residual E_y and the frames (M each);
    on the GPU the snapshot of a block adds x, y, R and E_y, and the gradient (2K) may have a
    buffer of its own."""
    if backend_name == "cpu":
        return itemsize * 4 * (2 * n_components + n_features)
    return itemsize * (7 * 2 * n_components + 6 * n_features)


class _FistaState:
    """The device arrays of one solve and the moves between iterates (buffers swap, not copy).

    Codes x_old, x_new, y, y_new: (N, 2K); reconstructions R_old, R_new and the weighted residual
    E_y: (N, M); all of Xf's dtype. The gradient G = E_y Wᵀ is formed in y_new, which the fused
    pass overwrites element by element after reading it, except on the GPU with l2 slowness,
    whose threads read G at neighbouring frames: there G has a buffer of its own.
    code_p, recon_p: the fused passes' partial sums (float64, shapes from `backend.ops`);
    readings: (n_readings, 3) float64, row j ← [energy, ‖Δx‖², ‖x‖²] of the j-th iteration of a
    block, read by the host once per block; plan: the solve's prepared launches (GPU).
    """

    def __init__(self, Xf, W, w, prior: Prior, n_frames: int, C0, backend: Backend,
                 n_readings: int):
        xp = backend.xp
        self.xp, self.ops = xp, backend.ops
        self.Xf, self.W, self.w, self.prior, self.n_frames = Xf, W, w, prior, n_frames
        N, M = Xf.shape
        self.sparsity = SPARSITY_CODE[prior.sparsity]
        self.slowness = SLOWNESS_CODE[prior.slowness]
        if C0 is None:
            self.x_old = xp.zeros((N, W.shape[0]), dtype=Xf.dtype)
        else:
            self.x_old = xp.array(C0, dtype=Xf.dtype, order="C", copy=True)
        self.x_new = xp.empty_like(self.x_old)
        self.y = self.x_old.copy()
        self.y_new = xp.empty_like(self.x_old)
        own_G = backend.name == "gpu" and prior.slowness == "l2"
        self.G = xp.empty_like(self.x_old) if own_G else None
        self.R_old = self.x_old @ W
        self.R_new = xp.empty_like(self.R_old)
        self.E_y = xp.empty_like(self.R_old)
        K = W.shape[0] // 2
        self.code_p = xp.empty(self.ops.code_partials_shape(N // n_frames, n_frames, K,
                                                            self.slowness), dtype=np.float64)
        self.recon_p = xp.empty(self.ops.recon_partials_shape(N, M), dtype=np.float64)
        self.readings = xp.empty((max(n_readings, 1), 3), dtype=np.float64)
        # one view per row, made once: the plan keys prepared launches by the arrays' identity
        self.reading_rows = list(self.readings)
        self.plan: dict = {}

    def _read(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in to_numpy(self.reading_rows[0]))

    def restart_at_x_old(self) -> float:
        """y ← x_old, E_y ← w∘(R_old − X); returns the reconstruction energy of x_old."""
        self.y[...] = self.x_old
        self.ops.recon_step(self.Xf, self.R_old, self.R_old, self.w, 0.0, self.E_y, self.recon_p,
                            plan=self.plan)
        self.ops.iteration_sums(None, self.recon_p, self.reading_rows[0], plan=self.plan)
        return self._read()[0]

    def step(self, L: float, beta: float) -> None:
        """x_new, y_new and the code partials from y."""
        p = self.prior
        G = self.y_new if self.G is None else self.G
        self.xp.matmul(self.E_y, self.W.T, out=G)
        self.ops.code_step(self.y, G, self.x_old, self.x_new, self.y_new, self.n_frames,
                           1.0 / L, beta, p.lam, p.sigma, p.kappa, self.sparsity, self.slowness,
                           self.code_p, plan=self.plan)

    def step_change(self, L: float) -> float:
        """‖x_new − x_old‖ of a plain prox-gradient step from y = x_old."""
        self.step(L, 0.0)
        self.ops.iteration_sums(self.code_p, None, self.reading_rows[0], plan=self.plan)
        return math.sqrt(self._read()[1])

    def x_old_norm2(self) -> float:
        """‖x_old‖² summed in float64, squared into the x_new buffer (free once the last step
        is read)."""
        self.xp.multiply(self.x_old, self.x_old, out=self.x_new)
        return float(self.xp.sum(self.x_new, dtype=np.float64))

    def iterate(self, L: float, beta: float, row: int = 0) -> None:
        """One FISTA iteration; readings[row] ← [energy of x_new, ‖x_new − x_old‖², ‖x_new‖²]."""
        self.step(L, beta)
        self.xp.matmul(self.x_new, self.W, out=self.R_new)
        self.ops.recon_step(self.Xf, self.R_new, self.R_old, self.w, beta, self.E_y, self.recon_p,
                            plan=self.plan)
        self.ops.iteration_sums(self.code_p, self.recon_p, self.reading_rows[row],
                                plan=self.plan)

    def accept(self) -> None:
        self.x_old, self.x_new = self.x_new, self.x_old
        self.R_old, self.R_new = self.R_new, self.R_old
        self.y, self.y_new = self.y_new, self.y

    def snapshot(self):
        return tuple(a.copy() for a in (self.x_old, self.R_old, self.y, self.E_y))

    def restore(self, snap) -> None:
        for dst, src in zip((self.x_old, self.R_old, self.y, self.E_y), snap):
            dst[...] = src


def fista(Xf, W, w, prior: Prior, n_frames: int, C0, L: float, max_iter: int, tol: float,
          backend: Backend, sync_every: int | None = None,
          step_boost: float = STEP_BOOST) -> tuple[np.ndarray, EncodeInfo]:
    """Minimise the energy over real codes (arrays of `backend.xp`, all on one device).

    Xf: float (N, M) frames, N = n_sequences·n_frames; W: (2K, M) same dtype; w: (M,) weights;
    C0: (N, 2K) starting codes (not modified), or None for zeros; L: the bound on the data term's
    curvature (`lipschitz_constant`). The smooth part's bound adds 4κ for l2 slowness; the solve
    starts with L / step_boost in its place (see STEP_BOOST; 1: steps of 1/L throughout).
    sync_every: iterations between host reads of the energies (default 1 on the CPU, 8 on the GPU).
    Between reads every step is assumed accepted; if a read finds one that raised the energy (or
    gave a non-finite one), the block is restored from a snapshot, the steps before the first bad
    one (or up to a converged one before it) are replayed without reads, and the rest of the block
    is decided one read per iteration. So the iterates are exactly those of checking every
    iteration, except that a block in which every step was accepted runs to its end even if it
    converged midway, at one host round trip per block on the GPU. A step whose energy is not
    finite is rejected like one that raised it.
    Raises NumericRangeError (a ValueError) when the problem does not fit Xf's float type: the
    step 1/L not a normal number (`check_step`, also when backtracking has doubled L that far),
    squared data values overflowing (`check_data_range`), or a non-finite starting energy.
    Returns (C (N, 2K) of `backend.xp`, EncodeInfo).
    """
    xp = backend.xp
    sync_every = sync_every or (1 if backend.name == "cpu" else 8)
    slow = 4.0 * prior.kappa if prior.slowness == "l2" else 0.0  # exact for the l2 gradient
    L_bound, L = L + slow, L / step_boost + slow
    check_step(L_bound, Xf.dtype)
    check_data_range(Xf, w)
    # before the solver's arrays exist: the float64 copy of Xf is then not on top of them
    signal = 0.5 * float(xp.sum((Xf.astype(np.float64) ** 2) @ w.astype(np.float64)))
    st = _FistaState(Xf, W, w, prior, n_frames, C0, backend, sync_every)
    F_old = st.restart_at_x_old()
    if C0 is not None:  # the prior energy of zero codes is 0
        F_old += prior_energy(st.x_old, n_frames, prior)
    if not (math.isfinite(F_old) and math.isfinite(signal)):
        raise _range_error(f"the starting energy {F_old:.3g} is not finite", Xf.dtype)
    noise = float(np.finfo(Xf.dtype).eps) * (F_old + signal)  # rounding level of the energy
    info = EncodeInfo(energies=[F_old])
    t_k, y_is_x_old = 1.0, True

    def momentum(t):
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        return t_next, (t - 1.0) / t_next

    def converged_at(dx2: float, x2: float) -> bool:
        return dx2 <= tol * tol * x2 or dx2 == 0.0

    def careful(n_steps: int) -> bool:
        """n_steps iterations, each decided on the host at once; True when converged."""
        nonlocal F_old, t_k, y_is_x_old, L
        for _ in range(n_steps):
            info.n_iter += 1
            t_next, beta = momentum(t_k)
            st.iterate(L, beta)
            F_new, dx2, x2 = st._read()
            if F_new <= F_old + noise:
                st.accept()
                t_k, F_old, y_is_x_old = t_next, F_new, beta == 0.0
                info.energies.append(F_new)
                if converged_at(dx2, x2):
                    return True
            else:
                info.n_restarts += 1
                if y_is_x_old:  # even a plain prox-gradient step went up: the step was too long
                    L *= 2.0
                    check_step(L, Xf.dtype)
                elif L < L_bound:  # a boosted step failed: back towards the safe step
                    L = min(2.0 * L, L_bound)
                st.restart_at_x_old()
                t_k, y_is_x_old = 1.0, True
                info.energies.append(F_old)
        return False

    def run_unread(n_steps: int) -> float:
        """n_steps iterations assumed accepted, readings[0..n_steps) written; returns t after."""
        t = t_k
        for j in range(n_steps):
            t_next, beta = momentum(t)
            st.iterate(L, beta, j)
            st.accept()
            t = t_next
        return t

    def commit(values: np.ndarray, t_after: float) -> None:
        """Book the accepted iterations `values` (n, 3) that ran from t_k."""
        nonlocal F_old, t_k, y_is_x_old
        info.n_iter += len(values)
        info.energies.extend(float(v) for v in values[:, 0])
        y_is_x_old = len(values) == 1 and t_k == 1.0
        F_old, t_k = float(values[-1, 0]), t_after

    def optimistic(n_steps: int) -> bool:
        """n_steps iterations with one host read at the end; True when converged. After a step
        that raised the energy (or NaN), replays the good ones and decides the rest carefully."""
        snap = st.snapshot()
        t_after = run_unread(n_steps)
        values = to_numpy(st.readings[:n_steps])
        previous, n_good, first_converged = F_old, n_steps, None
        for j, (F_new, dx2, x2) in enumerate(values):
            if not F_new <= previous + noise:  # raised, or NaN
                n_good = j
                break
            if first_converged is None and converged_at(dx2, x2):
                first_converged = j
            previous = F_new
        if n_good == n_steps:  # all accepted: the block's last iterate stands
            commit(values, t_after)
            return first_converged is not None
        st.restore(snap)
        if first_converged is not None:  # the iterates stop there, as when read every time
            n_good = first_converged + 1
        if n_good:
            commit(values[:n_good], run_unread(n_good))
        if first_converged is not None:
            return True
        return careful(n_steps - n_good)

    while info.n_iter < max_iter:
        block = min(sync_every, max_iter - info.n_iter)
        converged = careful(1) if block == 1 else optimistic(block)
        if converged:
            info.converged = True
            break
    info.lipschitz = L
    # prox-gradient residual at the returned codes: a plain step from y = x_old
    st.restart_at_x_old()
    info.residual = st.step_change(L) / max(math.sqrt(st.x_old_norm2()), 1e-30)
    return st.x_old, info
