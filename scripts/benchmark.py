#!/usr/bin/env python
"""Benchmark csc.encode against the GEMM floor and peer solvers.

The `csc-benchmark` command (csc.cli.benchmark); `--help` lists the options.
"""
import sys

from csc.cli.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
