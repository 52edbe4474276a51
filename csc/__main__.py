"""`python -m csc SUBCOMMAND …`: the `csc` command (`csc.cli.main`)."""
import sys

from csc.cli.main import main

sys.exit(main())
