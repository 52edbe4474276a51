#!/usr/bin/env python
"""Stream a video through the model as it plays.

The `csc-stream` command (csc.cli.stream); `--help` lists the options.
"""
import sys

from csc.cli.stream import main

if __name__ == "__main__":
    sys.exit(main())
