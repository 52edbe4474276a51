#!/usr/bin/env python
"""Amplitude/phase factorisation statistics of a learned model.

The `csc-factorization` command (csc.cli.factorization); `--help` lists the options.
"""
import sys

from csc.cli.factorization import main

if __name__ == "__main__":
    sys.exit(main())
