#!/usr/bin/env python
"""Measure a learned model's bases in pixel space.

The `csc-analyze` command (csc.cli.analyze); `--help` lists the options.
"""
import sys

from csc.cli.analyze import main

if __name__ == "__main__":
    sys.exit(main())
