#!/usr/bin/env python
"""Encoding throughput of csc.encode_video (in-process and on local Dask clusters) against
pymoten's motion-energy pyramid on the same frames.

The benchmark's code is csc.cli.benchmark_encode; `--help` lists the options.
"""
import sys

from csc.cli.benchmark_encode import main

if __name__ == "__main__":
    sys.exit(main())
