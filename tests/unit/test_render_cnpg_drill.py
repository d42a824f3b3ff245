"""The CloudNativePG drill's objects (render/cnpg_drill.py and its share of render/drill.py
and render/network.py): which children stay, what the scratch Cluster restores from and
never writes to, what the check Job runs as, and whom the network lets it reach."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.unit.helpers import env_of
from tests.unit.netpol import Pod, allowed
from tests.unit.test_render_drill import drill_children
from tests.unit.test_render_objectstore import STORE
from tierkeeper.models.endpoints import POSTGRES_PORT
from tierkeeper.models.rollout import AppRollout
from tierkeeper.render import render_children, wanted
from tierkeeper.render.cnpg_drill import (
    STARTED_ANNOTATION,
    render_check_job,
    render_scratch_cluster,
)
from tierkeeper.render.common import Component, labels
from tierkeeper.render.network import CNPG_CLUSTER

STARTED = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def cnpg_env(**backup: Any) -> Any:
    return env_of({"tier": "production", "postgres": {"backup": {"objectStore": STORE, **backup}}})


def test_a_cloudnative_pg_store_brings_scripts_identity_result_and_policy_but_no_cronjob() -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in drill_children(cnpg_env())}
    assert kinds == {
        ("ConfigMap", "shop-drill-script"),
        ("ConfigMap", "shop-drill"),
        ("ServiceAccount", "shop-drill-runner"),
        ("Role", "shop-drill-runner"),
        ("RoleBinding", "shop-drill-runner"),
        ("NetworkPolicy", "shop-drill-policy"),
    }


def test_the_scratch_cluster_recovers_from_the_environments_own_store_and_archives_nothing() -> (
    None
):
    env = cnpg_env()
    cluster = render_scratch_cluster(env, STARTED)
    spec = cluster["spec"]
    assert cluster["metadata"]["name"] == "shop-drill"
    assert cluster["metadata"]["annotations"] == {STARTED_ANNOTATION: STARTED.isoformat()}
    assert spec["instances"] == 1
    assert spec["bootstrap"]["recovery"]["source"] == "shop"
    assert "recoveryTarget" not in spec["bootstrap"]["recovery"]
    [source] = spec["externalClusters"]
    assert source["barmanObjectStore"]["serverName"] == "shop"
    assert source["barmanObjectStore"]["destinationPath"] == "s3://shop-backups/eu/shop"
    assert "backup" not in spec


def test_the_check_job_logs_in_to_the_scratch_cluster_by_secret_reference_only() -> None:
    job = render_check_job(cnpg_env(), STARTED)
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PGHOST"]["value"] == "shop-drill-rw"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "shop-drill-superuser"
    assert env["DRILL_STARTED_AT"]["value"] == str(int(STARTED.timestamp()))
    assert env["DRILL_RESULT_CONFIGMAP"]["value"] == "shop-drill"
    assert container["command"][-1].endswith("/drill_check.sh")
    assert pod["serviceAccountName"] == "shop-drill-runner"
    assert job["spec"]["backoffLimit"] == 0


def test_the_check_pod_reaches_the_scratch_cluster_and_never_the_live_one() -> None:
    env = cnpg_env()
    policies = [
        m for m in wanted(render_children(env, AppRollout())) if m["kind"] == "NetworkPolicy"
    ]
    check = Pod("check", env.namespace, labels(env, Component.DRILL))
    app = Pod("app", env.namespace, labels(env, Component.APP))
    scratch = Pod("shop-drill-1", env.namespace, {CNPG_CLUSTER: "shop-drill"})
    live = Pod("shop-postgres-1", env.namespace, {CNPG_CLUSTER: env.names.postgres})
    assert allowed(policies, check, scratch, POSTGRES_PORT)
    assert not allowed(policies, check, live, POSTGRES_PORT)
    assert not allowed(policies, app, scratch, POSTGRES_PORT)
