"""postgres.bootstrap.recovery on real PostgreSQL and a real S3 server: the init container's
recover.sh, run as the pod runs it (the packaged script beside object-store.sh, the
source's stores in its environment, an empty data directory), makes a database holding
exactly the rows the source committed at or before T; started as a primary of its own,
it archives into its own folder and never into the source's.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from tests.data.dataservers import (
    SUPERUSER,
    PostgresServer,
    _as_server_user,
    free_port,
    new_server_root,
    postgres_bindir,
    postgres_server,
)
from tests.data.objectstore import S3Server
from tests.data.walarchive import (
    Archive,
    ArgumentWatch,
    archiving_settings,
    insert_ticks,
    switch_and_wait_archived,
    tick_ids,
    write_across_base_backup,
)

pytestmark = [pytest.mark.data, pytest.mark.timeout(900)]

PREFIX = "backups"


def recover_script() -> Path:
    """recover.sh exactly as the package ships it, beside object-store.sh (as the
    ConfigMap mounts them)."""
    path = Path(str(resources.files("tierkeeper") / "scripts" / "recover.sh"))
    assert path.is_file(), path
    return path


def run_recover(
    source: Archive, pgdata: Path, *, target_time: str | None, password: str
) -> subprocess.CompletedProcess[str]:
    """The init container's command with its environment: the source's stores and server
    name, PGDATA, and the new database's own role and password."""
    env = source.env()
    env["PATH"] = f"{postgres_bindir()}:{env['PATH']}"
    env.update(PGDATA=str(pgdata), POSTGRES_USER=SUPERUSER, POSTGRES_PASSWORD=password)
    if target_time is not None:
        env["RECOVERY_TARGET_TIME"] = target_time
    return subprocess.run(
        _as_server_user(["sh", str(recover_script())]),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def folder_keys(store: S3Server, server_name: str) -> set[str]:
    return set(store.keys(f"{PREFIX}/{server_name}/"))


def test_recovery_holds_the_rows_committed_by_the_target_and_archives_to_its_own_folder(
    s3_primary: S3Server,
) -> None:
    source = Archive(stores=s3_primary.store_env("PRIMARY", PREFIX), server_name="shop")
    with postgres_server(settings=archiving_settings(source), server_env=source.env()) as pg:
        committed, target = write_across_base_backup(pg, source)
    source_keys = folder_keys(s3_primary, "shop")
    expected = [i for i, ts in committed if ts <= target]
    assert 0 < len(expected) < len(committed)

    own = Archive(stores=s3_primary.store_env("PRIMARY", PREFIX), server_name="shop-restored")
    password = secrets.token_urlsafe(18)
    root = new_server_root()
    restored = PostgresServer(
        bindir=postgres_bindir(),
        root=root,
        port=free_port(),
        password=password,
        server_env=own.env(),
    )
    watch = ArgumentWatch([password, s3_primary.secret_key, s3_primary.access_key])
    try:
        with watch:
            result = run_recover(
                source, restored.datadir, target_time=target.isoformat(), password=password
            )
        assert result.returncode == 0, result.stderr
        assert "barman-cloud-wal-restore" in watch.barman_commands
        assert watch.leaks == []
        assert not (root / "data.recovering").exists()

        # As the server starts in its pod: on the recovered directory, its own archiving.
        restored.configure(archiving_settings(own))
        restored.start()
        with psycopg.connect(restored.dsn(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        assert row == (False,)
        assert tick_ids(restored) == expected

        insert_ticks(restored, 50)
        switch_and_wait_archived(restored)
        own_wals = {k.rsplit("/", 1)[1] for k in folder_keys(s3_primary, "shop-restored")}
        assert any(name.startswith("00000002") for name in own_wals), own_wals
        assert any(name.startswith("00000002.history") for name in own_wals), own_wals
        assert folder_keys(s3_primary, "shop") == source_keys

        # A restarted pod runs the init container again: it leaves the database alone.
        restored.stop()
        again = run_recover(source, restored.datadir, target_time=None, password=password)
        assert again.returncode == 0, again.stderr
        assert "nothing to do" in again.stdout
        restored.start()
        ids = tick_ids(restored)
        assert ids[: len(expected)] == expected
        assert len(ids) == len(expected) + 51
    finally:
        restored.stop()
        shutil.rmtree(root, ignore_errors=True)
