"""Backups to object stores: the builtin StatefulSet's archiving and base-backup sidecar,
the CloudNativePG Cluster's barmanObjectStore, and credentials that stay in Secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.helpers import env_of
from tierkeeper.models.rollout import AppRollout
from tierkeeper.models.units import numeric_schedule
from tierkeeper.render import render_children
from tierkeeper.render.common import Manifest
from tierkeeper.render.objectstore import OBJECT_STORE_SCRIPT_NAME, object_store_script
from tierkeeper.render.postgres import (
    render_cnpg_cluster,
    render_cnpg_scheduled_backup,
    render_postgres_statefulset,
)

STORE = {
    "bucket": "shop-backups",
    "path": "eu/shop",
    "endpoint": "https://s3.eu.example.net",
    "region": "eu-1",
    "credentials": {
        "accessKeyId": {"name": "s3-eu", "key": "id"},
        "secretAccessKey": {"name": "s3-eu", "key": "secret"},
    },
    "caBundle": {"name": "s3-eu-ca", "key": "ca.pem"},
}
OFFSITE = {
    "bucket": "shop-backups-us",
    "credentials": {
        "accessKeyId": {"name": "s3-us", "key": "id"},
        "secretAccessKey": {"name": "s3-us", "key": "secret"},
    },
}


def staging(**backup: Any) -> Any:
    return env_of({"tier": "staging", "postgres": {"backup": {"objectStore": STORE, **backup}}})


def containers(statefulset: Manifest) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in statefulset["spec"]["template"]["spec"]["containers"]}


def env_of_container(container: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}


def settings(container: dict[str, Any]) -> dict[str, str]:
    args = container["args"]
    assert args[0] == "postgres"
    pairs = [args[i + 1] for i in range(1, len(args), 2) if args[i] == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_builtin_with_a_store_archives_every_segment_within_the_tiers_archive_timeout() -> None:
    statefulset = render_postgres_statefulset(staging())
    assert statefulset is not None
    postgres = containers(statefulset)["postgres"]
    assert postgres["image"] == "ghcr.io/tierkeeper/postgres:16"
    assert settings(postgres) == {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": "sh /opt/tierkeeper/object-store/object-store.sh archive-wal %p",
        "restore_command": "sh /opt/tierkeeper/object-store/object-store.sh restore-wal %f %p",
        "archive_timeout": "300",
    }
    env = env_of_container(postgres)
    assert env["BACKUP_SERVER_NAME"] == "shop"
    assert env["BACKUP_PRIMARY_URL"] == "s3://shop-backups/eu/shop"
    assert env["BACKUP_PRIMARY_ENDPOINT"] == "https://s3.eu.example.net"
    assert env["BACKUP_PRIMARY_REGION"] == "eu-1"
    assert env["BACKUP_PRIMARY_CA_BUNDLE"] == "/etc/tierkeeper/object-store-ca/primary.pem"
    assert "BACKUP_OFFSITE_URL" not in env


def test_the_offsite_store_is_a_second_slot_of_the_same_script() -> None:
    statefulset = render_postgres_statefulset(staging(offsiteObjectStore=OFFSITE))
    assert statefulset is not None
    for container in containers(statefulset).values():
        env = env_of_container(container)
        assert env["BACKUP_OFFSITE_URL"] == "s3://shop-backups-us"
        assert env["BACKUP_OFFSITE_SECRET_ACCESS_KEY"] == {
            "secretKeyRef": {"name": "s3-us", "key": "secret"}
        }


def test_credentials_are_secret_references_never_values_nor_arguments() -> None:
    statefulset = render_postgres_statefulset(staging(offsiteObjectStore=OFFSITE))
    assert statefulset is not None
    for container in containers(statefulset).values():
        for var in container["env"]:
            if var["name"].endswith(("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "PASSWORD")):
                assert "value" not in var and "secretKeyRef" in var["valueFrom"], var
        assert "s3-eu" not in json.dumps(container.get("args", []) + container.get("command", []))


def test_base_backups_run_beside_the_server_on_the_schedule_then_prune_by_retention() -> None:
    statefulset = render_postgres_statefulset(staging())
    assert statefulset is not None
    sidecar = containers(statefulset)["base-backup"]
    assert sidecar["command"] == [
        "sh",
        "/opt/tierkeeper/object-store/object-store.sh",
        "scheduled",
        "0 3 * * *",
    ]
    env = env_of_container(sidecar)
    # Staging keeps backups 14 days, more than its 7-day PITR window: WAL back to the
    # oldest kept backup, so the window is 14 days.
    assert env["BACKUP_RETENTION"] == "RECOVERY WINDOW OF 14 DAYS"
    assert env["PGHOST"] == "127.0.0.1"
    assert env["PGPASSWORD"] == {
        "secretKeyRef": {"name": "shop-postgres-credentials", "key": "password"}
    }
    assert {"name": "data", "mountPath": "/var/lib/postgresql/data"} in sidecar["volumeMounts"]
    assert sidecar["securityContext"]["runAsUser"] == 999


def test_the_script_configmap_carries_the_packaged_script() -> None:
    env = staging()
    children = {(c.kind, c.name): c.manifest for c in render_children(env, AppRollout())}
    config_map = children[("ConfigMap", "shop-object-store")]
    assert config_map is not None
    assert config_map["data"][OBJECT_STORE_SCRIPT_NAME] == object_store_script()
    without = env_of({"tier": "staging"})
    children = {(c.kind, c.name): c.manifest for c in render_children(without, AppRollout())}
    assert children[("ConfigMap", "shop-object-store")] is None


def test_without_a_store_the_builtin_server_is_unchanged_and_pitr_resolves_off() -> None:
    env = env_of({"tier": "staging"})
    assert env.spec.postgres.backup.pitr.enabled is False
    statefulset = render_postgres_statefulset(env)
    assert statefulset is not None
    assert list(containers(statefulset)) == ["postgres"]
    assert "args" not in containers(statefulset)["postgres"]


def test_without_pitr_segments_are_archived_as_they_fill_and_no_rpo_is_promised() -> None:
    statefulset = render_postgres_statefulset(staging(pitr={"enabled": False}))
    assert statefulset is not None
    assert "archive_timeout" not in settings(containers(statefulset)["postgres"])


def test_cloudnative_pg_archives_to_the_store_and_backs_up_with_barman() -> None:
    env = env_of({"tier": "production", "postgres": {"backup": {"objectStore": STORE}}})
    cluster = render_cnpg_cluster(env)
    assert cluster is not None
    backup = cluster["spec"]["backup"]
    assert backup["barmanObjectStore"] == {
        "destinationPath": "s3://shop-backups/eu/shop",
        "serverName": "shop",
        "endpointURL": "https://s3.eu.example.net",
        "endpointCA": {"name": "s3-eu-ca", "key": "ca.pem"},
        "s3Credentials": {
            "accessKeyId": {"name": "s3-eu", "key": "id"},
            "secretAccessKey": {"name": "s3-eu", "key": "secret"},
        },
        "wal": {"compression": "gzip"},
    }
    assert backup["retentionPolicy"] == "30d"
    assert cluster["spec"]["postgresql"]["parameters"]["archive_timeout"] == "60s"
    scheduled = render_cnpg_scheduled_backup(env)
    assert scheduled is not None and scheduled["spec"]["method"] == "barmanObjectStore"


def test_cloudnative_pg_without_a_store_keeps_volume_snapshots_only() -> None:
    env = env_of({"tier": "production"})
    cluster = render_cnpg_cluster(env)
    assert cluster is not None
    assert "barmanObjectStore" not in cluster["spec"]["backup"]
    scheduled = render_cnpg_scheduled_backup(env)
    assert scheduled is not None and scheduled["spec"]["method"] == "volumeSnapshot"


@pytest.mark.parametrize(
    ("schedule", "numeric"),
    [
        ("0 3 * * *", "0 3 * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("15 */6 ? jan-mar mon,fri", "15 */6 * 1-3 1,5"),
        ("0 0 1 JUL SUN", "0 0 1 7 0"),
    ],
)
def test_schedules_reach_the_sidecar_as_plain_numbers(schedule: str, numeric: str) -> None:
    assert numeric_schedule(schedule) == numeric
