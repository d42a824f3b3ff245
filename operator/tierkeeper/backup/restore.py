"""Restoring backup.sh's dumps, and the restore drill that proves a backup is good.

- `restore_dump` restores one dump into a target database: a missing database
  is created (from template0); an existing one must be empty unless `clean` is
  asked for, in which case the objects the dump contains are dropped and
  recreated. The restore runs in a single transaction, so a failure leaves the
  target as it was.
- `drill` restores the newest dump of a database into a scratch database,
  compares the exact row count of every table (and the number of large
  objects) with the source, and drops the scratch database again.

The restore itself is `pg_restore` (PostgreSQL's client tools must be on PATH,
at least as new as the server that was dumped); everything else is psycopg.
Passwords never go on a command line (they are handed over in PGPASSWORD) and
never into a message.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from tierkeeper.backup.dumps import Dump, list_dumps, parse_dump_name

LARGE_OBJECTS = "(large objects)"
MAINTENANCE_DATABASES = ("postgres", "template1")
SCRATCH_PREFIX = "tierkeeper_drill_"

_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema')"


class RestoreError(Exception):
    """A restore or a drill that could not be carried out; the message says why."""


# --- connection strings ---------------------------------------------------------


def database_of(dsn: str) -> str:
    """The database a DSN names (or PGDATABASE); a restore needs to know it."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as e:
        raise RestoreError(f"invalid connection string: {e}") from e
    name = params.get("dbname") or os.environ.get("PGDATABASE")
    if not name:
        raise RestoreError(
            "the connection string names no database: add dbname=NAME (or /NAME to a URI)"
        )
    return str(name)


def describe(dsn: str) -> str:
    """`host:port/dbname`, for messages (no password)."""
    params = conninfo_to_dict(dsn)
    host = params.get("host") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    return f"{host}:{port}/{params.get('dbname') or os.environ.get('PGDATABASE', '')}"


def with_database(dsn: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return make_conninfo(dsn, dbname=dbname)


def _connect_maintenance(dsn: str) -> psycopg.Connection[TupleRow]:
    """An autocommit connection to a maintenance database on the DSN's server."""
    errors = []
    for name in MAINTENANCE_DATABASES:
        try:
            return psycopg.connect(with_database(dsn, name), autocommit=True)
        except psycopg.OperationalError as e:
            errors.append(f"{name}: {str(e).strip()}")
    raise RestoreError(f"cannot connect to the server of {describe(dsn)}: " + "; ".join(errors))


# --- what a database holds --------------------------------------------------------


def row_counts(dsn: str) -> dict[str, int]:
    """Exact row count of every user table (`schema.table`), and of large objects."""
    counts: dict[str, int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p')"
            f" AND n.nspname NOT IN {_SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%'"
            " ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            row = conn.execute(query).fetchone()
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0
        row = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
        counts[LARGE_OBJECTS] = int(row[0]) if row else 0
    return counts


def _user_relations(conn: psycopg.Connection[TupleRow]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE n.nspname NOT IN {_SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%'"
    ).fetchone()
    return int(row[0]) if row else 0


# --- restore ------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreResult:
    database: str
    created: bool
    seconds: float
    counts: dict[str, int]

    @property
    def tables(self) -> int:
        return sum(1 for name in self.counts if name != LARGE_OBJECTS)

    @property
    def rows(self) -> int:
        return sum(n for name, n in self.counts.items() if name != LARGE_OBJECTS)


def _pg_restore() -> str:
    found = shutil.which("pg_restore")
    if found is None:
        raise RestoreError("pg_restore not found on PATH: install the PostgreSQL client tools")
    return found


def _libpq_env(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password, and an environment carrying the password."""
    params = conninfo_to_dict(dsn)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def check_archive(dump: Path) -> None:
    """Fail early, before touching any database, when a file is no readable dump."""
    if not dump.is_file():
        raise RestoreError(f"dump {dump} does not exist")
    result = subprocess.run(
        [_pg_restore(), "--list", str(dump)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RestoreError(f"{dump} is not a readable pg_dump archive: {result.stderr.strip()}")


def restore_dump(dump: Path, target_dsn: str, *, clean: bool = False) -> RestoreResult:
    """Restore one dump into the database the target DSN names (see the module doc)."""
    check_archive(dump)
    database = database_of(target_dsn)
    target_dsn = with_database(target_dsn, database)
    created = False
    with _connect_maintenance(target_dsn) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if exists.fetchone() is None:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(database))
            )
            created = True
    if not created and not clean:
        with psycopg.connect(target_dsn, autocommit=True) as conn:
            relations = _user_relations(conn)
        if relations:
            raise RestoreError(
                f"database {describe(target_dsn)} is not empty ({relations} relations): "
                "pass --clean to drop and recreate the objects the dump contains, "
                "or restore into a new database"
            )

    conninfo, env = _libpq_env(target_dsn)
    argv = [
        _pg_restore(),
        f"--dbname={conninfo}",
        "--no-owner",
        "--exit-on-error",
        "--single-transaction",
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    started = time.monotonic()
    result = subprocess.run(
        [*argv, str(dump)], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        if created:
            _drop_database(target_dsn, database)
        aftermath = "the database it created is dropped" if created else "the database is unchanged"
        raise RestoreError(
            f"pg_restore of {dump.name} into {describe(target_dsn)} failed "
            f"(exit {result.returncode}); {aftermath}:\n{result.stderr.strip()}"
        )
    return RestoreResult(
        database=database, created=created, seconds=seconds, counts=row_counts(target_dsn)
    )


def _drop_database(dsn: str, database: str) -> None:
    with _connect_maintenance(dsn) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


# --- the drill ----------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    table: str
    source: int | None  # None: the table is missing on that side
    restored: int | None


@dataclass
class DrillReport:
    dump: Path
    taken_at: datetime | None
    source: dict[str, int] = field(default_factory=dict)
    restored: dict[str, int] = field(default_factory=dict)
    restore_seconds: float = 0.0
    error: str | None = None

    @property
    def mismatches(self) -> list[Mismatch]:
        return [
            Mismatch(name, self.source.get(name), self.restored.get(name))
            for name in sorted(self.source.keys() | self.restored.keys())
            if self.source.get(name) != self.restored.get(name)
        ]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "dump": str(self.dump),
            "takenAt": self.taken_at.isoformat() if self.taken_at else None,
            "restoreSeconds": round(self.restore_seconds, 3),
            "error": self.error,
            "tables": {
                name: {"source": self.source.get(name), "restored": self.restored.get(name)}
                for name in sorted(self.source.keys() | self.restored.keys())
            },
            "mismatches": [m.table for m in self.mismatches],
        }


def newest_dump(backup_dir: Path, database: str) -> Dump:
    if not backup_dir.is_dir():
        raise RestoreError(f"backup directory {backup_dir} does not exist")
    dumps = list_dumps(backup_dir, database)
    if not dumps:
        others = sorted({d.prefix for d in list_dumps(backup_dir)})
        hint = f" (it holds dumps of: {', '.join(others)})" if others else ""
        raise RestoreError(f"no dumps of database {database!r} in {backup_dir}{hint}")
    return dumps[-1]


def drill(
    source_dsn: str,
    *,
    backup_dir: Path | None = None,
    dump: Path | None = None,
    scratch_server_dsn: str | None = None,
) -> DrillReport:
    """Restore a dump (the newest in backup_dir unless one is given) into a scratch
    database and compare it with the source, table by table; always drops the scratch.

    The source is read as it is now: rows written after the dump was taken show up
    as mismatches, which is the point of drilling right after a backup.
    """
    database = database_of(source_dsn)
    taken_at: datetime | None
    if dump is None:
        if backup_dir is None:
            raise RestoreError("a drill needs a backup directory or a dump")
        chosen = newest_dump(backup_dir, database)
        dump, taken_at = chosen.path, chosen.taken_at
    else:
        parsed = parse_dump_name(dump)
        taken_at = parsed.taken_at if parsed else None
    report = DrillReport(dump=dump, taken_at=taken_at)

    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    scratch = f"{SCRATCH_PREFIX}{stamp}_{secrets.token_hex(3)}"
    scratch_dsn = with_database(scratch_server_dsn or source_dsn, scratch)
    try:
        result = restore_dump(dump, scratch_dsn)
        report.restored = result.counts
        report.restore_seconds = result.seconds
        report.source = row_counts(with_database(source_dsn, database))
    except RestoreError as e:
        report.error = str(e)
    finally:
        _drop_database(scratch_dsn, scratch)
    return report
