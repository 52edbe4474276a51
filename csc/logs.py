"""Logging helpers shared by the run and the cluster code."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator


@contextlib.contextmanager
def logger_level(name: str, level: int) -> Iterator[logging.Logger]:
    """The logger `name` at `level` for the block, then at its own level again."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield logger
    finally:
        logger.setLevel(previous)
