"""The `tierkeeper` command: one sub-command per module, each exposing `register`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules of tierkeeper.cli, in the order `--help` lists them. Only the one named on the
# command line is imported: the others' dependencies (the local control plane's, the
# restore's) would otherwise sit in the operator's memory.
SUBCOMMANDS = ("crds", "render", "run", "webhook", "restore", "drill", "cluster", "dev")


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="tierkeeper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    named = [name for name in SUBCOMMANDS if args_in[:1] == [name]]
    for name in named or SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    args = parser.parse_args(args_in)
    result: int = args.func(args)
    return result
