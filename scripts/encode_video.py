#!/usr/bin/env python
"""Encode whole videos into a Zarr store of codes (amplitude and phase per patch and frame).

The `csc-encode-video` command (csc.cli.encode_video); `--help` lists the options.
"""
import sys

from csc.cli.encode_video import main

if __name__ == "__main__":
    sys.exit(main())
