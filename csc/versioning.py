"""Which csc this process runs: its version and a digest of its source, so that work spread
over processes (Dask workers) can refuse a worker running another csc."""
from __future__ import annotations

import hashlib
from pathlib import Path

#: csc's version (`csc.__version__`; setup.py states it too)
__version__ = "0.1.0"

#: this process's fingerprint, computed on first use
_FINGERPRINT: str | None = None


def code_fingerprint() -> str:
    """"<version> <sha256 of the csc package's Python sources, first 16 hex digits>": equal in
    two processes exactly when they run the same csc (a modified copy of the same version
    differs)."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        root = Path(__file__).parent
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        _FINGERPRINT = f"{__version__} {h.hexdigest()[:16]}"
    return _FINGERPRINT
