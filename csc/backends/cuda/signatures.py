"""The kernels a CUDA C source defines, read from its text: each `__global__ void` kernel's name,
parameters (C type as csc names it, name, const-ness of pointees) and whether it is
`extern "C"`. The launcher checks its table against them (`launcher.check_source`), and the
strict CuPy stand-in checks every launch's arguments against them."""
from __future__ import annotations

import re
from typing import NamedTuple

#: C base type (as written in the .cu source) → declared type (without "*").
C_TYPES: dict[str, str] = {"float": "float32", "double": "float64", "int": "int32",
                           "int32_t": "int32", "long long": "int64", "long long int": "int64",
                           "int64_t": "int64"}


class Param(NamedTuple):
    """A parsed kernel parameter: declared type ("float32*", "int32", or the raw C text if the
    type is not one csc uses), name, and whether a pointer's pointee is const."""

    ctype: str
    name: str
    const: bool


class KernelDecl(NamedTuple):
    name: str
    params: tuple[Param, ...]
    extern_c: bool


_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_GLOBAL = re.compile(r"__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*"
                     r"\(([^)]*)\)\s*\{", re.S)
_EXTERN_C_BLOCK = re.compile(r'extern\s+"C"\s*\{')
_EXTERN_C_BEFORE = re.compile(r'extern\s+"C"\s*$')


def _parse_param(text: str) -> Param:
    text = re.sub(r"\b(__restrict__|__restrict|restrict)\b", " ", text)
    n_ptr = text.count("*")
    head, _, _ = text.partition("*")
    tokens = re.findall(r"\w+", text)
    name = tokens[-1] if tokens else ""
    base_tokens = [t for t in re.findall(r"\w+", head if n_ptr else text)
                   if t not in ("const", "volatile")]
    if not n_ptr:
        base_tokens = base_tokens[:-1]  # drop the name
    base = " ".join(base_tokens)
    const = n_ptr > 0 and "const" in re.findall(r"\w+", head)
    ctype = C_TYPES.get(base, base) + "*" * n_ptr
    return Param(ctype, name, const)


def _extern_c_spans(src: str) -> list[tuple[int, int]]:
    spans = []
    for m in _EXTERN_C_BLOCK.finditer(src):
        depth, i = 1, m.end()
        while i < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        spans.append((m.end(), i))
    return spans


def parse_kernel_signatures(source: str) -> dict[str, KernelDecl]:
    """The `__global__ void` kernels defined in CUDA source: name → KernelDecl."""
    src = _COMMENTS.sub(" ", source)
    spans = _extern_c_spans(src)
    out: dict[str, KernelDecl] = {}
    for m in _GLOBAL.finditer(src):
        params_text = m.group(2).strip()
        params = tuple(_parse_param(p) for p in params_text.split(",")) \
            if params_text and params_text != "void" else ()
        extern_c = bool(_EXTERN_C_BEFORE.search(src[:m.start()])) or \
            any(a <= m.start() < b for a, b in spans)
        out[m.group(1)] = KernelDecl(m.group(1), params, extern_c)
    return out
