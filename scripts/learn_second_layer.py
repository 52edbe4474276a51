#!/usr/bin/env python
"""Learn the second layer (motion and form units) of a learned model.

The `csc-second-layer` command (csc.cli.second_layer); `--help` lists the options.
"""
import sys

from csc.cli.second_layer import main

if __name__ == "__main__":
    sys.exit(main())
