"""A strict stand-in for CuPy, so the GPU path's Python runs (and fails as on a GPU) without one.

`install()` puts a module-like namespace in `sys.modules["cupy"]` whose `ndarray` wraps a NumPy
array (host memory) and behaves as CuPy's does where csc can tell the difference:

- no implicit conversion: `np.asarray(x)` raises TypeError (CuPy's message); use `x.get()`,
  `cupy.asnumpy(x)` or `csc.backends.backend.to_numpy(x)`;
- a NumPy ufunc or function called on stand-in arrays runs the stand-in's function of the same
  name (CuPy's `__array_ufunc__` / `__array_function__` rules); one the namespace lacks is a
  TypeError;
- mixing with NumPy arrays is refused as CuPy refuses it: in operators, ufuncs and functions
  (TypeError "Unsupported type <class 'numpy.ndarray'>"), and in `x[basic index] = numpy array`
  (ValueError, as CuPy's gh-2079); `cupy.asarray/array` copy host arrays in, advanced-index
  assignment and 0-d NumPy values are accepted, and `cupy.sum(numpy_array)` (like the other
  reductions CuPy forwards to the array's method) runs on the host, as in CuPy;
- reductions and scalar indexing give 0-d arrays, never NumPy scalars; `float(x)`, `int(x)`,
  `bool(x)` of a one-element array work (a synchronisation in CuPy).

The `cuda` part (devices, streams, `RawModule` checked against the kernels' C parameter lists and
run through the host emulation of `csc.testing.host_kernels`) is `csc.testing.strict_cuda`.
Numbers are computed by NumPy, so results equal the CPU's up to the kernels' float32 arithmetic.
"""
from __future__ import annotations

import contextlib
import functools
import sys
import types
from typing import Any, Callable, Iterator

import numpy as np

from csc.testing.cupy_names import FUNCTIONS

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
             "construct a NumPy array explicitly.")


def _unsupported(x: Any) -> TypeError:
    return TypeError(f"Unsupported type {type(x)}")


# ------------------------------------------------------------------------------------------------
# Unwrapping arguments and wrapping results
# ------------------------------------------------------------------------------------------------
def _unwrap(x: Any, *, sequences: bool = True) -> Any:
    """The NumPy value behind a stand-in argument. A NumPy array is refused (TypeError, as CuPy
    refuses implicit host → device transfers); sequences are unwrapped element by element, or
    refused when `sequences` is False (CuPy's ufuncs take arrays and scalars only)."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise _unsupported(x)
    if isinstance(x, (list, tuple)):
        if not sequences:
            raise _unsupported(x)
        return type(x)(_unwrap(v) for v in x)
    return x


def _wrap(r: Any) -> Any:
    """A NumPy result as the stand-in's: arrays and NumPy scalars (CuPy has none: 0-d arrays)
    become `ndarray`; tuples and lists element by element; anything else unchanged."""
    if isinstance(r, np.ndarray):
        return ndarray._wrap(r)
    if isinstance(r, np.generic):
        return ndarray._wrap(np.asarray(r))
    if isinstance(r, tuple) and not hasattr(r, "_fields"):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    if hasattr(r, "_fields"):  # NamedTuple results (np.linalg.eigh, svd)
        return type(r)(*(_wrap(v) for v in r))
    return r


def _call(fn: Callable, args: tuple, kwargs: dict, *, sequences: bool = True) -> Any:
    """fn on the unwrapped arguments, the result wrapped; `out=` returns the given stand-in."""
    out = kwargs.get("out")
    if isinstance(out, tuple) and len(out) == 1:
        out = out[0]
    result = fn(*(_unwrap(a, sequences=sequences) for a in args),
                **{k: _unwrap(v, sequences=sequences or k == "out") for k, v in kwargs.items()})
    if isinstance(out, ndarray) and result is out._a:
        return out
    return _wrap(result)


class ufunc:
    """A NumPy ufunc on stand-in arrays and scalars; NumPy arrays and lists: TypeError."""

    def __init__(self, np_ufunc: np.ufunc):
        self._u = np_ufunc
        self.__name__ = np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def __call__(self, *args, **kwargs):
        return _call(self._u, args, kwargs, sequences=False)

    def reduce(self, *args, **kwargs):
        return _call(self._u.reduce, args, kwargs, sequences=False)

    def accumulate(self, *args, **kwargs):
        return _call(self._u.accumulate, args, kwargs, sequences=False)

    def outer(self, *args, **kwargs):
        return _call(self._u.outer, args, kwargs, sequences=False)

    def at(self, a, indices, b=None):
        args = (indices,) if b is None else (indices, b)
        return self._u.at(_unwrap(a), *(_index(i) for i in args[:1]), *map(_unwrap, args[1:]))

    def __repr__(self) -> str:
        return f"<strict_cupy ufunc {self.__name__!r}>"


def _function(np_fn: Callable, name: str | None = None, *, host_methods: bool = False) -> Callable:
    """A NumPy function on stand-in arrays. host_methods: like CuPy's reductions that just call
    `a.<name>(...)`, a NumPy first argument runs NumPy's method on the host (CuPy does that)."""

    @functools.wraps(np_fn)
    def fn(*args, **kwargs):
        if host_methods and args and isinstance(args[0], np.ndarray):
            return np_fn(*args, **kwargs)
        return _call(np_fn, args, kwargs)

    fn.__module__ = "cupy"
    if name:
        fn.__name__ = fn.__qualname__ = name
    return fn


def _index(key: Any) -> Any:
    """An index with stand-in arrays replaced by their NumPy arrays (NumPy index arrays are
    accepted, as CuPy copies them to the device)."""
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    return key


def _is_advanced(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (ndarray, np.ndarray, list)) for k in keys)


class _Flags:
    def __init__(self, a: np.ndarray):
        self.c_contiguous = bool(a.flags.c_contiguous)
        self.f_contiguous = bool(a.flags.f_contiguous)
        self.owndata = bool(a.flags.owndata)

    def __getitem__(self, name: str) -> bool:
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[name]


class _Memory:
    """`x.data`: `.ptr`, the address of the host buffer standing for device memory."""

    def __init__(self, a: np.ndarray):
        self.ptr = int(a.__array_interface__["data"][0])


# ------------------------------------------------------------------------------------------------
# The array
# ------------------------------------------------------------------------------------------------
class ndarray:
    """A "device" array: a NumPy array that only explicit transfers let out or in.

    `ndarray(shape, dtype=float)` makes an uninitialised one, like `cupy.ndarray`.
    """

    __slots__ = ("_a", "__weakref__")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("strict_cupy.ndarray: memptr/strides are not emulated")
        self._a = np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _wrap(cls, a: np.ndarray) -> ndarray:
        obj = object.__new__(cls)
        obj._a = a
        return obj

    # --- conversions CuPy refuses or allows
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def get(self, stream=None, order="C", out=None, blocking=True) -> np.ndarray:
        """A NumPy copy (the device → host transfer)."""
        if out is not None:
            if not isinstance(out, np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr: np.ndarray, stream=None) -> None:
        """Copy a NumPy array of the same shape and dtype in (host → device)."""
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self._a.shape or arr.dtype != self._a.dtype:
            raise ValueError("Shape or dtype mismatch")
        self._a[...] = arr

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def __complex__(self) -> complex:
        return complex(self._scalar())

    def __bool__(self) -> bool:
        return bool(self._a)  # NumPy's rule (and CuPy's): only one-element arrays

    def _scalar(self):
        if self._a.size != 1:
            raise TypeError("only length-1 arrays can be converted to Python scalars")
        return self._a.reshape(())[()]

    def __repr__(self) -> str:
        return repr(self._a)

    def __str__(self) -> str:
        return str(self._a)

    def __format__(self, spec: str) -> str:
        return format(self._a if self._a.ndim else self._a[()], spec)

    def __reduce__(self):
        return (_array_from_host, (self.get(),))

    # --- the NumPy protocols, as CuPy implements them
    def __array_ufunc__(self, np_ufunc, method, *inputs, **kwargs):
        fn = getattr(_module, np_ufunc.__name__, None)
        if not isinstance(fn, ufunc):
            return NotImplemented
        for x in inputs + tuple(kwargs.get("out", ())):
            if not (isinstance(x, (ndarray, np.ndarray, np.generic, int, float, complex, bool))):
                return NotImplemented
        if "out" in kwargs:
            out = kwargs["out"]
            if len(out) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            kwargs["out"] = out[0]
        return fn(*inputs, **kwargs) if method == "__call__" else \
            getattr(fn, method)(*inputs, **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        module: Any = _module
        try:
            for part in func.__module__.split(".")[1:]:
                module = getattr(module, part)
            fn = getattr(module, func.__name__)
        except AttributeError:
            return NotImplemented
        if fn is func or not all(issubclass(t, (ndarray, np.ndarray)) for t in types_):
            return NotImplemented
        return fn(*args, **kwargs)

    # --- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    ndim = property(lambda self: self._a.ndim)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a))
    data = property(lambda self: _Memory(self._a))
    T = property(lambda self: ndarray._wrap(self._a.T))
    device = property(lambda self: _module.cuda.Device(0))

    @property
    def real(self) -> ndarray:
        return ndarray._wrap(self._a.real)

    @real.setter
    def real(self, value) -> None:
        self._a.real = _unwrap(value)

    @property
    def imag(self) -> ndarray:
        return ndarray._wrap(self._a.imag)

    @imag.setter
    def imag(self, value) -> None:
        self._a.imag = _unwrap(value)

    # --- container
    def __len__(self) -> int:
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self) -> Iterator[ndarray]:
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __getitem__(self, key) -> ndarray:
        key = _index(key)
        r = self._a[key]
        if isinstance(r, np.generic):  # a 0-d view, as CuPy's, not a NumPy scalar
            keys = key if isinstance(key, tuple) else (key,)
            r = self._a[keys + (Ellipsis,)] if Ellipsis not in keys else np.asarray(r)
        return ndarray._wrap(r)

    def __setitem__(self, key, value) -> None:
        if isinstance(value, np.ndarray) and value.ndim and not _is_advanced(key):
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        if isinstance(value, (list, tuple)) and not _is_advanced(key):
            raise _unsupported(value)
        self._a[_index(key)] = value._a if isinstance(value, ndarray) else value

    # --- methods (NumPy's, on the wrapped array; arrays in and out as the stand-in's)
    def fill(self, value) -> None:
        if isinstance(value, np.ndarray) and value.ndim:
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a.fill(_unwrap(value))

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def __copy__(self) -> ndarray:
        return self.copy()

    def __deepcopy__(self, memo) -> ndarray:
        return self.copy()


def _method(name: str) -> Callable:
    np_method = getattr(np.ndarray, name)

    def method(self, *args, **kwargs):
        return _call(np_method, (self, *args), kwargs)

    method.__name__ = method.__qualname__ = name
    return method


for _name in ("copy", "reshape", "astype", "sum", "prod", "max", "min", "mean", "var", "std",
              "ravel", "flatten", "conj", "conjugate", "transpose", "swapaxes", "squeeze", "take",
              "clip", "all", "any", "argmax", "argmin", "cumsum", "dot", "nonzero", "repeat",
              "round", "view", "sort", "argsort", "diagonal", "trace"):
    setattr(ndarray, _name, _method(_name))


def _operator(np_ufunc: np.ufunc, reflected: bool = False, inplace: bool = False) -> Callable:
    def op(self, other):
        if reflected:
            return _module_ufunc(np_ufunc)(other, self)
        if inplace:
            return _module_ufunc(np_ufunc)(self, other, out=self)
        return _module_ufunc(np_ufunc)(self, other)

    return op


def _module_ufunc(np_ufunc: np.ufunc) -> ufunc:
    return getattr(_module, np_ufunc.__name__)


for _op, _u in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                ("mod", np.remainder), ("pow", np.power), ("and", np.bitwise_and),
                ("or", np.bitwise_or), ("xor", np.bitwise_xor), ("lshift", np.left_shift),
                ("rshift", np.right_shift)):
    setattr(ndarray, f"__{_op}__", _operator(_u))
    setattr(ndarray, f"__r{_op}__", _operator(_u, reflected=True))
    setattr(ndarray, f"__i{_op}__", _operator(_u, inplace=True))
for _op, _u in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)):
    setattr(ndarray, f"__{_op}__", _operator(_u))
for _op, _u in (("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                ("invert", np.invert)):
    setattr(ndarray, f"__{_op}__", (lambda u: lambda self: _module_ufunc(u)(self))(_u))
ndarray.__matmul__ = lambda self, other: _module.matmul(self, other)  # type: ignore
ndarray.__rmatmul__ = lambda self, other: _module.matmul(other, self)  # type: ignore
ndarray.__imatmul__ = lambda self, other: _module.matmul(self, other, out=self)  # type: ignore


# ------------------------------------------------------------------------------------------------
# The namespace
# ------------------------------------------------------------------------------------------------
def asarray(a, dtype=None, order=None, *, blocking=False) -> ndarray:
    """A stand-in array of `a` (a stand-in array, a NumPy array or nested sequences): `a` itself
    when it already is one of that dtype, else a copy (host → device for NumPy input)."""
    if isinstance(a, ndarray):
        if (dtype is None or np.dtype(dtype) == a.dtype) and order in (None, "K", "A"):
            return a
        return ndarray._wrap(np.asarray(a._a, dtype=dtype, order=order or "K"))
    return ndarray._wrap(np.array(_unwrap_nested(a), dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *,
          blocking=False) -> ndarray:
    """Like `cupy.array`: a copy unless copy=False allows the same array back."""
    if isinstance(obj, ndarray) and copy is False:
        return asarray(obj, dtype)
    host = obj._a if isinstance(obj, ndarray) else _unwrap_nested(obj)
    return ndarray._wrap(np.array(host, dtype=dtype, order=order, copy=True, ndmin=ndmin))


def _array_from_host(a: np.ndarray) -> ndarray:
    return array(a)


def _unwrap_nested(obj: Any) -> Any:
    """Sequences holding stand-in arrays (CuPy accepts them in `array`) as host values."""
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, (list, tuple)):
        return [_unwrap_nested(v) for v in obj]
    return obj


def asnumpy(a, stream=None, order="C", out=None, blocking=True) -> np.ndarray:
    """A NumPy array of `a` (a copy for a stand-in array; NumPy input as it is)."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args) -> types.ModuleType:
    """The stand-in namespace if any argument is a stand-in array, else numpy."""
    return _module if any(isinstance(a, ndarray) for a in args) else np


def ascontiguousarray(a, dtype=None) -> ndarray:
    if not isinstance(a, ndarray):
        raise _unsupported(a)
    return ndarray._wrap(np.ascontiguousarray(a._a, dtype=dtype))


#: `cupy.fft` and `cupy.linalg` functions NumPy also has (CuPy 13).
FFT = ("fft", "fft2", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifft2", "ifftn", "ifftshift",
       "ihfft", "irfft", "irfft2", "irfftn", "rfft", "rfft2", "rfftfreq", "rfftn")
LINALG = ("cholesky", "cond", "det", "eig", "eigh", "eigvals", "eigvalsh", "inv", "lstsq",
          "matrix_power", "matrix_rank", "norm", "pinv", "qr", "slogdet", "solve", "svd",
          "tensorinv", "tensorsolve")
#: CuPy's versions of these just call `a.<name>(...)`: a NumPy array runs on the host.
HOST_METHOD_FUNCTIONS = ("sum", "prod", "mean", "var", "std", "max", "amax", "min", "amin",
                         "argmax", "argmin")
#: Names passed through from NumPy unchanged (types, constants, dtype helpers).
PASSTHROUGH = ("float16", "float32", "float64", "complex64", "complex128", "int8", "int16",
               "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool_", "dtype",
               "finfo", "iinfo", "newaxis", "pi", "inf", "nan", "e", "can_cast",
               "promote_types", "integer", "floating", "complexfloating", "number", "generic")


class _Random:
    """`cupy.random`: generators whose draws land on the "device" (NumPy's generators)."""

    class Generator:
        def __init__(self, np_generator: np.random.Generator):
            self._g = np_generator

        def __getattr__(self, name: str):
            return _function(getattr(self._g, name), name)

    def default_rng(self, seed=None) -> _Random.Generator:
        return _Random.Generator(np.random.default_rng(seed))

    def __getattr__(self, name: str):
        return _function(getattr(np.random, name), name)


def _build_module() -> types.ModuleType:
    mod = types.ModuleType("cupy", __doc__)
    mod.__file__ = __file__
    mod.__version__ = "13.0.0+strict"
    mod.ndarray = ndarray
    mod.ufunc = ufunc
    for name in dir(np):
        if isinstance(getattr(np, name), np.ufunc):
            setattr(mod, name, ufunc(getattr(np, name)))
    for name in FUNCTIONS:
        if hasattr(np, name):  # NumPy 2.5 dropped some aliases (row_stack); CuPy keeps them
            setattr(mod, name, _function(getattr(np, name), name))
    for sub, names in (("fft", FFT), ("linalg", LINALG)):
        target = types.ModuleType(f"cupy.{sub}")
        for name in names:
            setattr(target, name, _function(getattr(getattr(np, sub), name), name))
        setattr(mod, sub, target)
    mod.linalg.LinAlgError = np.linalg.LinAlgError
    for name in HOST_METHOD_FUNCTIONS:
        setattr(mod, name, _function(getattr(np, name), name, host_methods=True))
    for name in PASSTHROUGH:
        setattr(mod, name, getattr(np, name))
    for fn in (asarray, array, asnumpy, get_array_module, ascontiguousarray):
        setattr(mod, fn.__name__, fn)
    mod.random = _Random()
    return mod


_module = _build_module()


def module() -> types.ModuleType:
    """The stand-in namespace (what `import cupy` gives under `install()`), with `cuda` and
    `RawModule` attached."""
    from csc.testing import strict_cuda

    strict_cuda.attach(_module)
    return _module


# ------------------------------------------------------------------------------------------------
# Installing it as `cupy`
# ------------------------------------------------------------------------------------------------
def _reset_csc_gpu_state() -> None:
    """Forget what csc cached about the GPU (compiled module, launcher, the once-logged backend
    choice), so the next GPU call starts afresh."""
    from csc.backends import backend
    from csc.backends.cuda import ops

    ops._state.clear()
    backend._log_once.cache_clear()


@contextlib.contextmanager
def install() -> Iterator[types.ModuleType]:
    """Within the block `import cupy` gives the stand-in (also `cupy.cuda`, `cupy.fft`, ...) and
    csc's GPU state starts empty; afterwards `sys.modules` and that state are as before.

    Usable as `with install() as cupy:` or through the pytest fixture `strict_cupy`.
    """
    mod = module()
    names = {"cupy": mod, "cupy.fft": mod.fft, "cupy.linalg": mod.linalg, "cupy.cuda": mod.cuda,
             "cupy.cuda.runtime": mod.cuda.runtime, "cupy.cuda.compiler": mod.cuda.compiler}
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(names)
    _reset_csc_gpu_state()
    try:
        yield mod
    finally:
        _reset_csc_gpu_state()
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


try:  # a pytest fixture when pytest is there (tests import it from here)
    import pytest

    @pytest.fixture
    def strict_cupy() -> Iterator[types.ModuleType]:
        """The stand-in installed as `cupy` for one test (see `install`)."""
        with install() as mod:
            yield mod
except ImportError:  # pragma: no cover
    pass


__all__ = ["ndarray", "ufunc", "asarray", "array", "asnumpy", "get_array_module", "install",
           "module"]
