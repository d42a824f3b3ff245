"""PostgreSQL with its WAL archived to real S3 servers through object-store.sh, and restores.

The archive_command, restore_command and base backups are the packaged
object-store.sh (the file the ConfigMap carries), running barman-cloud from
hack/install-barman-cloud.sh, against versitygw servers (tests/data/objectstore.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from tests.data.dataservers import (
    PostgresServer,
    ServerUnavailable,
    chown_tree_for_server,
    free_port,
    new_server_root,
    postgres_bindir,
)
from tests.data.objectstore import REPO, object_store_script

SERVER_NAME = "shop"


def barman_bin_dir() -> Path:
    """barman-cloud's bin dir (hack/install-barman-cloud.sh)."""
    path = subprocess.run(
        ["bash", str(REPO / "hack" / "install-barman-cloud.sh"), "--print-bin-dir"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not os.access(Path(path) / "barman-cloud-backup", os.X_OK):
        raise ServerUnavailable(f"barman-cloud not installed ({path}); run `make data-deps`")
    return Path(path)


@dataclass
class Archive:
    """object-store.sh's configuration: the stores (PRIMARY, maybe OFFSITE) and the server name."""

    stores: dict[str, str]
    server_name: str = SERVER_NAME
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment object-store.sh runs in (in the server, for archive_command too)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "AWS_"))}
        env.update(self.stores)
        env.update(self.extra_env)
        env["PATH"] = f"{barman_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}"
        env["BACKUP_SERVER_NAME"] = self.server_name
        return env

    def command(self, action: str, *placeholders: str) -> str:
        """archive_command / restore_command text; the credentials stay in the environment."""
        return " ".join(["sh", str(object_store_script()), action, *placeholders])

    def run(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["sh", str(object_store_script()), *args],
            env={**self.env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, (
            f"object-store.sh {args[0]} failed ({result.returncode}):\n{result.stderr}"
        )
        return result

    def base_backup(self, server: PostgresServer) -> None:
        """A base backup into every store, as soon as PostgreSQL can start it (the
        scheduled sidecar's gentle, spread checkpoint is tested on its own)."""
        pg = {k: v for k, v in server.env().items() if k.startswith("PG")}
        self.run("base-backup", "--immediate-checkpoint", env=pg)

    def backups(self, slot: str = "PRIMARY") -> list[dict[str, str]]:
        """barman-cloud-backup-list of one store, oldest first."""
        env = self.env()
        result = subprocess.run(
            [
                "barman-cloud-backup-list",
                "--endpoint-url",
                self.stores[f"BACKUP_{slot}_ENDPOINT"],
                "--format",
                "json",
                self.stores[f"BACKUP_{slot}_URL"],
                self.server_name,
            ],
            env={
                **env,
                "AWS_ACCESS_KEY_ID": self.stores[f"BACKUP_{slot}_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": self.stores[f"BACKUP_{slot}_SECRET_ACCESS_KEY"],
                "AWS_DEFAULT_REGION": self.stores[f"BACKUP_{slot}_REGION"],
                **(
                    {"AWS_CA_BUNDLE": ca}
                    if (ca := self.stores.get(f"BACKUP_{slot}_CA_BUNDLE"))
                    else {}
                ),
            },
            capture_output=True,
            text=True,
            check=True,
        )
        listed: list[dict[str, str]] = json.loads(result.stdout)["backups_list"]
        return listed


def archiving_settings(archive: Archive, *, archive_timeout: str = "60s") -> dict[str, str]:
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": archive.command("archive-wal", "%p"),
        "archive_timeout": archive_timeout,
        # The restore's exactness check compares against each row's commit time.
        "track_commit_timestamp": "on",
    }


def create_ticks(server: PostgresServer) -> None:
    server.psql("CREATE TABLE ticks (id bigserial PRIMARY KEY, note text NOT NULL DEFAULT 'tick')")


def commit_times(server: PostgresServer) -> list[tuple[int, datetime]]:
    """Every row of ticks with the time its transaction committed, by id."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, pg_xact_commit_timestamp(xmin) FROM ticks ORDER BY id"
        ).fetchall()
    return [(int(i), ts) for i, ts in rows]


def tick_ids(server: PostgresServer) -> list[int]:
    return [int(i) for i in server.psql("SELECT id FROM ticks ORDER BY id").split()]


def insert_ticks(server: PostgresServer, count: int) -> None:
    """count rows, each in its own transaction (so each has its own commit time)."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        for _ in range(count):
            conn.execute("INSERT INTO ticks DEFAULT VALUES")


def switch_and_wait_archived(server: PostgresServer, timeout: float = 120) -> str:
    """Close the current WAL segment and wait until the archiver reports it archived."""
    server.psql("INSERT INTO ticks (note) VALUES ('switch')")
    segment = server.psql("SELECT pg_walfile_name(pg_switch_wal())")
    wait_archived(server, segment, timeout)
    return segment


def write_across_base_backup(
    server: PostgresServer, archive: Archive
) -> tuple[list[tuple[int, datetime]], datetime]:
    """A writer commits rows before, during and after a base backup, then all WAL is
    archived. Returns every row with its commit time, and a target T: the commit time of
    a row in the middle of those written after the backup ended, so that a restore to T
    must replay archived WAL past the backup and stop inside the stream."""
    create_ticks(server)
    with Writer(server) as writer:
        writer.wait_for(100)
        archive.base_backup(server)
        after_backup = len(writer.acked)
        writer.wait_for(300)
    switch_and_wait_archived(server)
    committed = commit_times(server)
    later = [(i, ts) for i, ts in committed if i > writer.acked[after_backup][0]]
    return committed, later[len(later) // 2][1]


def wait_archived(server: PostgresServer, segment: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        last = server.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        if last >= segment:
            return
        time.sleep(0.1)
    log = server.logfile.read_text(errors="replace")[-4000:]
    raise AssertionError(f"{segment} not archived within {timeout}s (last: {last!r})\n{log}")


class Writer:
    """Commits one row per transaction into ticks until stopped (or the server dies),
    recording when each commit was acknowledged."""

    def __init__(self, server: PostgresServer, pause: float = 0.005) -> None:
        self.server = server
        self.pause = pause
        self.acked: list[tuple[int, float]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with psycopg.connect(self.server.dsn(), autocommit=True) as conn:
                while not self._stop.is_set():
                    row = conn.execute("INSERT INTO ticks DEFAULT VALUES RETURNING id").fetchone()
                    assert row is not None
                    self.acked.append((int(row[0]), time.time()))
                    time.sleep(self.pause)
        except psycopg.OperationalError as e:
            self.error = e

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def wait_for(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.acked)
        while len(self.acked) < start + count:
            assert time.monotonic() < deadline, f"writer stalled at {len(self.acked)} rows"
            assert self.error is None, self.error
            time.sleep(0.01)


@contextlib.contextmanager
def restored_server(
    archive: Archive, *, target_time: datetime | None = None, timeout: float = 600
) -> Iterator[PostgresServer]:
    """A fresh instance from the stores through `tierkeeper restore --environment`: the base
    backup before target_time (else the latest) plus the archived WAL up to target_time
    (else all of it), then promoted."""
    root = new_server_root()
    server = PostgresServer(
        bindir=postgres_bindir(), root=root, port=free_port(), server_env=archive.env()
    )
    target = ["--latest"] if target_time is None else ["--to-time", target_time.isoformat()]
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tierkeeper",
                "restore",
                "--environment",
                archive.server_name,
                "--data-dir",
                str(server.datadir),
                *target,
            ],
            env=archive.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        chown_tree_for_server(root)
        server.start(wait=False)
        wait_promoted(server, timeout)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def wait_promoted(server: PostgresServer, timeout: float) -> None:
    """Until recovery has ended and the instance accepts writes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(psycopg.OperationalError),
            psycopg.connect(server.dsn(), autocommit=True, connect_timeout=2) as conn,
        ):
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and row[0] is False:
                return
        time.sleep(0.2)
    log = server.logfile.read_text(errors="replace")[-6000:] if server.logfile.exists() else ""
    raise AssertionError(f"the restored instance did not finish recovery in {timeout}s\n{log}")


class ArgumentWatch:
    """Samples every process's command line while active: which barman-cloud commands
    (and rclone) ran, and whether any argument anywhere held one of the secrets."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s.encode() for s in secrets]
        self.tools: set[str] = set()
        self.leaks: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                with contextlib.suppress(OSError):
                    args = cmdline.read_bytes().split(b"\0")
                    for arg in args:
                        if b"barman-cloud-" in arg or arg.rsplit(b"/", 1)[-1] == b"rclone":
                            self.tools.add(Path(arg.decode()).name)
                    if any(secret in arg for arg in args for secret in self.secrets):
                        self.leaks.append(b" ".join(args).decode(errors="replace"))
            time.sleep(0.005)

    def __enter__(self) -> ArgumentWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
