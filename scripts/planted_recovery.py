#!/usr/bin/env python
"""Recovery of planted dictionaries by learning.

The `csc-planted` command (csc.cli.planted); `--help` lists the options.
"""
import sys

from csc.cli.planted import main

if __name__ == "__main__":
    sys.exit(main())
