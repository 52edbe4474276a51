#!/usr/bin/env python
"""Learn a complex dictionary from a folder of videos.

The `csc-learn` command (csc.cli.learn); `--help` lists the options.
"""
import sys

from csc.cli.learn import main

if __name__ == "__main__":
    sys.exit(main())
