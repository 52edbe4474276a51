#!/usr/bin/env python
"""Next-frame prediction on real video.

The `csc-predict` command (csc.cli.predict); `--help` lists the options.
"""
import sys

from csc.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
