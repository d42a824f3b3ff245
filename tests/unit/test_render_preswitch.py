"""The backup before a switch: a dump Job, a barman-cloud base backup Job beside the
database, or a CloudNativePG Backup, by what the Environment's database has."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helpers import container, env_of
from tests.unit.test_render_objectstore import STORE
from tierkeeper.render.backup import render_backup_cronjob
from tierkeeper.render.objectstore import OBJECT_STORE_SCRIPT_NAME
from tierkeeper.render.postgres import render_postgres_statefulset
from tierkeeper.render.preswitch import render_pre_switch_backup

JOB = "shop-preswitch-0123abcd"
BUILTIN = {"provider": "builtin", "instances": 1}


def production(**postgres: Any) -> dict[str, Any]:
    return {"tier": "production", "postgres": postgres}


def pod(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def test_without_a_store_it_is_the_backup_cronjobs_dump_job_and_goes_after_a_day() -> None:
    env = env_of(production(**BUILTIN))
    job = render_pre_switch_backup(env, JOB)
    cronjob = render_backup_cronjob(env)
    assert job is not None and cronjob is not None
    assert (job["kind"], job["metadata"]["name"]) == ("Job", JOB)
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "backup"
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    del job["spec"]["ttlSecondsAfterFinished"]
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]


def test_with_a_store_it_runs_a_base_backup_beside_the_database_on_its_volume() -> None:
    env = env_of(production(**BUILTIN, backup={"objectStore": STORE}))
    job = render_pre_switch_backup(env, JOB)
    statefulset = render_postgres_statefulset(env)
    assert job is not None and statefulset is not None
    backup = container(job)
    assert backup["command"][-3:] == [
        f"/opt/tierkeeper/object-store/{OBJECT_STORE_SCRIPT_NAME}",
        "base-backup",
        "--immediate-checkpoint",
    ]
    server = statefulset["spec"]["template"]["spec"]["containers"][0]
    data = next(m for m in backup["volumeMounts"] if m["name"] == "data")
    assert data == {**server["volumeMounts"][0], "readOnly": True}
    claim = next(v for v in pod(job)["volumes"] if v["name"] == "data")
    assert claim["persistentVolumeClaim"]["claimName"] == env.names.postgres_data
    term = pod(job)["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term[0]["labelSelector"]["matchLabels"] == statefulset["spec"]["selector"]["matchLabels"]
    assert term[0]["topologyKey"] == "kubernetes.io/hostname"
    secrets = [v for v in backup["env"] if "SECRET" in v["name"] or "ACCESS_KEY" in v["name"]]
    assert secrets and all("valueFrom" in v and "value" not in v for v in secrets)
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400


@pytest.mark.parametrize(
    ("backup", "method"),
    [({}, "volumeSnapshot"), ({"objectStore": STORE}, "barmanObjectStore")],
)
def test_cloudnative_pg_gets_a_backup_of_its_cluster(backup: dict[str, Any], method: str) -> None:
    env = env_of(production(instances=2, backup=backup))
    manifest = render_pre_switch_backup(env, JOB)
    assert manifest is not None
    assert (manifest["apiVersion"], manifest["kind"]) == ("postgresql.cnpg.io/v1", "Backup")
    assert manifest["spec"] == {"cluster": {"name": env.names.postgres}, "method": method}


@pytest.mark.parametrize(
    "spec",
    [
        {"tier": "development"},
        {"tier": "staging", "strategy": {"type": "BlueGreen"}},
        {**production(**BUILTIN), "strategy": {"blueGreen": {"backupBeforeSwitch": False}}},
        production(**BUILTIN, backup={"enabled": False}),
        production(enabled=False),
    ],
    ids=["rolling", "staging-default-off", "opted-out", "no-backups", "no-postgres"],
)
def test_nothing_is_rendered_where_no_backup_before_a_switch_is_wanted(
    spec: dict[str, Any],
) -> None:
    assert render_pre_switch_backup(env_of(spec), JOB) is None
