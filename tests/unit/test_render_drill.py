"""The drill's children (render/drill.py): where they exist, what the pod gets (credentials
by reference only, the scripts as shipped, an identity for one ConfigMap), what the
network lets it reach, and the tiers' schedules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helpers import env_of
from tests.unit.netpol import Pod, allowed
from tests.unit.test_render_objectstore import STORE
from tierkeeper.models.endpoints import POSTGRES_PORT
from tierkeeper.models.rollout import AppRollout
from tierkeeper.render import render_children, wanted
from tierkeeper.render.common import Component, Manifest, labels
from tierkeeper.render.drill import (
    drill_scripts,
    job_from_cronjob,
    render_drill_cronjob,
    render_drill_role,
    render_drill_script,
)
from tierkeeper.render.network import render_postgres_policy

DRILL_KINDS = {"ServiceAccount", "Role", "RoleBinding"}


def with_store(tier: str = "staging", **postgres: Any) -> Any:
    backup = {"objectStore": STORE, **postgres.pop("backup", {})}
    return env_of({"tier": tier, "postgres": {"backup": backup, **postgres}})


def drill_children(env: Any) -> list[Manifest]:
    return [
        m
        for m in wanted(render_children(env, AppRollout()))
        if m["metadata"]["labels"].get("app.kubernetes.io/component") == "drill"
    ]


def pod_spec(cronjob: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize(
    ("tier", "schedule"),
    [("development", "0 5 1 1 *"), ("staging", "0 5 1 */3 *"), ("production", "0 5 1 * *")],
)
def test_each_tier_drills_at_least_yearly_and_production_monthly(tier: str, schedule: str) -> None:
    env = with_store(tier, provider="builtin", instances=1)
    cronjob = render_drill_cronjob(env)
    assert cronjob is not None
    assert cronjob["spec"]["schedule"] == schedule
    assert cronjob["spec"]["timeZone"] == "UTC"
    assert cronjob["spec"]["suspend"] is False


def test_a_store_brings_the_cronjob_its_scripts_and_an_identity_of_its_own() -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in drill_children(with_store())}
    assert kinds == {
        ("CronJob", "shop-postgres-drill"),
        ("ConfigMap", "shop-drill-script"),
        ("ConfigMap", "shop-drill"),
        ("ServiceAccount", "shop-drill-runner"),
        ("Role", "shop-drill-runner"),
        ("RoleBinding", "shop-drill-runner"),
    }


@pytest.mark.parametrize(
    "spec",
    [
        {"tier": "staging"},
        {"tier": "production", "postgres": {"backup": {"enabled": False, "objectStore": STORE}}},
        {"tier": "staging", "postgres": {"enabled": False}},
    ],
    ids=["no store: dumps, drilled by restore --verify", "no backups", "no postgres"],
)
def test_no_drill_children_without_a_database_archiving_to_a_store(
    spec: dict[str, Any],
) -> None:
    assert drill_children(env_of(spec)) == []


def test_unscheduled_drills_keep_a_suspended_cronjob_for_tierkeeper_drill() -> None:
    cronjob = render_drill_cronjob(with_store(backup={"drill": {"scheduled": False}}))
    assert cronjob is not None
    assert cronjob["spec"]["suspend"] is True


def test_the_pod_gets_the_store_credentials_by_reference_only() -> None:
    cronjob = render_drill_cronjob(with_store())
    assert cronjob is not None
    pod = pod_spec(cronjob)
    (container,) = pod["containers"]
    env = {item["name"]: item for item in container["env"]}
    for name in ("BACKUP_PRIMARY_ACCESS_KEY_ID", "BACKUP_PRIMARY_SECRET_ACCESS_KEY", "PGUSER"):
        assert "value" not in env[name] and "secretKeyRef" in env[name]["valueFrom"], name
    assert env["PGUSER"]["valueFrom"]["secretKeyRef"]["name"] == "shop-postgres-credentials"
    assert container["command"] == ["sh", "/opt/tierkeeper/drill/drill.sh"]
    assert container["image"] == "ghcr.io/tierkeeper/postgres:16"
    assert env["DRILL_RESULT_CONFIGMAP"]["value"] == "shop-drill"
    assert pod["serviceAccountName"] == "shop-drill-runner"
    assert pod["securityContext"]["runAsNonRoot"] is True
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["activeDeadlineSeconds"] > 3600  # room for the RTO target, then the checks
    assert job["ttlSecondsAfterFinished"] == 7 * 86400
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["drill-script"]["configMap"]["name"] == "shop-drill-script"
    assert volumes["object-store-script"]["configMap"]["name"] == "shop-object-store"
    assert volumes["object-store-ca"]["projected"]["sources"][0]["secret"]["name"] == "s3-eu-ca"
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {"sizeLimit": "5Gi"}}


def test_the_scripts_configmap_carries_the_scripts_as_shipped() -> None:
    configmap = render_drill_script(with_store())
    assert configmap is not None
    assert configmap["data"] == drill_scripts()
    assert configmap["data"]["drill.sh"].startswith("#!/bin/sh")


def test_the_role_reaches_the_result_configmap_by_name_and_nothing_else() -> None:
    role = render_drill_role(with_store())
    assert role is not None
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["shop-drill"],
            "verbs": ["get", "patch"],
        }
    ]


def test_the_result_configmap_is_a_child_without_data_for_the_pod_to_fill() -> None:
    env = with_store()
    (result,) = [m for m in drill_children(env) if m["metadata"]["name"] == "shop-drill"]
    assert "data" not in result
    assert result["metadata"]["labels"] == labels(env, Component.DRILL)


def test_the_drill_pod_is_not_let_into_the_live_database() -> None:
    env = with_store()
    policy = render_postgres_policy(env)
    assert policy is not None
    drill_pod = Pod("drill", env.namespace, labels(env, Component.DRILL))
    backup_pod = Pod("backup", env.namespace, labels(env, Component.BACKUP))
    database = Pod("postgres", env.namespace, labels(env, Component.POSTGRES))
    assert not allowed([policy], drill_pod, database, POSTGRES_PORT)
    assert allowed([policy], backup_pod, database, POSTGRES_PORT)
    # No policy limits egress: the pod reaches the store and the API server.
    policies = [
        m for m in wanted(render_children(env, AppRollout())) if m["kind"] == "NetworkPolicy"
    ]
    assert all(p["spec"]["policyTypes"] == ["Ingress"] for p in policies)


def test_a_job_from_the_cronjob_is_what_kubectl_create_job_from_makes() -> None:
    cronjob = render_drill_cronjob(with_store())
    assert cronjob is not None
    cronjob["metadata"]["uid"] = "0f1e2d3c"

    job = job_from_cronjob(cronjob, "shop-postgres-drill-1a2b3c4d")

    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "shop-postgres-drill",
            "uid": "0f1e2d3c",
            "controller": True,
        }
    ]
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]
    assert job["metadata"]["labels"] == cronjob["spec"]["jobTemplate"]["metadata"]["labels"]
