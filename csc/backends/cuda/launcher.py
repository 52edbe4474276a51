"""One typed launcher for every CUDA kernel launch (docs/design.md §6).

CuPy's `RawKernel`/`RawModule` functions marshal a Python float as a C `double` and a Python int
as a 64-bit integer, so a kernel declared `(float tau, int K)` silently reads garbage. Every launch
in csc therefore goes through `Launcher`, which checks each keyword argument against a declarative
`Signature` in `KERNELS` before anything reaches the device:

- array arguments: an array (NumPy or CuPy, duck-typed on `.dtype`, `.flags.c_contiguous`,
  `.size`) of exactly the declared dtype, C-contiguous, with the declared number of elements;
- scalar arguments: a Python or NumPy number (not an array, not a bool), converted to exactly the
  declared NumPy scalar type; ints must fit the type (and the declared minimum / choices), floats
  must be finite after conversion;
- no missing or unknown arguments.

It then computes the 1-D grid `ceil(threads / block)` and calls
`function_lookup(name)((grid,), (block,), args)` — the calling convention of
`cupy.RawModule(...).get_function(name)`. Nothing here imports CuPy, so all of it is testable on
a machine without a GPU with a fake `function_lookup`.

`check_source(source)` compares `KERNELS` with the `extern "C" __global__` parameter lists of the
CUDA source (names, types, order, const-ness of inputs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from csc.backends.cuda.signatures import parse_kernel_signatures
from csc.backends.cuda.source import BLOCKS, POINTWISE_UNITS
from csc.priors import SPARSITY_CODE

#: Declared type → NumPy dtype. Array types end with "*".
ARRAY_TYPES: dict[str, type] = {"float32*": np.float32, "float64*": np.float64,
                                "int32*": np.int32, "int64*": np.int64}
SCALAR_TYPES: dict[str, type] = {"float32": np.float32, "float64": np.float64,
                                 "int32": np.int32, "int64": np.int64}
#: Thread indices in the kernels are 32-bit ints.
MAX_THREADS = 2**31 - 1
#: |x| below this converts to a finite value of the float type (float32: halfway between its
#: largest value and 2^128, where rounding goes to infinity).
_ROUNDS_FINITE = {"float32": 2.0**128 - 2.0**103, "float64": float(np.finfo(np.float64).max)}
#: Shared memory a block may use without the per-kernel opt-in (all CUDA GPUs since sm_20).
MAX_SHARED_BYTES = 48 * 1024

Env = Mapping[str, Any]  # argument name → Python int/float (scalars) or the array (arrays)


@dataclass(frozen=True)
class Arg:
    """One kernel parameter.

    ctype: a key of ARRAY_TYPES or SCALAR_TYPES; role: "in" (read-only: `const` in the source),
    "out" or "inout" (arrays written by the kernel); size: expected element count of an array as a
    function of the other arguments (scalars as Python numbers); minimum / choices: allowed values
    of an integer scalar; finite: a float scalar must be finite.
    """

    name: str
    ctype: str
    role: str = "in"
    size: Callable[[Env], int] | None = None
    minimum: int | None = None
    choices: tuple[int, ...] | None = None
    finite: bool = True

    def __post_init__(self) -> None:
        if self.ctype not in ARRAY_TYPES and self.ctype not in SCALAR_TYPES:
            raise ValueError(f"argument {self.name!r}: unknown type {self.ctype!r}")
        if self.role not in ("in", "out", "inout"):
            raise ValueError(f"argument {self.name!r}: unknown role {self.role!r}")
        if not self.is_array and self.role != "in":
            raise ValueError(f"argument {self.name!r}: a scalar can only be an input")

    @property
    def is_array(self) -> bool:
        return self.ctype.endswith("*")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype((ARRAY_TYPES if self.is_array else SCALAR_TYPES)[self.ctype])


@dataclass(frozen=True)
class Signature:
    """A kernel's parameters in source order, its threads per block (the kernel's
    `__launch_bounds__`), its thread count and dynamic shared memory in bytes as functions of
    the arguments."""

    args: tuple[Arg, ...]
    threads: Callable[[Env], int]
    block: int
    shared_mem: Callable[[Env], int] | None
    by_name: dict[str, Arg] = field(init=False, repr=False, compare=False)

    def __init__(self, args: Sequence[Arg], threads: Callable[[Env], int], block: int,
                 shared_mem: Callable[[Env], int] | None = None):
        if isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= 1024:
            raise ValueError(f"block must be an int in [1, 1024], got {block!r}")
        object.__setattr__(self, "args", tuple(args))
        object.__setattr__(self, "threads", threads)
        object.__setattr__(self, "block", block)
        object.__setattr__(self, "shared_mem", shared_mem)
        by_name = {a.name: a for a in self.args}
        if len(by_name) != len(self.args):
            raise ValueError("duplicate argument names in a signature")
        object.__setattr__(self, "by_name", by_name)


class Launch(NamedTuple):
    """What a launch did: grid (g,), block (b,), the converted args in order, the threads and
    the dynamic shared memory in bytes."""

    name: str
    grid: tuple[int]
    block: tuple[int]
    args: tuple
    threads: int
    shared_mem: int = 0


# ------------------------------------------------------------------------------------------------
# The kernels of kernels/fused.cu
# ------------------------------------------------------------------------------------------------
def _n_codes(a: Env) -> int:  # real code entries: N rows × 2K columns
    return a["n_seq"] * a["n_frames"] * 2 * a["K"]


def pointwise_blocks(n_seq: int, n_frames: int, K: int) -> int:
    """Blocks of a pointwise code step: one per tile of POINTWISE_UNITS units × (block /
    POINTWISE_UNITS) frames of one sequence."""
    frames = BLOCKS["pointwise"] // POINTWISE_UNITS
    return n_seq * -(-n_frames // frames) * -(-K // POINTWISE_UNITS)


def chain_stage_bytes(n_frames: int) -> int:
    """Dynamic shared memory of a chain-step block that stages its chains there: pu, pv and s
    (float32) for each frame of each of its chains."""
    return 3 * 4 * n_frames * BLOCKS["chain"]


def chain_stages_in_shared(n_frames: int) -> bool:
    """Whether a chain-step block's staging area and its reduction (4 doubles per thread) fit in
    the shared memory a block gets without opt-in; if not, the chains stage in global memory."""
    return chain_stage_bytes(n_frames) + 4 * 8 * BLOCKS["chain"] <= MAX_SHARED_BYTES


def recon_blocks(N: int, M: int, rows_per_tile: int) -> int:
    """Blocks of a reconstruction step: one thread per (row tile, column)."""
    return -(-(-(-N // rows_per_tile) * M) // BLOCKS["recon"])


def _pointwise_args() -> list[Arg]:
    f = "float32*"
    return [Arg("Y", f, size=_n_codes), Arg("G", f, size=_n_codes), Arg("X_old", f, size=_n_codes),
            Arg("X_new", f, "out", size=_n_codes), Arg("Y_new", f, "out", size=_n_codes),
            Arg("n_seq", "int32", minimum=0), Arg("n_frames", "int32", minimum=1),
            Arg("K", "int32", minimum=0), Arg("tau", "float32"), Arg("beta", "float32"),
            Arg("lam", "float32"), Arg("sigma", "float32"), Arg("kappa", "float32"),
            Arg("partials", "float64*", "out",
                size=lambda a: 4 * pointwise_blocks(a["n_seq"], a["n_frames"], a["K"]))]


def _chain_args() -> list[Arg]:
    f = "float32*"
    n_chains = lambda a: a["n_seq"] * a["K"]  # noqa: E731
    return [Arg("Y", f, size=_n_codes), Arg("G", f, size=_n_codes), Arg("X_old", f, size=_n_codes),
            Arg("X_new", f, "out", size=_n_codes), Arg("Y_new", f, "out", size=_n_codes),
            Arg("stage_global", f, "out",
                size=lambda a: 3 * a["n_frames"] * n_chains(a) if a["stage_in_global"] else 0),
            Arg("n_seq", "int32", minimum=0), Arg("n_frames", "int32", minimum=1),
            Arg("K", "int32", minimum=0), Arg("tau", "float32"), Arg("beta", "float32"),
            Arg("lam", "float32"), Arg("kappa", "float32"),
            Arg("stage_in_global", "int32", choices=(0, 1)),
            Arg("partials", "float64*", "out",
                size=lambda a: 4 * -(-n_chains(a) // BLOCKS["chain"]))]


def _recon_args() -> list[Arg]:
    f = "float32*"
    nm = lambda a: a["N"] * a["M"]  # noqa: E731
    return [Arg("X", f, size=nm), Arg("R_new", f, size=nm), Arg("R_old", f, size=nm),
            Arg("w", f, size=lambda a: a["M"]), Arg("beta", "float32"),
            Arg("E_y", f, "out", size=nm),
            Arg("N", "int32", minimum=0), Arg("M", "int32", minimum=0),
            Arg("rows_per_tile", "int32", minimum=1),
            Arg("partials", "float64*", "out",
                size=lambda a: recon_blocks(a["N"], a["M"], a["rows_per_tile"]))]


def _sums_args() -> list[Arg]:
    return [Arg("code_partials", "float64*", size=lambda a: 4 * a["n_code"]),
            Arg("n_code", "int32", minimum=0),
            Arg("recon_partials", "float64*", size=lambda a: a["n_recon"]),
            Arg("n_recon", "int32", minimum=0),
            Arg("out", "float64*", "out", size=lambda a: 3)]


def _sample_args() -> list[Arg]:
    n_clips = lambda a: a["clip_offset"].size  # noqa: E731
    n_seq = lambda a: a["n_sequences"]  # noqa: E731
    return [Arg("frames", "float32*"), Arg("clip_offset", "int64*"),
            Arg("clip_h", "int32*", size=n_clips), Arg("clip_w", "int32*", size=n_clips),
            Arg("which", "int32*", size=n_seq), Arg("t0", "int32*", size=n_seq),
            Arg("y0", "int32*", size=n_seq), Arg("x0", "int32*", size=n_seq),
            Arg("out", "float32*", "out", size=_n_patch_out),
            Arg("n_sequences", "int32", minimum=0), Arg("n_frames", "int32", minimum=1),
            Arg("patch", "int32", minimum=1)]


def _n_patch_out(a: Env) -> int:
    return a["n_sequences"] * a["n_frames"] * a["patch"] * a["patch"]


def pointwise_kernel(sparsity: str, slowness: str) -> str:
    """Name of the code-step kernel specialised for a pointwise prior ("l1", "cauchy" or
    "gauss" sparsity; "none" or "l2" slowness)."""
    return f"csc_code_step_{sparsity}_{slowness}"


#: The kernel for l1 sparsity with TV (l1) slowness, one thread per chain.
CHAIN_KERNEL = "csc_code_step_l1_tv"

KERNELS: dict[str, Signature] = {
    **{pointwise_kernel(sp, sl): Signature(
        _pointwise_args(), block=BLOCKS["pointwise"],
        threads=lambda a: pointwise_blocks(a["n_seq"], a["n_frames"], a["K"]) * BLOCKS[
            "pointwise"])
       for sp in SPARSITY_CODE for sl in ("none", "l2")},
    CHAIN_KERNEL: Signature(
        _chain_args(), block=BLOCKS["chain"], threads=lambda a: a["n_seq"] * a["K"],
        shared_mem=lambda a: 0 if a["stage_in_global"] else chain_stage_bytes(a["n_frames"])),
    "csc_recon_step": Signature(
        _recon_args(), block=BLOCKS["recon"],
        threads=lambda a: recon_blocks(a["N"], a["M"], a["rows_per_tile"]) * BLOCKS["recon"]),
    "csc_iteration_sums": Signature(_sums_args(), block=BLOCKS["sums"],
                                    threads=lambda a: BLOCKS["sums"]),
    "csc_sample_patches": Signature(_sample_args(), block=BLOCKS["sample"],
                                    threads=_n_patch_out),
}


# ------------------------------------------------------------------------------------------------
# Validation and launch
# ------------------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _convert_scalar(kernel: str, arg: Arg, value: Any) -> tuple[Any, int | float]:
    """(value as the declared NumPy scalar type, value as a Python number)."""
    where = f"{kernel}: argument {arg.name!r}"
    is_int_type = arg.dtype.kind == "i"
    allowed = (int, np.integer) if is_int_type else (int, float, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, allowed):
        kind = "an integer" if is_int_type else "a real number"
        raise TypeError(f"{where} must be {kind} (Python or NumPy scalar, converted to "
                        f"{arg.ctype}), got {_type_name(value)}")
    if is_int_type:
        v = int(value)
        info = np.iinfo(arg.dtype)
        if not info.min <= v <= info.max:
            raise ValueError(f"{where} = {v} does not fit in {arg.ctype}")
        if arg.minimum is not None and v < arg.minimum:
            raise ValueError(f"{where} must be >= {arg.minimum}, got {v}")
        if arg.choices is not None and v not in arg.choices:
            raise ValueError(f"{where} must be one of {arg.choices}, got {v}")
        return arg.dtype.type(v), v
    v = float(value)
    if abs(v) < _ROUNDS_FINITE[arg.ctype]:  # also False for NaN
        return arg.dtype.type(v), v
    with np.errstate(over="ignore"):
        converted = arg.dtype.type(value)
    if arg.finite and not np.isfinite(converted):
        raise ValueError(f"{where} must be finite as {arg.ctype}, got {value!r}")
    return converted, v


def _check_array(kernel: str, arg: Arg, value: Any, array_type: type | tuple | None) -> None:
    where = f"{kernel}: argument {arg.name!r}"
    want = f"a C-contiguous {arg.dtype.name} array"
    is_array = (not isinstance(value, np.generic) and hasattr(value, "dtype")
                and hasattr(value, "size") and hasattr(getattr(value, "flags", None),
                                                       "c_contiguous"))
    if not is_array:
        raise TypeError(f"{where} must be {want}, got {_type_name(value)}")
    if np.dtype(value.dtype) != arg.dtype:
        raise TypeError(f"{where} must be {want}, got {np.dtype(value.dtype).name}")
    if not value.flags.c_contiguous:
        raise TypeError(f"{where} must be {want}, got a non-contiguous {arg.dtype.name} array")
    if array_type is not None and not isinstance(value, array_type):
        raise TypeError(f"{where} must be a device array ({_names(array_type)}), got "
                        f"{_type_name(value)}")


def _names(types: type | tuple) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(f"{t.__module__}.{t.__qualname__}" for t in types)


def _check_block_fits(name: str, block: int, function: Any) -> None:
    """RuntimeError when the compiled kernel cannot run blocks of `block` threads: CuPy's
    `RawKernel.attributes["max_threads_per_block"]` (registers and `__launch_bounds__` included)
    is smaller. A function without attributes (a test double) is not checked."""
    limit = getattr(function, "attributes", {}).get("max_threads_per_block")
    if limit is not None and block > int(limit):
        raise RuntimeError(f"{name}: blocks of {block} threads need more registers than the GPU "
                           f"has per block (the compiled kernel allows {limit})")


class Launcher:
    """`launcher(name, **kwargs)`: validate, convert and launch kernel `name` of `kernels`.

    function_lookup(name) returns a callable `f(grid: tuple, block: tuple, args: tuple,
    shared_mem=bytes)` (CuPy: `RawModule.get_function`); it is called once per kernel name and
    cached. Each kernel runs with its signature's block size. array_type: if given, array
    arguments must be instances of it (e.g. `cupy.ndarray`, so a host NumPy array is refused
    instead of reaching the device).
    """

    def __init__(self, function_lookup: Callable[[str], Callable],
                 kernels: Mapping[str, Signature] | None = None,
                 array_type: type | tuple | None = None):
        self.kernels = KERNELS if kernels is None else kernels
        self.array_type = array_type
        self._lookup = function_lookup
        self._functions: dict[str, Callable] = {}

    def prepare(self, name: str, **kwargs: Any) -> Launch:
        """Everything but the launch: the validated, converted arguments and the grid.

        Raises KeyError for an unknown kernel, TypeError for a missing/unknown argument or a wrong
        type (dtype, layout, scalar kind), ValueError for a wrong value (size, range, finiteness,
        shared memory).
        """
        if name not in self.kernels:
            raise KeyError(f"unknown kernel {name!r}; known: {sorted(self.kernels)}")
        sig = self.kernels[name]
        missing = [a.name for a in sig.args if a.name not in kwargs]
        unknown = sorted(set(kwargs) - set(sig.by_name))
        if missing or unknown:
            parts = ([f"missing argument(s) {missing}"] if missing else []) + \
                    ([f"unknown argument(s) {unknown}"] if unknown else [])
            raise TypeError(f"{name}: {'; '.join(parts)}")
        env: dict[str, Any] = {}
        converted: dict[str, Any] = {}
        for arg in sig.args:  # scalars first: array sizes are functions of them
            if not arg.is_array:
                converted[arg.name], env[arg.name] = _convert_scalar(name, arg, kwargs[arg.name])
        for arg in sig.args:
            if arg.is_array:
                value = kwargs[arg.name]
                _check_array(name, arg, value, self.array_type)
                converted[arg.name] = env[arg.name] = value
        for arg in sig.args:
            if arg.is_array and arg.size is not None:
                expected = int(arg.size(env))
                if int(env[arg.name].size) != expected:
                    raise ValueError(f"{name}: argument {arg.name!r} has {env[arg.name].size} "
                                     f"elements, expected {expected}")
        threads = int(sig.threads(env))
        if not 0 <= threads <= MAX_THREADS:
            raise ValueError(f"{name}: {threads} threads is outside [0, {MAX_THREADS}]")
        shared = int(sig.shared_mem(env)) if sig.shared_mem else 0
        if not 0 <= shared <= MAX_SHARED_BYTES:
            raise ValueError(f"{name}: {shared} bytes of dynamic shared memory is outside "
                             f"[0, {MAX_SHARED_BYTES}]")
        grid = -(-threads // sig.block)
        return Launch(name, (grid,), (sig.block,), tuple(converted[a.name] for a in sig.args),
                      threads, shared)

    def rebind(self, launch: Launch, **changes: Any) -> Launch:
        """`launch` with some arguments replaced, checking only those: the cheap way to repeat a
        launch within a solve (new step sizes, swapped buffers).

        A float scalar is converted and checked as in `prepare`. An array must match the one it
        replaces in dtype, element count, C-contiguity and type. Integer scalars (which size the
        arrays and the grid) cannot be rebound: TypeError, prepare a new launch instead.
        """
        sig = self.kernels[launch.name]
        args = list(launch.args)
        for key, value in changes.items():
            arg = sig.by_name.get(key)
            if arg is None:
                raise TypeError(f"{launch.name}: unknown argument {key!r}")
            i = sig.args.index(arg)
            if arg.is_array:
                _check_array(launch.name, arg, value, self.array_type)
                old = args[i]
                if int(value.size) != int(old.size) or type(value) is not type(old):
                    raise ValueError(f"{launch.name}: argument {key!r} does not match the "
                                     f"prepared array ({value.size} vs {old.size} elements)")
                args[i] = value
            elif arg.dtype.kind == "f":
                args[i] = _convert_scalar(launch.name, arg, value)[0]
            else:
                raise TypeError(f"{launch.name}: integer argument {key!r} sizes the launch; "
                                f"prepare a new one")
        return launch._replace(args=tuple(args))

    def launch(self, launch: Launch) -> Launch:
        """Run a `prepare`d launch; one of zero threads is skipped (CUDA refuses grid 0)."""
        if launch.threads > 0:
            if launch.name not in self._functions:
                function = self._lookup(launch.name)
                _check_block_fits(launch.name, launch.block[0], function)
                self._functions[launch.name] = function
            self._functions[launch.name](launch.grid, launch.block, launch.args,
                                         shared_mem=launch.shared_mem)
        return launch

    def __call__(self, name: str, **kwargs: Any) -> Launch:
        """Validate, convert and launch; see `prepare` for the errors."""
        return self.launch(self.prepare(name, **kwargs))


# ------------------------------------------------------------------------------------------------
# Comparison with the CUDA source (parsed by `csc.backends.cuda.signatures`)
# ------------------------------------------------------------------------------------------------
def check_source(source: str, kernels: Mapping[str, Signature] | None = None) -> list[str]:
    """Differences between `kernels` (default KERNELS) and the kernels in `source`; [] if none.

    Checked per kernel: defined, `extern "C"`, parameter count, and per parameter its name, type
    and order, and that an array is `const` exactly when its role is "in".
    """
    kernels = KERNELS if kernels is None else kernels
    found = parse_kernel_signatures(source)
    problems: list[str] = []
    for name, sig in kernels.items():
        decl = found.get(name)
        if decl is None:
            problems.append(f"{name}: no __global__ kernel of that name in the source")
            continue
        if not decl.extern_c:
            problems.append(f"{name}: not extern \"C\" (its name would be mangled)")
        declared = [(a.name, a.ctype) for a in sig.args]
        source_params = [(p.name, p.ctype) for p in decl.params]
        if declared != source_params:
            problems.append(f"{name}: parameters differ:\n  declared {declared}\n  source   "
                            f"{source_params}")
            continue
        for arg, p in zip(sig.args, decl.params):
            if arg.is_array and p.const != (arg.role == "in"):
                want = "const" if arg.role == "in" else "non-const"
                problems.append(f"{name}: parameter {arg.name!r} should be a {want} pointer "
                                f"(role {arg.role!r})")
    return problems

