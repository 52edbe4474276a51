"""Command-line tools (installed as console scripts `csc-*`; `scripts/*.py` call the same code)."""
