"""CloudNativePG (issue 4): HA PostgreSQL through CloudNativePG's own CRDs, installed from
the release pinned in hack/cloudnative-pg, so the real API server validates what we write.
No CloudNativePG operator runs: the test writes the Cluster's status as it would."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.integration.k8s import Api, condition, eventually, instance_selector, is_true
from tests.integration.operator_process import OperatorProcess
from tierkeeper.devcluster import Kubectl
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).parents[2] / "hack" / "cloudnative-pg-crds.sh"
ENV = "shop"
NAMES = ChildNames(ENV)

HA_ENVIRONMENT = {
    "apiVersion": "tierkeeper.dev/v1alpha1",
    "kind": "Environment",
    "metadata": {"name": ENV},
    # Production's defaults: two PostgreSQL instances on CloudNativePG, hourly backups.
    "spec": {"tier": "production", "branch": "main"},
}


@pytest.fixture
def cloudnative_pg_crds(cluster: Kubectl, unavailable: Callable[[str], NoReturn]) -> Iterator[Path]:
    """The directory of CloudNativePG's CRDs, not installed yet; removed after the test so
    that the rest of the session sees a cluster without CloudNativePG."""
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        unavailable(f"CloudNativePG CRDs: {result.stderr.strip()}")
    directory = Path(result.stdout.strip().splitlines()[-1])
    yield directory
    cluster.remove_crds(directory)


def database_reason(api: Api, namespace: str) -> str | None:
    found = condition(api.get("Environment", namespace, ENV), "DatabaseReady")
    return found["reason"] if found else None


def owned_and_applied_by_tierkeeper(body: dict[str, Any]) -> bool:
    meta = body["metadata"]
    owners = [(o["kind"], o["name"], o.get("controller")) for o in meta["ownerReferences"]]
    managers = {(m["manager"], m["operation"]) for m in meta["managedFields"]}
    return owners == [("Environment", ENV, True)] and ("tierkeeper", "Apply") in managers


def test_cloudnative_pg_installed_later_takes_over_and_its_cluster_is_retained(
    api: Api,
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg_crds: Path,
    operator: OperatorProcess,
) -> None:
    api.apply(HA_ENVIRONMENT, namespace)
    eventually(lambda: database_reason(api, namespace) == "HAProviderMissing", what="refused")
    warnings = {e["reason"] for e in api.list("Event", namespace) if e["type"] == "Warning"}
    assert "HAProviderMissing" in warnings
    assert api.get("StatefulSet", namespace, NAMES.postgres) is None
    assert api.get("StatefulSet", namespace, NAMES.redis) is not None

    cluster.install_crds(cloudnative_pg_crds)
    postgres = eventually(
        lambda: api.get("Cluster", namespace, NAMES.postgres), what="CloudNativePG Cluster"
    )
    backups = eventually(
        lambda: api.list("ScheduledBackup", namespace, instance_selector(ENV)),
        what="ScheduledBackup",
    )
    assert postgres["spec"]["instances"] == 2
    assert owned_and_applied_by_tierkeeper(postgres)
    assert [b["spec"]["cluster"]["name"] for b in backups] == [NAMES.postgres]
    assert all(owned_and_applied_by_tierkeeper(b) for b in backups)
    eventually(lambda: database_reason(api, namespace) == "Progressing", what="waits for CNPG")

    # CloudNativePG's part: both instances up, the Cluster Ready.
    api.patch_status(
        "Cluster",
        namespace,
        NAMES.postgres,
        {
            "status": {
                "instances": 2,
                "readyInstances": 2,
                "phase": "Cluster in healthy state",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "ClusterIsReady",
                        "message": "Cluster is Ready",
                        "lastTransitionTime": "2026-11-24T12:00:00Z",
                    }
                ],
            }
        },
        manager="cloudnative-pg",
    )
    eventually(lambda: database_reason(api, namespace) == "Available", what="DatabaseReady")
    eventually(lambda: is_true(api.get("Environment", namespace, ENV), "Ready"), what="Ready")

    # Late in the test: kopf starts watching a CRD's objects a moment after the CRD appears.
    (backup,) = backups
    api.delete("ScheduledBackup", namespace, backup["metadata"]["name"])
    eventually(
        lambda: (
            (restored := api.get("ScheduledBackup", namespace, backup["metadata"]["name"]))
            and restored["metadata"]["uid"] != backup["metadata"]["uid"]
        ),
        what="hand-deleted ScheduledBackup restored",
    )

    # Production's deletionPolicy is Retain: the Cluster owns its volumes, so it stays.
    api.delete("Environment", namespace, ENV)
    eventually(lambda: api.get("Environment", namespace, ENV) is None, what="Environment gone")
    eventually(
        lambda: api.get("StatefulSet", namespace, NAMES.redis) is None,
        what="garbage collection of the rest",
    )
    kept = api.get("Cluster", namespace, NAMES.postgres)
    assert kept is not None
    assert not kept["metadata"].get("ownerReferences")
    assert kept["metadata"]["labels"]["tierkeeper.dev/retained-from"] == ENV


def test_a_move_from_cloudnative_pg_to_builtin_is_refused_and_the_cluster_kept(
    api: Api,
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg_crds: Path,
    operator: OperatorProcess,
) -> None:
    """builtin -> cloudnative-pg is a migration (test_database_migration.py); the other way
    is refused with the way to do it by hand."""
    cluster.install_crds(cloudnative_pg_crds)
    on_cluster = {
        **HA_ENVIRONMENT,
        "spec": {"tier": "staging", "branch": "main", "postgres": {"provider": "cloudnative-pg"}},
    }
    api.apply(on_cluster, namespace)
    postgres = eventually(
        lambda: api.get("Cluster", namespace, NAMES.postgres), what="CloudNativePG Cluster"
    )
    moved = {**on_cluster, "spec": {**on_cluster["spec"], "postgres": {"provider": "builtin"}}}
    api.apply(moved, namespace)
    generation = api.get("Environment", namespace, ENV)["metadata"]["generation"]

    def refused() -> dict[str, Any] | None:
        env = api.get("Environment", namespace, ENV) or {}
        ready = condition(env, "Ready")
        observed = (env.get("status") or {}).get("observedGeneration") == generation
        return ready if observed and ready and ready["reason"] == "ChangeNotAllowed" else None

    ready = eventually(refused, what="ChangeNotAllowed")
    assert "tierkeeper restore" in ready["message"]
    kept = api.get("Cluster", namespace, NAMES.postgres)
    assert kept is not None and kept["metadata"]["uid"] == postgres["metadata"]["uid"]
    assert api.get("StatefulSet", namespace, NAMES.postgres) is None
