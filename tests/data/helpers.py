"""Helpers for the data tests: run the packaged backup script, seed and fingerprint databases."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.abc import Query

from tests.data.dataservers import PostgresServer
from tests.unit.helpers import container, env_of
from tierkeeper.render.backup import render_backup_cronjob

# Text a backup must carry over byte for byte: several scripts, emoji (outside
# the BMP), quotes, backslashes, tabs and newlines.
NON_ASCII = (
    "Zoë Ünïcödé — naïve café",
    "東京都渋谷区",
    "Ελληνικά και русский",
    "العربية עברית",
    "🐘🚀 emoji outside the BMP",
    "quote ' double \" backslash \\ tab \t newline \n end",
)


def backup_command() -> list[str]:
    """The backup container's command as the CronJob renders it: the script exactly as
    the package ships it, run by `sh -c`."""
    cronjob = render_backup_cronjob(env_of({"tier": "staging"}))
    assert cronjob is not None
    command: list[str] = container(cronjob)["command"]
    return command


def backup_env(
    server: PostgresServer,
    database: str,
    backup_dir: Path,
    *,
    retention_days: int = 7,
    now: datetime | None = None,
) -> dict[str, str]:
    env = server.env(database)
    env.update(BACKUP_DIR=str(backup_dir), RETENTION_DAYS=str(retention_days))
    if now is not None:
        env["TIERKEEPER_NOW"] = str(int(now.timestamp()))
    return env


def run_backup(
    server: PostgresServer,
    database: str,
    backup_dir: Path,
    *args: str,
    retention_days: int = 7,
    now: datetime | None = None,
    env_overrides: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run backup.sh as the CronJob's container does."""
    env = backup_env(server, database, backup_dir, retention_days=retention_days, now=now)
    env.update(env_overrides or {})
    return subprocess.run(
        [*backup_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def tierkeeper(server: PostgresServer, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `tierkeeper` CLI in a subprocess, with the server's client tools on PATH."""
    return subprocess.run(
        [sys.executable, "-m", "tierkeeper", *args],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def seed_shop(server: PostgresServer, database: str, *, scale: int = 1) -> None:
    """Several tables across two schemas: non-ASCII text, bytea with every byte
    value, numerics, jsonb, timestamps, a quoted table name, large objects."""
    statements: list[Query] = [
        "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE)",
        """CREATE TABLE orders (
             id bigserial PRIMARY KEY,
             customer_id int NOT NULL REFERENCES customers(id),
             total numeric(12, 2) NOT NULL,
             placed_at timestamptz NOT NULL,
             notes jsonb)""",
        'CREATE TABLE "Order Lines" (order_id bigint REFERENCES orders(id), sku text, qty int)',
        "CREATE TABLE attachments (id int PRIMARY KEY, content bytea NOT NULL, document oid)",
        "CREATE SCHEMA audit",
        "CREATE TABLE audit.events (id bigserial PRIMARY KEY, happened_at timestamptz, what text)",
        "CREATE TABLE empty_table (id int)",
        # Customers named in every script of NON_ASCII, in turn.
        sql.SQL(
            "INSERT INTO customers (name, email) "
            "SELECT ({names}::text[])[1 + g % {n}] || ' #' || g, 'c' || g || '@例え.jp' "
            "FROM generate_series(1, {count}) g"
        ).format(
            names=sql.Literal(list(NON_ASCII)),
            n=sql.Literal(len(NON_ASCII)),
            count=sql.Literal(500 * scale),
        ),
        sql.SQL(
            "INSERT INTO orders (customer_id, total, placed_at, notes) "
            "SELECT 1 + g % {customers}, (g * 7.31) % 10000, "
            "'2024-01-01T00:00:00Z'::timestamptz + g * interval '37 minutes', "
            "jsonb_build_object('gift', g % 3 = 0, 'note', 'Grüße ' || g) "
            "FROM generate_series(1, {count}) g"
        ).format(customers=sql.Literal(500 * scale), count=sql.Literal(5000 * scale)),
        "INSERT INTO \"Order Lines\" SELECT id, 'SKU-' || (id % 97), 1 + id % 5 FROM orders",
        # Every byte value 0..255, then pseudo-random bytes.
        "INSERT INTO attachments (id, content) "
        "SELECT g, (SELECT string_agg(set_byte('\\x00'::bytea, 0, b), ''::bytea ORDER BY b) "
        "           FROM generate_series(0, 255) b) "
        "       || decode(repeat(md5(g::text), 1 + g % 50), 'hex') "
        "FROM generate_series(1, 40) g",
        # Large objects, referenced from attachments.document.
        "UPDATE attachments SET document = lo_from_bytea(0, convert_to("
        "repeat('Große Datei № ' || id || E'\\n', 200 * id), 'UTF8')) WHERE id <= 12",
        "INSERT INTO audit.events (happened_at, what) "
        "SELECT now() - g * interval '1 hour', 'événement ' || g FROM generate_series(1, 300) g",
    ]
    with psycopg.connect(server.dsn(database)) as conn:
        for statement in statements:
            conn.execute(statement)


def fingerprint(server: PostgresServer, database: str) -> dict[str, tuple[int, str]]:
    """Per user table: (row count, md5 of all rows in order); plus large objects
    (count, md5 of their contents by oid) and each sequence's last value."""
    prints: dict[str, tuple[int, str]] = {}
    with psycopg.connect(server.dsn(database), autocommit=True) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') "
                    "FROM {}.{} t"
                ).format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchone()
            assert row is not None
            prints[f"{schema}.{table}"] = (row[0], row[1])
        row = conn.execute(
            "SELECT count(*), coalesce(md5(string_agg(md5(lo_get(oid)), ',' ORDER BY oid)), '') "
            "FROM pg_largeobject_metadata"
        ).fetchone()
        assert row is not None
        prints["(large objects)"] = (row[0], row[1])
        for schema, name, last in conn.execute(
            "SELECT schemaname, sequencename, coalesce(last_value, 0) FROM pg_sequences"
        ).fetchall():
            prints[f"sequence {schema}.{name}"] = (int(last), "")
    return prints
