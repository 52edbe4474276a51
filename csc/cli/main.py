"""`csc`: one command for every tool, `csc SUBCOMMAND [options]`, and `csc --version`.

Each subcommand is the same code as its console script (`csc learn` is `csc-learn`, `csc
encode-video` is `csc-encode-video`, …) and as its `scripts/*.py` wrapper: they stay as aliases.
A subcommand's module is imported only when it runs, so `csc --help` and `csc --version` are
quick.
"""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

from csc.cli.common import ArgumentParser, fail
from csc.cli.interrupts import stops_on_interrupt

PROG = "csc"

#: subcommand -> (module, what it does): the module's `main(argv)` runs it
SUBCOMMANDS = {
    "learn": ("csc.cli.learn", "learn a complex dictionary from a folder of videos"),
    "analyze": ("csc.cli.analyze", "measure a learned model's bases in pixel space"),
    "factorization": ("csc.cli.factorization",
                      "does a model factor video into amplitude and phase?"),
    "second-layer": ("csc.cli.second_layer", "learn the second layer (motion and form units)"),
    "transfer": ("csc.cli.transfer", "transfer a source pattern's motion to an unseen target"),
    "predict": ("csc.cli.predict", "next-frame prediction on real video"),
    "planted": ("csc.cli.planted", "learn from movies planted with a known dictionary"),
    "encode-video": ("csc.cli.encode_video", "encode whole videos into a Zarr store of codes"),
    "stream": ("csc.cli.stream", "stream a video through the model as it plays"),
    "benchmark": ("csc.cli.benchmark", "benchmark csc.encode against the GEMM floor and peers"),
    "selfcheck": ("csc.selfcheck", "check the GPU path of this installation"),
}


def usage() -> str:
    """The text of `csc --help`."""
    width = max(map(len, SUBCOMMANDS))
    lines = [f"usage: {PROG} SUBCOMMAND [options]   ({PROG} SUBCOMMAND --help for its options)",
             f"       {PROG} --version", "", "subcommands:"]
    lines += [f"  {name:<{width}}  {what}" for name, (_, what) in SUBCOMMANDS.items()]
    return "\n".join(lines)


@stops_on_interrupt(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """Run `csc SUBCOMMAND ...`; 0 for --help and --version, 2 (one line) for no or an unknown
    subcommand, else the subcommand's own exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    # only the first argument is csc's: the rest, --help included, is the subcommand's
    ap = ArgumentParser(prog=PROG, add_help=False)
    ap.add_argument("subcommand", nargs="?")
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--version", action="store_true")
    first, _ = ap.parse_known_args(args[:1])
    if first.help:
        print(usage())
        return 0
    if first.version:
        from csc import __version__

        print(f"{PROG} {__version__}")
        return 0
    if not args:
        return fail(PROG, f"give a subcommand ({', '.join(SUBCOMMANDS)}); {PROG} --help lists "
                          f"them")
    if first.subcommand not in SUBCOMMANDS:
        return fail(PROG, f"unknown subcommand {args[0]!r}; choose one of "
                          f"{', '.join(SUBCOMMANDS)}")
    module = importlib.import_module(SUBCOMMANDS[first.subcommand][0])
    try:
        return int(module.main(args[1:]) or 0)
    except SystemExit as exc:  # argparse's --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 1
