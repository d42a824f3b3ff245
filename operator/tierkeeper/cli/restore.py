"""`tierkeeper restore`: restore a backup, or drill a restore (`--verify`).

    tierkeeper restore --dump FILE --target DSN [--clean]
    tierkeeper restore --environment ENV --data-dir DIR (--to-time T | --latest)
    tierkeeper restore ENV (--to-time T | --latest) --into NEW [--apply] [-n NAMESPACE]
    tierkeeper restore --verify --source DSN (--backup-dir DIR | --dump FILE) [--scratch DSN] [--json]

The second form restores from the object stores (postgres.backup.objectStore) into a new,
empty data directory, set to recover to time T (or to the latest archived WAL) when
PostgreSQL starts on it. The stores come from the environment: BACKUP_PRIMARY_URL,
_ENDPOINT, _REGION, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _CA_BUNDLE (and BACKUP_OFFSITE_*),
as in the Environment's postgres pod; credentials are never taken as arguments.

The third form is the in-cluster restore: it prints a new Environment NEW whose database
starts from ENV's backups at T (postgres.bootstrap.recovery), or creates it with --apply.
ENV is only read.

Exit codes: 0 done (drill: every table matches), 1 restore failed or the drill
found a difference, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from tierkeeper.backup.object_store import StoreRestoreError, prepare_restore
from tierkeeper.backup.restore import (
    LARGE_OBJECTS,
    DrillReport,
    RestoreError,
    describe,
    drill,
    restore_dump,
)
from tierkeeper.cli.restore_into import run_into


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "restore",
        help="restore a backup dump, or drill a restore with --verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dump", type=Path, help="the dump file to restore (backup.sh's output)")
    parser.add_argument(
        "--target",
        metavar="DSN",
        help="database to restore into (libpq conninfo or URI); created when missing",
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="the target may hold data: drop and recreate the objects the dump contains",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="drill: restore the newest dump into a scratch database, compare row counts "
        "per table with --source, drop the scratch database",
    )
    parser.add_argument("--backup-dir", type=Path, help="directory holding the dumps (--verify)")
    parser.add_argument("--source", metavar="DSN", help="the live database to compare with")
    parser.add_argument(
        "--scratch",
        metavar="DSN",
        help="any database on the server where the scratch database is made "
        "(default: the source's server)",
    )
    parser.add_argument("--json", action="store_true", help="print the drill report as JSON")
    parser.add_argument(
        "--environment",
        metavar="ENV",
        help="restore ENV's database from the object stores (its folder there)",
    )
    parser.add_argument("--data-dir", type=Path, help="a new, empty data directory to restore into")
    parser.add_argument(
        "--to-time",
        type=datetime.fromisoformat,
        metavar="T",
        help="recover to T, an ISO 8601 time with a zone: what was committed by then",
    )
    parser.add_argument("--latest", action="store_true", help="recover to the last archived WAL")
    parser.add_argument(
        "environment_name",
        nargs="?",
        metavar="ENV",
        help="in the cluster: the Environment whose backups NEW starts from (with --into)",
    )
    parser.add_argument("--into", metavar="NEW", help="the new Environment's name")
    parser.add_argument(
        "--apply", action="store_true", help="create NEW instead of printing its manifest"
    )
    parser.add_argument("-n", "--namespace", help="ENV's namespace (default: the context's)")
    parser.add_argument("--kubeconfig", help="the kubeconfig (default: KUBECONFIG, ~/.kube)")
    parser.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"tierkeeper restore: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.environment_name is not None or args.into is not None:
        if args.environment_name is None or args.into is None:
            return _usage("an in-cluster restore needs ENV and --into NEW")
        if (args.to_time is None) == (not args.latest):
            return _usage("ENV --into NEW needs one of --to-time T or --latest")
        return run_into(args)
    if args.environment is not None:
        return _run_store_restore(args)
    if args.verify:
        if args.source is None or (args.backup_dir is None and args.dump is None):
            return _usage("--verify needs --source and one of --backup-dir or --dump")
        if args.target is not None or args.clean:
            return _usage("--target and --clean do not apply to --verify")
        return _run_drill(args)
    if args.dump is None or args.target is None:
        return _usage("restoring needs --dump FILE and --target DSN (or --verify for a drill)")
    try:
        result = restore_dump(args.dump, args.target, clean=args.clean)
    except RestoreError as e:
        print(f"tierkeeper restore: error: {e}", file=sys.stderr)
        return 1
    what = "created and restored" if result.created else "restored"
    print(
        f"{what} {describe(args.target)} from {args.dump.name} in {result.seconds:.1f}s: "
        f"{result.tables} tables, {result.rows} rows, "
        f"{result.counts.get(LARGE_OBJECTS, 0)} large objects"
    )
    return 0


def _run_store_restore(args: argparse.Namespace) -> int:
    if args.data_dir is None or (args.to_time is None) == (not args.latest):
        return _usage("--environment needs --data-dir and one of --to-time T or --latest")
    env = {**os.environ, "BACKUP_SERVER_NAME": args.environment}
    try:
        prepared = prepare_restore(args.data_dir, args.to_time, env=env)
    except StoreRestoreError as e:
        print(f"tierkeeper restore: error: {e}", file=sys.stderr)
        return 1
    target = "the latest archived WAL" if args.latest else args.to_time.isoformat()
    print(
        f"restored {args.environment}'s base backup into {prepared.data_dir} in "
        f"{prepared.seconds:.1f}s; PostgreSQL started on it recovers to {target}, then promotes"
    )
    return 0


def _run_drill(args: argparse.Namespace) -> int:
    try:
        report = drill(
            args.source, backup_dir=args.backup_dir, dump=args.dump, scratch_server_dsn=args.scratch
        )
    except RestoreError as e:
        print(f"tierkeeper restore: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    return 0 if report.ok else 1


def _print_report(report: DrillReport) -> None:
    taken = f" (taken {report.taken_at:%Y-%m-%d %H:%M:%S}Z)" if report.taken_at else ""
    print(f"drill: {report.dump}{taken}")
    if report.error is not None:
        print(f"FAILED: {report.error}")
        return
    print(f"restored into a scratch database in {report.restore_seconds:.1f}s")
    mismatched = {m.table for m in report.mismatches}
    width = max((len(name) for name in report.source.keys() | report.restored.keys()), default=5)
    print(f"  {'table':<{width}}  {'source':>12}  {'restored':>12}")
    for name in sorted(report.source.keys() | report.restored.keys()):
        source = report.source.get(name)
        restored = report.restored.get(name)
        mark = "  MISMATCH" if name in mismatched else ""
        print(
            f"  {name:<{width}}  {'missing' if source is None else source:>12}"
            f"  {'missing' if restored is None else restored:>12}{mark}"
        )
    if report.ok:
        print("OK: every table matches the source")
    else:
        print(f"FAILED: {len(mismatched)} table(s) differ from the source")
