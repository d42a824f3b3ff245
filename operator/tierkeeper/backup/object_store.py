"""Restore from the object stores: a new data directory that recovers to a time, or to the
latest archived WAL, when PostgreSQL starts on it.

It runs the packaged object-store.sh (barman-cloud-restore, then barman-cloud-wal-restore
as the restore_command), so the stores and their credentials come from its environment
(BACKUP_PRIMARY_*, BACKUP_OFFSITE_*, BACKUP_SERVER_NAME), never from arguments; the
primary store is read first, the off-site one when the primary fails.

It never writes into a directory that holds anything: a restore makes a new database,
it does not overwrite a live one.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

OBJECT_STORE_SCRIPT_NAME = "object-store.sh"


class StoreRestoreError(Exception):
    """A restore from the stores that could not be carried out; the message says why."""


@dataclass(frozen=True)
class PreparedRestore:
    data_dir: Path
    target_time: datetime | None
    seconds: float


def object_store_script_path() -> Path:
    return Path(str(resources.files("tierkeeper") / "scripts" / OBJECT_STORE_SCRIPT_NAME))


def recovery_settings(target_time: datetime | None) -> dict[str, str]:
    """postgresql.auto.conf lines for the recovery: WAL from the stores, up to the target.

    The new instance must never archive into the stores of the database it came
    from; a deployment that archives again says so on its command line, which
    wins over this file.
    """
    script = object_store_script_path()
    settings = {
        "restore_command": f"sh {script} restore-wal %f %p",
        "recovery_target_action": "promote",
        "archive_mode": "off",
    }
    if target_time is not None:
        settings["recovery_target_time"] = target_time.isoformat()
    return settings


def prepare_restore(
    data_dir: Path, target_time: datetime | None, *, env: Mapping[str, str]
) -> PreparedRestore:
    """Fetch the base backup before target_time (the latest one without a target) into
    data_dir, and set it to recover to target_time (else to the end of the archived WAL)."""
    if target_time is not None and target_time.tzinfo is None:
        raise StoreRestoreError("the target time needs a time zone (e.g. 2026-12-03T10:00:00Z)")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise StoreRestoreError(f"{data_dir} is not empty: a restore only makes a new database")
    started = time.perf_counter()
    args = ["latest"] if target_time is None else ["auto"]
    args.append(str(data_dir))
    if target_time is not None:
        args += ["--target-time", target_time.isoformat()]
    result = subprocess.run(
        ["sh", str(object_store_script_path()), "restore", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StoreRestoreError(
            f"no base backup could be fetched from the stores: {result.stderr.strip()}"
        )
    data_dir.chmod(0o700)
    lines = [
        f"{name} = '{value.replace(chr(39), chr(39) * 2)}'"
        for name, value in recovery_settings(target_time).items()
    ]
    with (data_dir / "postgresql.auto.conf").open("a") as conf:
        conf.write("# tierkeeper restore\n" + "\n".join(lines) + "\n")
    (data_dir / "recovery.signal").touch()
    return PreparedRestore(data_dir, target_time, time.perf_counter() - started)
