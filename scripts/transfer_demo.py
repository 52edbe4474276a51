#!/usr/bin/env python
"""Transform transfer demo.

The `csc-transfer` command (csc.cli.transfer); `--help` lists the options.
"""
import sys

from csc.cli.transfer import main

if __name__ == "__main__":
    sys.exit(main())
