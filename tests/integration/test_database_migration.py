"""The database of a live Environment moved from the builtin instance to CloudNativePG (issue
16), on CloudNativePG's real CRDs, with the traffic guard running throughout. No
CloudNativePG operator runs: the test writes the Cluster's status as it would."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s import Api, condition, eventually, is_true
from tests.integration.operator_process import OperatorProcess, environment_reconciles
from tests.integration.releases import ENV, NAMES, environment, phase_is, release
from tests.integration.serving import serving_guard
from tests.integration.test_cloudnative_pg import cloudnative_pg_crds  # noqa: F401  (fixture)
from tierkeeper.devcluster import Kubectl
from tierkeeper.models.child import RETAINED_FROM

pytestmark = pytest.mark.integration

MIGRATED_FROM = "tierkeeper.dev/migrated-from"
BUILTIN = [
    ("StatefulSet", NAMES.postgres),
    ("Service", NAMES.postgres),
    ("PersistentVolumeClaim", NAMES.postgres_data),
    ("ConfigMap", NAMES.postgres_replication_access),
]


@pytest.fixture
def cloudnative_pg(
    cluster: Kubectl,
    cloudnative_pg_crds: Path,  # noqa: F811  (the fixture imported above)
) -> None:
    """CloudNativePG's CRDs installed (its operator does not run)."""
    cluster.install_crds(cloudnative_pg_crds)


def on_cloudnative_pg(document: dict[str, Any]) -> dict[str, Any]:
    postgres = {**document["spec"]["postgres"], "provider": "cloudnative-pg"}
    return {**document, "spec": {**document["spec"], "postgres": postgres}}


def wait_ready(api: Api, namespace: str) -> None:
    eventually(
        lambda: is_true(api.get("Environment", namespace, ENV), "Ready"), timeout=120, what="Ready"
    )


def database_url(api: Api, namespace: str) -> str:
    secret = api.get("Secret", namespace, NAMES.postgres_credentials) or {}
    return base64.b64decode(secret["data"]["uri"]).decode()


def migration_reason(api: Api, namespace: str) -> str | None:
    found = condition(api.get("Environment", namespace, ENV), "DatabaseMigration")
    return found["reason"] if found else None


def report_cluster_ready(api: Api, namespace: str, name: str = NAMES.postgres) -> None:
    """CloudNativePG's part: the Cluster's instances up, Ready about its current spec."""
    cluster = api.get("Cluster", namespace, name) or {}
    instances = cluster["spec"]["instances"]
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "ClusterIsReady",
        "message": "Cluster is Ready",
        "lastTransitionTime": "2026-12-03T12:00:00Z",
        "observedGeneration": cluster["metadata"]["generation"],
    }
    status = {
        "instances": instances,
        "readyInstances": instances,
        "phase": "Cluster in healthy state",
        "conditions": [ready],
    }
    api.patch_status("Cluster", namespace, name, {"status": status}, manager="cloudnative-pg")


def uids(api: Api, namespace: str) -> dict[tuple[str, str], str]:
    return {
        (kind, name): (api.get(kind, namespace, name) or {}).get("metadata", {}).get("uid", "")
        for kind, name in BUILTIN
    }


def restarted_onto_the_cluster(api: Api, namespace: str) -> bool:
    """Every app Deployment rolled its pods with the switched credentials, and serves."""
    deployments = [
        d
        for d in api.list("Deployment", namespace, f"app.kubernetes.io/instance={ENV}")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "app"
    ]
    return bool(deployments) and all(
        "tierkeeper.dev/database-revision"
        in (d["spec"]["template"]["metadata"].get("annotations") or {})
        and d["status"].get("observedGeneration") == d["metadata"]["generation"]
        and (d["status"].get("updatedReplicas") or 0) == d["spec"]["replicas"]
        and (d["status"].get("readyReplicas") or 0) == d["spec"]["replicas"]
        for d in deployments
    )


def test_builtin_to_cloudnative_pg_switches_once_the_cluster_is_ready_and_keeps_the_builtin_data(
    api: Api,
    namespace: str,
    cloudnative_pg: None,
    operator: OperatorProcess,
) -> None:
    builtin = environment()
    api.apply(builtin, namespace)
    api.apply(release("shop:1"), namespace)
    eventually(lambda: phase_is(api, namespace, "Promoted", "shop:1"), timeout=120, what="shop:1")
    wait_ready(api, namespace)
    url = database_url(api, namespace)
    data = {key: uid for key, uid in uids(api, namespace).items() if uid}
    assert set(data) == set(BUILTIN[:3])

    with serving_guard(api, namespace, ENV) as violations:
        api.apply(on_cloudnative_pg(builtin), namespace)
        postgres = eventually(
            lambda: api.get("Cluster", namespace, NAMES.postgres), what="CloudNativePG Cluster"
        )
        spec = postgres["spec"]
        assert spec["bootstrap"]["pg_basebackup"]["source"] == "builtin"
        (source,) = spec["externalClusters"]
        assert source["name"] == "builtin"
        assert source["connectionParameters"]["host"] == NAMES.postgres
        assert source["password"] == {"name": NAMES.postgres_credentials, "key": "password"}
        assert spec["replica"] == {"enabled": True, "source": "builtin"}
        eventually(lambda: migration_reason(api, namespace) == "Cloning", what="Cloning")
        # A planned move is not a lost database: the builtin instance serves meanwhile (once
        # it has restarted to let the Cluster in), and the Environment is Ready again.
        eventually(
            lambda: (
                is_true(moving := api.get("Environment", namespace, ENV), "Ready")
                and not is_true(moving, "Degraded")
            ),
            timeout=60,
            what="Ready, not Degraded, while the Cluster copies the builtin instance",
            explain=lambda: condition(api.get("Environment", namespace, ENV), "Ready"),
        )
        assert migration_reason(api, namespace) == "Cloning"
        # The builtin instance lets the Cluster in, and still serves the app.
        statefulset = api.get("StatefulSet", namespace, NAMES.postgres) or {}
        args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
        assert any(a.startswith("hba_file=") for a in args)
        assert database_url(api, namespace) == url

        report_cluster_ready(api, namespace)
        eventually(
            lambda: migration_reason(api, namespace) == "WaitingForCluster",
            timeout=120,
            what="writes paused, the Cluster promoted",
        )
        statefulset = api.get("StatefulSet", namespace, NAMES.postgres) or {}
        args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "default_transaction_read_only=on" in args
        promoted = api.get("Cluster", namespace, NAMES.postgres) or {}
        assert promoted["spec"]["replica"]["enabled"] is False
        # The Cluster's Ready is about the replica it was, not the promoted one yet.
        assert database_url(api, namespace) == url

        operator.kill()
        operator.start()
        # The restarted operator converges the Environment, and still waits for the Cluster.
        eventually(
            lambda: operator.alive() and environment_reconciles(operator.metrics_port) >= 1,
            timeout=60,
            what="a reconcile by the restarted operator",
        )
        assert migration_reason(api, namespace) == "WaitingForCluster"
        assert database_url(api, namespace) == url
        report_cluster_ready(api, namespace)
        eventually(
            lambda: migration_reason(api, namespace) == "Switched", timeout=120, what="Switched"
        )
        assert database_url(api, namespace) == url.replace(
            f"@{NAMES.postgres}:", f"@{NAMES.postgres_cnpg_rw_service}:"
        )
        eventually(
            lambda: restarted_onto_the_cluster(api, namespace),
            timeout=120,
            what="the app restarted onto the Cluster",
        )
    assert violations == []

    # The builtin data is kept aside, the same objects, no longer the Environment's.
    kept = uids(api, namespace)
    assert {key: kept[key] for key in data} == data
    for kind, name in BUILTIN:
        meta = (api.get(kind, namespace, name) or {})["metadata"]
        assert not meta.get("ownerReferences"), (kind, name)
        assert meta["labels"][MIGRATED_FROM] == ENV, (kind, name)
    status = (api.get("Environment", namespace, ENV) or {})["status"]
    assert status["databaseMigration"] == {
        "phase": "Switched",
        "retained": [f"{kind}/{name}" for kind, name in BUILTIN],
    }
    wait_ready(api, namespace)


def cloudnative_pg_environment(policy: str, *, postgres: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "tier": "staging",
            "branch": "main",
            "deletionPolicy": policy,
            "postgres": {"enabled": postgres, "provider": "cloudnative-pg", "instances": 2},
        },
    }


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
def test_postgres_turned_off_on_cloudnative_pg_honours_the_deletion_policy(
    api: Api,
    namespace: str,
    cloudnative_pg: None,
    operator: OperatorProcess,
    policy: str,
) -> None:
    api.apply(cloudnative_pg_environment(policy), namespace)
    postgres = eventually(
        lambda: api.get("Cluster", namespace, NAMES.postgres), what="CloudNativePG Cluster"
    )
    instance_claim = cluster_claim(api, namespace, postgres)
    api.apply(cloudnative_pg_environment(policy, postgres=False), namespace)
    if policy == "Retain":

        def kept() -> dict[str, Any] | None:
            meta = (api.get("Cluster", namespace, NAMES.postgres) or {}).get("metadata") or {}
            labels = meta.get("labels") or {}
            detached = not meta.get("ownerReferences") and labels.get(RETAINED_FROM) == ENV
            return meta if detached else None

        meta = eventually(kept, what="the Cluster detached and labelled")
        assert meta["uid"] == postgres["metadata"]["uid"]
        # Deleting the Environment leaves it too.
        api.delete("Environment", namespace, ENV)
        eventually(lambda: api.get("Environment", namespace, ENV) is None, what="gone")
        left = api.get("Cluster", namespace, NAMES.postgres) or {}
        assert left["metadata"]["uid"] == postgres["metadata"]["uid"]
        claim = api.get("PersistentVolumeClaim", namespace, CLUSTER_CLAIM) or {}
        assert claim["metadata"]["uid"] == instance_claim["metadata"]["uid"]
    else:
        eventually(
            lambda: api.get("Cluster", namespace, NAMES.postgres) is None,
            what="the Cluster deleted",
        )
        eventually(
            lambda: api.get("PersistentVolumeClaim", namespace, CLUSTER_CLAIM) is None,
            what="its instance's claim collected",
        )


CLUSTER_CLAIM = f"{NAMES.postgres}-1"


def cluster_claim(api: Api, namespace: str, postgres: dict[str, Any]) -> dict[str, Any]:
    """The claim CloudNativePG would make for the Cluster's first instance, owned by it."""
    owner = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "name": NAMES.postgres,
        "uid": postgres["metadata"]["uid"],
        "controller": True,
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": CLUSTER_CLAIM, "ownerReferences": [owner]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    return api.apply(claim, namespace, manager="cloudnative-pg")


def test_a_move_asked_back_before_its_switch_is_given_up_and_the_builtin_instance_kept(
    api: Api,
    namespace: str,
    cloudnative_pg: None,
    operator: OperatorProcess,
) -> None:
    builtin = environment()
    api.apply(builtin, namespace)
    wait_ready(api, namespace)
    url = database_url(api, namespace)
    statefulset = api.get("StatefulSet", namespace, NAMES.postgres) or {}
    api.apply(on_cloudnative_pg(builtin), namespace)
    eventually(lambda: migration_reason(api, namespace) == "Cloning", what="Cloning")
    assert api.get("Cluster", namespace, NAMES.postgres) is not None

    api.apply(builtin, namespace)

    def given_up() -> bool:
        env = api.get("Environment", namespace, ENV) or {}
        return (
            api.get("Cluster", namespace, NAMES.postgres) is None
            and condition(env, "DatabaseMigration") is None
            and "databaseMigration" not in (env.get("status") or {})
        )

    eventually(given_up, what="the move given up")
    events = {e["reason"] for e in api.list("Event", namespace)}
    assert "MigrationCancelled" in events
    eventually(
        lambda: api.get("ConfigMap", namespace, NAMES.postgres_replication_access) is None,
        what="the replication access removed",
    )
    kept = api.get("StatefulSet", namespace, NAMES.postgres) or {}
    assert kept["metadata"]["uid"] == statefulset["metadata"]["uid"]
    assert "args" not in kept["spec"]["template"]["spec"]["containers"][0]
    assert database_url(api, namespace) == url
