"""Reading a zip archive of `.npy` arrays without trusting it (the checks are listed in
`csc.io`'s docstring): the member list and sizes before anything is decompressed, each header
against its member's size before anything is allocated."""
from __future__ import annotations

import math
import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from csc.io.schema import one_line

#: limits of `read` (see the module docstring). The shipped model has 28 members and unpacks to
#: 3.6 MiB; the largest array of a large model, an online rule's A of (2K, 2K) float64, is
#: 512 MiB at K = 4096 units.
MAX_MEMBERS = 1024
MAX_MEMBER_BYTES = 2**30
MAX_TOTAL_BYTES = 2**32
#: csc stores members uncompressed (expansion 1); deflated, a model's float arrays shrink by
#: about 1.1 and its JSON text (4-byte characters) by about 9, while zeros deflate about 1000
#: times. The first MiB of a file may unpack to anything (tiny files of a few 0-d arrays).
MAX_EXPANSION = 100
_EXPANSION_SLACK = 2**20
#: dtype kinds a member may hold: bool, signed and unsigned integers, floats, complex, text
ARRAY_KINDS = "biufcU"
MEMBER_NAME = re.compile(r"[A-Za-z0-9_]+")
_NPY_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}

def read_archive(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive at `path`, checked as the module docstring says (ValueError
    naming the problem)."""
    with open(path, "rb") as f:  # a file we may not open is an OSError, not a bad model file
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
                _check_members(infos, os.fstat(f.fileno()).st_size)
                return {info.filename[:-len(".npy")]: _read_member(z, info) for info in infos}
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error,
                NotImplementedError) as exc:
            raise ValueError(f"not a readable zip archive ({exc.__class__.__name__}: "
                             f"{one_line(exc)})") from None


def _check_members(infos: list[zipfile.ZipInfo], file_size: int) -> None:
    """Refuse (ValueError) an archive whose member list is not that of a model file, or that
    would unpack to more than the limits, before anything is decompressed."""
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"{len(infos)} members (at most {MAX_MEMBERS})")
    seen = set()
    for info in infos:
        name = info.filename
        if not (name.endswith(".npy") and MEMBER_NAME.fullmatch(name[:-4])):
            raise ValueError(f"member {name!r} is not a <name>.npy array")
        if name in seen:
            raise ValueError(f"member {name!r} appears twice")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ValueError(f"member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"member {name!r} uses compression method {info.compress_type} "
                             f"(csc reads stored or deflated members)")
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"member {name!r} unpacks to {info.file_size} bytes (at most "
                             f"{MAX_MEMBER_BYTES})")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise ValueError(f"members unpack to {total} bytes (at most {MAX_TOTAL_BYTES})")
    if total > MAX_EXPANSION * file_size + _EXPANSION_SLACK:
        raise ValueError(f"members unpack to {total} bytes, {total / file_size:.0f} times the "
                         f"file's {file_size} (at most {MAX_EXPANSION} times: a zip bomb?)")


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """The array of one `.npy` member: its header checked (`_npy_header`) against the member's
    size before the data are read."""
    with z.open(info) as f:
        dtype, shape = _npy_header(f, info.filename)
        size = f.tell() + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if size != info.file_size:
            raise ValueError(f"member {info.filename!r} declares a {dtype} array of shape {shape} "
                             f"({size} bytes with its header) but holds {info.file_size} bytes")
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False)


def _npy_header(f, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, shape) of the `.npy` stream `f`, left at the start of the data; ValueError for a
    malformed header, a format other than 1.0 / 2.0 or a dtype outside `ARRAY_KINDS`."""
    try:
        version = np.lib.format.read_magic(f)
        if version not in _NPY_READERS:
            raise ValueError(f".npy format {version[0]}.{version[1]} (csc reads 1.0 and 2.0)")
        shape, _, dtype = _NPY_READERS[version](f)
    except ValueError as exc:
        raise ValueError(f"member {name!r} has no valid .npy header ({one_line(exc)})") from None
    if (dtype.kind not in ARRAY_KINDS or dtype.hasobject or dtype.fields is not None
            or dtype.subdtype is not None):
        raise ValueError(f"member {name!r} holds dtype {dtype} (csc reads booleans, numbers and "
                         f"text, no objects)")
    if any(n < 0 for n in shape):
        raise ValueError(f"member {name!r} declares shape {shape}")
    return dtype, shape
