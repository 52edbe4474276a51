"""Sizes that cannot fit: refused in one line before the work starts, not by a MemoryError."""
from __future__ import annotations

import os


def physical_memory() -> int:
    """Bytes of physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _size(nbytes: float) -> str:
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes:.0f} bytes"


def require_memory(nbytes: float, what: str) -> None:
    """ValueError naming `what` (the options at fault) when `nbytes` exceed the machine's
    physical memory."""
    have = physical_memory()
    if nbytes > have:
        raise ValueError(f"{what} would need about {_size(nbytes)} of memory; this machine has "
                         f"{_size(have)}")
