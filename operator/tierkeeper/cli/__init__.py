"""The `tierkeeper` command: one sub-command per module, each exposing `register`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tierkeeper.cli import cluster, crds, dev, render, restore, run

SUBCOMMANDS = (crds, render, run, restore, cluster, dev)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tierkeeper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
