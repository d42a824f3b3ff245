"""The local control plane is a real one: our CRDs, admission, controllers, scheduler, nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.k8s import eventually
from tierkeeper.devcluster import Kubectl, StateDir, Toolchain
from tierkeeper.devcluster.processes import ProcessId

pytestmark = pytest.mark.integration

CRDS = Path(__file__).parents[2] / "crds"
# Never pulled on KWOK's nodes, which only pretend to run containers; on a real
# cluster (`make e2e-kind`) set TIERKEEPER_TEST_IMAGE to an image that keeps running.
IMAGE = os.environ.get("TIERKEEPER_TEST_IMAGE", "tierkeeper.invalid/app:1")


def get(cluster: Kubectl, namespace: str, *what: str) -> dict[str, Any] | None:
    found = cluster.kubectl("get", "-n", namespace, "-o", "json", *what, check=False)
    if found.returncode != 0:
        return None
    obj: dict[str, Any] = json.loads(found.stdout)
    return obj


def apply(cluster: Kubectl, namespace: str, *documents: dict[str, Any], check: bool = True) -> str:
    """Create the documents; return kubectl's stderr (the API server's refusal, if any)."""
    result = cluster.kubectl(
        "create", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(documents), check=check
    )
    return result.stderr


def environment(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": spec,
    }


def words(text: str) -> str:
    return " ".join(text.split())


# -- our CRDs on the real API server ---------------------------------------------


def test_explain_shows_our_field_descriptions(cluster: Kubectl) -> None:
    crd = yaml.safe_load((CRDS / "environments.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    postgres = schema["properties"]["spec"]["properties"]["postgres"]

    explained = words(cluster.kubectl("explain", "tkenv.spec.postgres").stdout)

    assert words(postgres["description"]) in explained
    for field in ("instances", "provider", "storage"):
        assert words(postgres["properties"][field]["description"]) in explained, field


def test_valid_environment_is_admitted(cluster: Kubectl, namespace: str) -> None:
    apply(cluster, namespace, environment("shop", {"tier": "staging"}))

    stored = get(cluster, namespace, "tkenv", "shop")
    assert stored is not None
    assert stored["spec"]["tier"] == "staging"


def test_unknown_tier_is_rejected_by_the_schema(cluster: Kubectl, namespace: str) -> None:
    refusal = apply(cluster, namespace, environment("shop", {"tier": "qa"}), check=False)

    assert "spec.tier" in refusal
    assert "Unsupported value" in refusal
    assert get(cluster, namespace, "tkenv", "shop") is None


def test_ha_on_builtin_postgres_is_rejected_with_our_cel_message(
    cluster: Kubectl, namespace: str
) -> None:
    spec = {"tier": "staging", "postgres": {"instances": 3, "provider": "builtin"}}

    refusal = apply(cluster, namespace, environment("shop", spec), check=False)

    assert "needs provider cloudnative-pg" in refusal
    assert get(cluster, namespace, "tkenv", "shop") is None


# -- controllers, scheduler and KWOK nodes ---------------------------------------


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": IMAGE}]},
            },
        },
    }


def test_deployment_becomes_available_on_simulated_nodes(cluster: Kubectl, namespace: str) -> None:
    apply(cluster, namespace, deployment("web", replicas=2))

    eventually(
        lambda: (
            (get(cluster, namespace, "deployment", "web") or {})
            .get("status", {})
            .get("availableReplicas")
            == 2
        ),
        timeout=120,
        what="2 available replicas",
    )
    pods = get(cluster, namespace, "pods", "-l", "app=web")
    assert pods is not None
    assert [p["status"]["phase"] for p in pods["items"]] == ["Running", "Running"]
    assert all(p["spec"].get("nodeName") for p in pods["items"])  # scheduled


def lease_renewals(cluster: Kubectl) -> dict[str, str]:
    leases = get(cluster, "kube-node-lease", "leases") or {}
    return {
        lease["metadata"]["name"]: lease["spec"].get("renewTime", "")
        for lease in leases.get("items", [])
    }


def test_simulated_nodes_renew_their_leases(cluster: Kubectl) -> None:
    """The node controller's proof of life between KWOK's status heartbeats, which come
    only every 10 to 20 minutes: without it every pod turns NotReady late in a long run."""
    nodes = get(cluster, "default", "nodes") or {}
    names = {node["metadata"]["name"] for node in nodes.get("items", [])}

    def every_node_has_one() -> dict[str, str] | None:
        found = lease_renewals(cluster)
        return found if set(found) >= names else None

    first = eventually(every_node_has_one, what="a Lease per node")
    eventually(
        lambda: all(lease_renewals(cluster)[name] > first[name] for name in names),
        timeout=90,
        what="every Lease renewed",
    )


def test_statefulset_claims_are_provisioned_and_bound(cluster: Kubectl, namespace: str) -> None:
    labels = {"app": "db"}
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 1,
            "serviceName": "db",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "db",
                            "image": IMAGE,
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    apply(cluster, namespace, statefulset)

    eventually(
        lambda: (
            (get(cluster, namespace, "statefulset", "db") or {})
            .get("status", {})
            .get("readyReplicas")
            == 1
        ),
        timeout=120,
        what="1 ready replica",
    )
    claim = get(cluster, namespace, "pvc", "data-db-0")
    assert claim is not None
    assert claim["status"]["phase"] == "Bound"


def test_deleting_the_owner_collects_the_owned_configmap(cluster: Kubectl, namespace: str) -> None:
    apply(
        cluster, namespace, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}
    )
    owner = get(cluster, namespace, "configmap", "owner")
    assert owner is not None
    owned = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": owner["metadata"]["uid"],
                }
            ],
        },
    }
    apply(cluster, namespace, owned)

    cluster.kubectl("delete", "-n", namespace, "configmap", "owner")

    eventually(
        lambda: get(cluster, namespace, "configmap", "owned") is None,
        timeout=120,
        what="the owned ConfigMap collected",
    )


# -- the CLI's background cluster ------------------------------------------------


def test_cluster_up_and_down_from_separate_processes(
    local_toolchain: Toolchain, tmp_path: Path
) -> None:
    # State under tmp_path, binaries those already built.
    env = {
        **os.environ,
        "TIERKEEPER_CACHE": str(tmp_path),
        "TIERKEEPER_CONTROLPLANE_BIN": str(local_toolchain.bin_dir),
    }
    state = StateDir(tmp_path / "clusters" / "cli")

    def tierkeeper(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "tierkeeper", "cluster", *args, "--name", "cli"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout

    kubeconfig = Path(tierkeeper("up").strip())
    try:
        assert kubeconfig == state.kubeconfig
        recorded = state.read_pids()
        assert recorded is not None
        processes = [ProcessId(**p) for p in [recorded["owner"], *recorded["components"].values()]]
        # The owner, etcd, apiserver, controller-manager, scheduler and kwok.
        assert len(processes) == 6
        nodes = Kubectl(
            kubeconfig, local_toolchain.path("kubectl"), tmp_path / "kubectl-cache"
        ).kubectl("get", "nodes", "-o", "name")
        assert nodes.stdout.split() == ["node/kwok-node-0", "node/kwok-node-1"]
        exports = tierkeeper("env")
        assert f"export KUBECONFIG={kubeconfig}\n" in exports
        assert f"export PATH={local_toolchain.bin_dir}:" in exports
    finally:
        tierkeeper("down")

    assert [p for p in processes if p.alive()] == []
    assert not state.pidfile.exists()
