"""The `tierkeeper` command: one sub-command per module, each exposing `register`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tierkeeper.cli.lean_imports import kubernetes_aio_only

# Modules of tierkeeper.cli, in the order `--help` lists them. Only the one named on the
# command line is imported: the others' dependencies (the local control plane's, the
# restore's) would otherwise sit in the operator's memory.
SUBCOMMANDS = ("crds", "render", "run", "webhook", "restore", "drill", "cluster", "dev")
# The long-lived servers: they use kubernetes.aio alone (cli/lean_imports.py).
SERVERS = ("run", "webhook")


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="tierkeeper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    named = [name for name in SUBCOMMANDS if args_in[:1] == [name]]
    if named and named[0] in SERVERS:
        kubernetes_aio_only()
    for name in named or SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    args = parser.parse_args(args_in)
    result: int = args.func(args)
    return result
