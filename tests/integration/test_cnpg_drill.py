"""The CloudNativePG drill on the local control plane, with CloudNativePG's real CRDs and
no CloudNativePG operator (the test writes the scratch Cluster's status as it would) and
no pods (the test writes the result as the check Job's pod would): `tierkeeper drill ENV`
-> a scratch Cluster the API server accepts, recovering from the Environment's store ->
Ready -> the check Job -> the result recorded, the scratch Cluster deleted; and a
scratch Cluster that is never Ready -> Failed with a reason, deleted. The checks
themselves run for real in tests/data/test_object_store_drill.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.k8s import Api, eventually, server_dry_run
from tests.integration.operator_process import OperatorProcess
from tests.integration.test_cloudnative_pg import cloudnative_pg_crds  # noqa: F401  (fixture)
from tests.integration.test_database_migration import (  # noqa: F401  (fixture)
    cloudnative_pg,
    on_cloudnative_pg,
    report_cluster_ready,
)
from tests.integration.test_drill import ENV, NAMES, STORE_SECRET, tierkeeper_drill
from tests.integration.test_drill import environment as drill_environment
from tests.integration.test_secrets import OBJECT_STORE as STORE
from tierkeeper.devcluster import Kubectl
from tierkeeper.models import resolve_document
from tierkeeper.render.cnpg_drill import (
    REQUEST_ANNOTATION,
    STARTED_ANNOTATION,
    render_check_job,
    render_scratch_cluster,
)

pytestmark = pytest.mark.integration

# Each step of a running drill comes 15 s after the last (reconcile/cnpg_drill.py).
STEP_WAIT = 60


def environment() -> dict[str, Any]:
    # Nothing scheduled within the test: the drills here are asked for.
    return on_cloudnative_pg(drill_environment({"scheduled": False}))


def start_drill(api: Api, cluster: Kubectl, namespace: str) -> dict[str, Any]:
    """The Environment made, then `tierkeeper drill ENV` once its result ConfigMap
    exists; the scratch Cluster it leads to."""
    api.apply(STORE_SECRET, namespace)
    api.apply(environment(), namespace)
    eventually(lambda: api.get("ConfigMap", namespace, NAMES.drill_result), timeout=60)
    started = tierkeeper_drill(cluster, namespace)
    assert started.returncode == 0, started.stderr
    assert NAMES.drill_cluster in started.stdout
    return eventually(lambda: api.get("Cluster", namespace, NAMES.drill_cluster), timeout=STEP_WAIT)


def result(api: Api, namespace: str) -> dict[str, str]:
    return (api.get("ConfigMap", namespace, NAMES.drill_result) or {}).get("data") or {}


def test_a_drill_restores_into_a_scratch_cluster_checks_it_records_the_result_and_deletes_it(
    api: Api,
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg: None,  # noqa: F811  (the fixture imported above)
    operator: OperatorProcess,
) -> None:
    scratch = start_drill(api, cluster, namespace)

    spec = scratch["spec"]
    assert spec["instances"] == 1
    assert spec["bootstrap"]["recovery"]["source"] == ENV
    (source,) = spec["externalClusters"]
    assert source["barmanObjectStore"]["destinationPath"] == f"s3://{STORE['bucket']}"
    assert source["barmanObjectStore"]["serverName"] == ENV
    assert "backup" not in spec
    assert scratch["metadata"]["ownerReferences"][0]["kind"] == "Environment"
    policy = api.get("NetworkPolicy", namespace, f"{ENV}-drill-policy")
    assert policy is not None
    assert policy["spec"]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": NAMES.drill_cluster}
    assert api.get("Job", namespace, NAMES.drill_check) is None

    report_cluster_ready(api, namespace, NAMES.drill_cluster)
    job = eventually(lambda: api.get("Job", namespace, NAMES.drill_check), timeout=STEP_WAIT)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["PGHOST"]["value"] == f"{NAMES.drill_cluster}-rw"
    assert env["DRILL_RESULT_CONFIGMAP"]["value"] == NAMES.drill_result

    # The check pod's last act (drill_result.py): the result, after the drill's start.
    finished = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    written = {"finishedAt": finished, "result": "Passed", "rtoSeconds": "42", "message": "ok"}
    api.patch("ConfigMap", namespace, NAMES.drill_result, {"data": written})

    eventually(
        lambda: api.get("Cluster", namespace, NAMES.drill_cluster) is None, timeout=STEP_WAIT
    )
    assert api.get("Job", namespace, NAMES.drill_check) is None
    assert result(api, namespace) == written
    drill = eventually(
        lambda: (
            ((api.get("Environment", namespace, ENV) or {}).get("status") or {})
            .get("backup", {})
            .get("lastDrill")
        ),
        timeout=STEP_WAIT,
    )
    assert drill["result"] == "Passed"


def test_a_scratch_cluster_never_ready_fails_the_drill_with_a_reason_and_is_deleted(
    api: Api,
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg: None,  # noqa: F811  (the fixture imported above)
    operator: OperatorProcess,
) -> None:
    start_drill(api, cluster, namespace)
    # Two hours pass without CloudNativePG reporting Ready: the drill's clock is its
    # start annotation, so moving it back is the time passing.
    long_ago = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    api.patch(
        "Cluster",
        namespace,
        NAMES.drill_cluster,
        {"metadata": {"annotations": {STARTED_ANNOTATION: long_ago.isoformat()}}},
    )
    eventually(
        lambda: api.get("Cluster", namespace, NAMES.drill_cluster) is None, timeout=STEP_WAIT
    )
    data = result(api, namespace)
    assert data["result"] == "Failed"
    assert "was not Ready within 3600s" in data["message"]
    assert api.get("Job", namespace, NAMES.drill_check) is None


def test_the_scratch_cluster_and_check_job_pass_the_real_crds_field_by_field(
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg: None,  # noqa: F811  (the fixture imported above)
) -> None:
    env = resolve_document(environment()["spec"], name=ENV, namespace=namespace)
    started = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    manifests = [render_scratch_cluster(env, started), render_check_job(env, started)]
    checked = server_dry_run(cluster, namespace, manifests)
    assert checked.returncode == 0, checked.stderr
    assert f"cluster.postgresql.cnpg.io/{NAMES.drill_cluster} serverside-applied" in (
        checked.stdout
    )


def test_tierkeeper_drill_of_a_cloudnative_pg_environment_without_a_store_asks_for_nothing(
    api: Api, namespace: str, cluster: Kubectl
) -> None:
    document = environment()
    del document["spec"]["postgres"]["backup"]["objectStore"]
    api.apply(document, namespace)

    started = tierkeeper_drill(cluster, namespace)

    assert started.returncode == 1
    assert "has no postgres.backup.objectStore" in started.stderr, started.stderr
    annotations = (api.get("Environment", namespace, ENV) or {})["metadata"].get("annotations")
    assert REQUEST_ANNOTATION not in (annotations or {})
