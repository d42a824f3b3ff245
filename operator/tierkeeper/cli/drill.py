"""`tierkeeper drill ENV`: a disaster-recovery drill now, with your own kubeconfig; the
same as `kubectl tierkeeper drill ENV`. Builtin PostgreSQL: a Job from the Environment's
drill CronJob (postgres.backup.drill), whose pod restores the object store's latest backup
into a scratch instance. CloudNativePG: the operator restores it into a scratch Cluster
ENV-drill (asked for by the Environment's tierkeeper.dev/drill annotation), and deletes
it after the checks. Either checks the copy and writes the result (finishedAt, result,
rtoSeconds, message) to the ConfigMap ENV-drill.

Without an object store the backups are dumps: drill them with
`tierkeeper restore --verify --source DSN --backup-dir DIR`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tierkeeper.plugin.cli import main as plugin_main


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "drill",
        help="start a restore drill of an Environment's backups now",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("environment", metavar="ENV", help="the Environment to drill")
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--context", help="kubeconfig context to use")
    parser.add_argument("--kubeconfig", type=Path, help="path to the kubeconfig file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    argv = ["drill", args.environment]
    for flag, value in (
        ("--namespace", args.namespace),
        ("--context", args.context),
        ("--kubeconfig", args.kubeconfig),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return plugin_main(argv)
