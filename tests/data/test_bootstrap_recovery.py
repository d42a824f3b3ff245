"""postgres.bootstrap.recovery on real PostgreSQL and a real S3 server: the init container
the operator renders, run as the pod runs it (its command on the packaged scripts, its
environment as rendered with the Secrets' values filled in, an empty data directory),
makes a database holding
exactly the rows the source committed at or before T; started as a primary of its own,
it archives into its own folder and never into the source's.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

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
from tests.data.objectstore import BUCKET, S3Server
from tests.data.walarchive import (
    Archive,
    ArgumentWatch,
    archiving_settings,
    barman_bin_dir,
    insert_ticks,
    switch_and_wait_archived,
    tick_ids,
    write_across_base_backup,
)
from tests.unit.helpers import env_of
from tierkeeper.render.objectstore import SCRIPT_MOUNT
from tierkeeper.render.postgres import render_postgres_statefulset

pytestmark = [pytest.mark.data, pytest.mark.timeout(900)]

# The packaged scripts, as the ConfigMap carries them (recover.sh beside object-store.sh).
SCRIPTS = Path(str(resources.files("tierkeeper") / "scripts"))

PREFIX = "backups"


def rendered_init_container(store: S3Server, target_time: datetime | None) -> dict[str, Any]:
    """The recover init container the operator renders for `shop-restored` starting from
    `shop`, whose backups are in `store` (bucket BUCKET, path PREFIX)."""
    secret = {"name": "s3", "key": "id"}
    source = env_of(
        {
            "tier": "staging",
            "postgres": {
                "backup": {
                    "objectStore": {
                        "bucket": BUCKET,
                        "path": PREFIX,
                        "endpoint": store.endpoint,
                        "region": store.region,
                        "credentials": {
                            "accessKeyId": secret,
                            "secretAccessKey": {**secret, "key": "secret"},
                        },
                    }
                }
            },
        },
        name="shop",
    )
    recovery: dict[str, Any] = {"from": "shop"}
    if target_time is not None:
        recovery["targetTime"] = target_time.isoformat()
    restored = env_of(
        {"tier": "staging", "postgres": {"bootstrap": {"recovery": recovery}}},
        name="shop-restored",
    )
    statefulset = render_postgres_statefulset(dataclasses.replace(restored, recovery_source=source))
    assert statefulset is not None
    containers: list[dict[str, Any]] = statefulset["spec"]["template"]["spec"]["initContainers"]
    [container] = containers
    return container


def run_recover(
    store: S3Server, pgdata: Path, *, target_time: datetime | None, password: str
) -> subprocess.CompletedProcess[str]:
    """The rendered init container's command with its environment, as the pod would run
    them: the values as rendered, the Secrets' keys from the test's own secrets, the
    packaged scripts where the ConfigMap mounts them, and PGDATA here rather than in the
    pod's volume."""
    container = rendered_init_container(store, target_time)
    secrets = {
        ("s3", "id"): store.access_key,
        ("s3", "secret"): store.secret_key,
        ("shop-restored-postgres-credentials", "username"): SUPERUSER,
        ("shop-restored-postgres-credentials", "password"): password,
        ("shop-restored-postgres-credentials", "database"): "app",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "AWS_", "PG"))}
    env["PATH"] = f"{postgres_bindir()}:{barman_bin_dir()}:{env['PATH']}"
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = secrets[(ref["name"], ref["key"])]
    env["PGDATA"] = str(pgdata)
    command = [
        str(SCRIPTS / Path(arg).name) if arg.startswith(SCRIPT_MOUNT) else arg
        for arg in container["command"]
    ]
    return subprocess.run(
        _as_server_user(command),
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
                s3_primary, restored.datadir, target_time=target, password=password
            )
        assert result.returncode == 0, result.stderr
        assert "barman-cloud-wal-restore" in watch.tools
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
        again = run_recover(s3_primary, restored.datadir, target_time=None, password=password)
        assert again.returncode == 0, again.stderr
        assert "nothing to do" in again.stdout
        restored.start()
        ids = tick_ids(restored)
        assert ids[: len(expected)] == expected
        assert len(ids) == len(expected) + 51
    finally:
        restored.stop()
        shutil.rmtree(root, ignore_errors=True)
