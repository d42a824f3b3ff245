"""The drill's wiring on the local control plane: the operator renders the drill CronJob, its
ServiceAccount, Role and RoleBinding; `tierkeeper drill ENV` starts a Job from the CronJob;
and the drill pod's result writer (drill_result.py, run here for real with a token the API
server issues to the drill's ServiceAccount) writes the result ConfigMap, which that Role
allows and no other ConfigMap. KWOK runs no containers: the drill itself runs in
tests/data/test_object_store_drill.py."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import OperatorProcess
from tests.integration.releases import HEALTH_CHECK
from tests.integration.test_secrets import OBJECT_STORE as STORE
from tierkeeper.models.names import ChildNames
from tierkeeper.render.drill import RESULT_SCRIPT_NAME

pytestmark = pytest.mark.integration

ENV = "shop"
NAMES = ChildNames(ENV)
ACCESS_KEY = "AKDRILLTESTKEY0001"
SECRET_KEY = "drill-secret-key-that-must-not-show"
STORE_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "s3"},
    "stringData": {"id": ACCESS_KEY, "secret": SECRET_KEY},
}


def environment(drill: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "tier": "staging",
            "postgres": {
                "provider": "builtin",
                "backup": {"objectStore": STORE, "drill": drill},
            },
            "app": {"healthCheck": HEALTH_CHECK},
        },
    }


def drill_kubeconfig_and_account(cluster: Any, namespace: str, root: Path) -> dict[str, str]:
    """What a drill pod has: a token the API server issues to the drill's ServiceAccount,
    the cluster's CA and its namespace (the files Kubernetes mounts), and the server."""
    token = cluster.kubectl(
        "create", "token", NAMES.drill_identity, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    account = root / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(token)
    (account / "namespace").write_text(namespace)
    ca = server["cluster"]
    if "certificate-authority-data" in ca:
        (account / "ca.crt").write_bytes(base64.b64decode(ca["certificate-authority-data"]))
    else:
        (account / "ca.crt").write_text(Path(ca["certificate-authority"]).read_text())
    return {"DRILL_SERVICE_ACCOUNT_DIR": str(account), "DRILL_API_SERVER": ca["server"]}


def tierkeeper_drill(cluster: Any, namespace: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "tierkeeper", "drill", ENV),
            *("-n", namespace, "--kubeconfig", str(cluster.kubeconfig)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def container_env(cronjob: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return {item["name"]: item for item in container["env"]}


def test_the_drill_schedule_renders_its_cronjob_and_identity_and_a_drill_starts_on_demand(
    api: Api, namespace: str, cluster: Any, operator: OperatorProcess
) -> None:
    api.apply(STORE_SECRET, namespace)
    api.apply(environment({"schedule": "30 4 * * 1"}), namespace)

    cronjob = eventually(lambda: api.get("CronJob", namespace, NAMES.drill_cronjob))
    spec = cronjob["spec"]
    assert spec["schedule"] == "30 4 * * 1" and spec["timeZone"] == "UTC"
    assert spec["suspend"] is False
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == NAMES.drill_identity
    assert pod["containers"][0]["image"] == "ghcr.io/tierkeeper/postgres:16"
    assert pod["securityContext"]["runAsUser"] == 999
    env = container_env(cronjob)
    # The store's credentials by reference only; the result's ConfigMap by name.
    assert env["BACKUP_PRIMARY_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "s3",
        "key": "id",
    }
    assert env["BACKUP_PRIMARY_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "s3",
        "key": "secret",
    }
    assert env["DRILL_RESULT_CONFIGMAP"]["value"] == NAMES.drill_result
    labels = cronjob["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "drill"
    assert labels["app.kubernetes.io/managed-by"] == "tierkeeper"

    role = eventually(lambda: api.get("Role", namespace, NAMES.drill_identity))
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [NAMES.drill_result],
            "verbs": ["get", "patch"],
        }
    ]
    binding = eventually(lambda: api.get("RoleBinding", namespace, NAMES.drill_identity))
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": NAMES.drill_identity, "namespace": namespace}
    ]
    assert eventually(lambda: api.get("ServiceAccount", namespace, NAMES.drill_identity))
    for child in (cronjob, role, binding):
        assert child["metadata"]["ownerReferences"][0]["kind"] == "Environment"

    started = tierkeeper_drill(cluster, namespace)
    assert started.returncode == 0, started.stderr
    (job,) = api.list("Job", namespace, "app.kubernetes.io/component=drill")
    assert job["metadata"]["name"] in started.stdout
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "CronJob",
        NAMES.drill_cronjob,
        cronjob["metadata"]["uid"],
    )
    job_pod = job["spec"]["template"]["spec"]
    assert job_pod["serviceAccountName"] == NAMES.drill_identity
    assert job_pod["containers"][0]["command"] == pod["containers"][0]["command"]
    assert job["spec"]["backoffLimit"] == 0
    for value in (ACCESS_KEY, SECRET_KEY):
        assert value not in json.dumps(job) and value not in json.dumps(cronjob)


def test_unscheduled_drills_keep_a_suspended_cronjob_for_tierkeeper_drill(
    api: Api, namespace: str, operator: OperatorProcess
) -> None:
    api.apply(environment({"scheduled": False}), namespace)

    cronjob = eventually(lambda: api.get("CronJob", namespace, NAMES.drill_cronjob))

    assert cronjob["spec"]["suspend"] is True
    # The staging tier's quarterly default.
    assert cronjob["spec"]["schedule"] == "0 5 1 */3 *"


def run_result_writer(account: dict[str, str], namespace: str, **result: str) -> None:
    script = Path(__file__).resolve().parents[2] / "operator/tierkeeper/scripts"
    env = {
        **os.environ,
        **account,
        "DRILL_RESULT_CONFIGMAP": NAMES.drill_result,
        **{f"DRILL_{key.upper()}": value for key, value in result.items()},
    }
    done = subprocess.run(
        ["python3", str(script / RESULT_SCRIPT_NAME)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_drill_pod_writes_its_result_configmap_with_its_role_and_no_other_configmap(
    api: Api, namespace: str, cluster: Any, operator: OperatorProcess, tmp_path: Path
) -> None:
    api.apply(environment({}), namespace)
    eventually(lambda: api.get("RoleBinding", namespace, NAMES.drill_identity))
    # The operator makes the result ConfigMap, without data, for the drills to fill.
    made = eventually(lambda: api.get("ConfigMap", namespace, NAMES.drill_result))
    assert not made.get("data")
    assert made["metadata"]["ownerReferences"][0]["kind"] == "Environment"
    account = drill_kubeconfig_and_account(cluster, namespace, tmp_path)

    # Each drill writes the data anew (a merge patch).
    run_result_writer(
        account,
        namespace,
        finished_at="2026-12-01T05:00:41Z",
        result="Failed",
        rto_seconds="",
        message="the restored backup did not start: could not locate required checkpoint record",
    )
    run_result_writer(
        account,
        namespace,
        finished_at="2026-12-03T05:00:37Z",
        result="Passed",
        rto_seconds="15.7",
        message="restored the latest base backup and its WAL in 15.7s",
    )

    # The operator's next writes of its children (a change of the schedule here) leave the
    # data alone: it applies the ConfigMap without data, and owns none of it.
    api.apply(environment({"schedule": "0 6 * * *"}), namespace)
    eventually(
        lambda: (
            (api.get("CronJob", namespace, NAMES.drill_cronjob) or {})["spec"]["schedule"]
            == "0 6 * * *"
        )
    )
    written = api.get("ConfigMap", namespace, NAMES.drill_result)
    assert written is not None
    assert written["data"] == {
        "finishedAt": "2026-12-03T05:00:37Z",
        "result": "Passed",
        "rtoSeconds": "15.7",
        "message": "restored the latest base backup and its WAL in 15.7s",
    }
    assert written["metadata"]["labels"]["app.kubernetes.io/component"] == "drill"
    assert written["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tierkeeper"

    # As the drill's ServiceAccount: its own ConfigMap yes, any other one no.
    drill_api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    drill_api.set_default_header(
        "Impersonate-User", f"system:serviceaccount:{namespace}:{NAMES.drill_identity}"
    )
    core = client.CoreV1Api(drill_api)
    assert core.read_namespaced_config_map(NAMES.drill_result, namespace).data["result"] == "Passed"
    for forbidden in (
        lambda: core.read_namespaced_config_map(NAMES.drill_script, namespace),
        lambda: core.patch_namespaced_config_map(
            NAMES.drill_script, namespace, {"data": {"drill.sh": "exit 0"}}
        ),
        lambda: core.delete_namespaced_config_map(NAMES.drill_result, namespace),
        lambda: core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "planted"}, "data": {"a": "b"}}
        ),
        lambda: core.list_namespaced_config_map(namespace),
        lambda: core.read_namespaced_secret("s3", namespace),
    ):
        with pytest.raises(ApiException) as denied:
            forbidden()
        assert denied.value.status == 403


def test_tierkeeper_drill_without_an_object_store_points_to_the_dump_drill(
    api: Api, namespace: str, cluster: Any
) -> None:
    document = environment({})
    del document["spec"]["postgres"]["backup"]["objectStore"]
    api.apply(document, namespace)

    started = tierkeeper_drill(cluster, namespace)

    assert started.returncode == 1
    assert "has no postgres.backup.objectStore" in started.stderr, started.stderr
    assert "tierkeeper restore --verify" in started.stderr
    assert api.list("Job", namespace) == []
