"""The backup script the CronJob runs, and how its dump files are named.

The script itself is package data (`tierkeeper/scripts/backup.sh`): the CronJob
renderer puts it into the dump Job's command, and the data tests run the very same
file against a real PostgreSQL.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

BACKUP_SCRIPT_NAME = "backup.sh"

# `<db>-YYYYmmddTHHMMSSZ.dump`, as backup.sh writes them (UTC). Temporary files
# start with a dot and never end in `.dump`, so they never match.
DUMP_NAME = re.compile(r"^(?P<prefix>[A-Za-z0-9_.-]+)-(?P<stamp>\d{8}T\d{6}Z)\.dump$")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


@functools.cache
def backup_script() -> str:
    """The text of the backup script, as shipped in the package. Read once: every render of
    an Environment with builtin backups puts it into the CronJob, and the package's file
    does not change under a running process."""
    script = resources.files("tierkeeper") / "scripts" / BACKUP_SCRIPT_NAME
    return script.read_text("utf-8")


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def dump_prefix(database: str) -> str:
    """The file-name prefix backup.sh uses for a database: each byte of the UTF-8
    name outside `[A-Za-z0-9_.-]` becomes `_` (as `tr -c` does)."""
    return "".join(chr(b) if b in _SAFE else "_" for b in database.encode())


@dataclass(frozen=True)
class Dump:
    """One complete dump file written by backup.sh."""

    path: Path
    prefix: str
    taken_at: datetime


def parse_dump_name(path: Path) -> Dump | None:
    """The dump a file name stands for, or None when it is not one of ours."""
    match = DUMP_NAME.match(path.name)
    if match is None:
        return None
    try:
        taken_at = datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return Dump(path=path, prefix=match["prefix"], taken_at=taken_at)


def list_dumps(backup_dir: Path, database: str | None = None) -> list[Dump]:
    """The dumps in a backup directory, oldest first; only one database's if given."""
    dumps = []
    for path in backup_dir.iterdir():
        dump = parse_dump_name(path)
        if dump is None or not path.is_file() or path.is_symlink():
            continue
        if database is not None and dump.prefix != dump_prefix(database):
            continue
        dumps.append(dump)
    return sorted(dumps, key=lambda d: (d.taken_at, d.path.name))
