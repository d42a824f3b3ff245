"""What `kubectl apply -k manifests/` installs, built by kubectl's own kustomize and checked
against the operator: its CLI accepts the Deployment's arguments, the probe and the
metrics Service point where the operator listens, the RBAC covers what it touches and
no more, and the Pod runs locked down. (Server-side validation of the same objects:
tests/integration/test_manifests.py.)"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.golden import rewrite_if_asked
from tests.tools.conftest import ROOT
from tierkeeper.apply.client import PLURALS
from tierkeeper.cli import run as run_command
from tierkeeper.handlers.child_watches import WATCHED

# (API group, plural) of each kind of child the operator watches.
CHILDREN = [(api_version.rpartition("/")[0], PLURALS[kind]) for api_version, kind in WATCHED]

MANIFESTS = ROOT / "manifests"
NAMESPACE = "tierkeeper-system"
Build = Callable[[Path], list[dict[str, Any]]]
Objects = list[dict[str, Any]]


def find(objects: Objects, kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def run_args(argv: list[str]) -> argparse.Namespace:
    """The container's arguments as `tierkeeper` parses them."""
    parser = argparse.ArgumentParser(prog="tierkeeper")
    run_command.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def container(objects: Objects) -> dict[str, Any]:
    deployment = find(objects, "Deployment", "tierkeeper")
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def rules(objects: Objects) -> list[dict[str, Any]]:
    role: list[dict[str, Any]] = find(objects, "ClusterRole", "tierkeeper")["rules"]
    return role


def verbs(objects: Objects, group: str, resource: str) -> set[str]:
    return {
        verb
        for rule in rules(objects)
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.fixture(scope="module")
def base(kustomize: Build) -> Objects:
    return kustomize(MANIFESTS)


def test_base_installs_namespace_crds_rbac_defaults_operator_metrics_service_and_guard(
    base: Objects,
) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in base)
    assert kinds == [
        ("ClusterRole", "tierkeeper"),
        ("ClusterRoleBinding", "tierkeeper"),
        ("ConfigMap", "tierkeeper-environment-defaults"),
        ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev"),
        ("CustomResourceDefinition", "environments.tierkeeper.dev"),
        ("CustomResourceDefinition", "kopfpeerings.kopf.dev"),
        ("CustomResourceDefinition", "releases.tierkeeper.dev"),
        ("Deployment", "tierkeeper"),
        ("Namespace", NAMESPACE),
        ("Service", "tierkeeper-metrics"),
        ("ServiceAccount", "tierkeeper"),
        ("ValidatingAdmissionPolicy", "tierkeeper-retained-data"),
        ("ValidatingAdmissionPolicyBinding", "tierkeeper-retained-data"),
    ]
    cluster_scoped = {
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Namespace",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    for obj in base:
        expected = None if obj["kind"] in cluster_scoped else NAMESPACE
        assert obj["metadata"].get("namespace") == expected, obj["metadata"]["name"]


def test_base_crds_are_the_checked_in_crds() -> None:
    """kustomize reads no file outside a kustomization's directory, so the base keeps copies of
    crds/ (`make crds` writes both). UPDATE_GOLDEN=1 copies crds/ over them,
    and fails."""
    copies = MANIFESTS / "base" / "crds"
    originals = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    rewrite_if_asked({copies / name: text for name, text in originals.items()})
    assert originals
    assert {p.name: p.read_text() for p in copies.glob("*.yaml")} == originals


def test_operator_pod_is_locked_down(base: Objects) -> None:
    pod = find(base, "Deployment", "tierkeeper")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(base)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    # A read-only root filesystem leaves /tmp to an emptyDir.
    mounts = {m["mountPath"]: m["name"] for m in container(base)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    resources = container(base)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert {"memory"} <= set(resources["limits"])
    namespace = find(base, "Namespace", NAMESPACE)["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"


def test_one_operator_at_a_time(base: Objects) -> None:
    spec = find(base, "Deployment", "tierkeeper")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_image_is_this_release(base: Objects) -> None:
    image = container(base)["image"]
    assert image == f"ghcr.io/tierkeeper/tierkeeper:{version('tierkeeper')}"


def test_the_cli_accepts_the_arguments_and_the_probe_checks_its_liveness_endpoint(
    base: Objects,
) -> None:
    spec = container(base)
    args = run_args(spec["args"])
    assert args.command == "run"
    assert args.namespace == []  # all namespaces: the RBAC is cluster-wide
    assert args.peering is None
    liveness = urlsplit(args.liveness)
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    probe = spec["livenessProbe"]["httpGet"]
    assert liveness.hostname == "0.0.0.0"  # reachable from the kubelet
    assert probe["path"] == liveness.path
    assert ports[probe["port"]] == liveness.port
    assert ports["metrics"] == args.metrics_port


def test_metrics_service_reaches_the_operator_metrics_port(base: Objects) -> None:
    service = find(base, "Service", "tierkeeper-metrics")
    pod_labels = find(base, "Deployment", "tierkeeper")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port == {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}


def test_the_binding_grants_the_role_to_the_pods_service_account(base: Objects) -> None:
    binding = find(base, "ClusterRoleBinding", "tierkeeper")
    pod = find(base, "Deployment", "tierkeeper")["spec"]["template"]["spec"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "tierkeeper",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NAMESPACE}
    ]
    find(base, "ServiceAccount", pod["serviceAccountName"])


def test_rbac_has_no_wildcards_and_no_dangerous_verbs(base: Objects) -> None:
    allowed = {"get", "list", "watch", "create", "patch", "delete"}
    for rule in rules(base):
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        assert set(rule["verbs"]) <= allowed, rule
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule, rule


def test_rbac_covers_every_child_the_operator_watches_and_applies(base: Objects) -> None:
    for group, plural in CHILDREN:
        # The operator lists and watches them; server-side apply creates and patches; unwanted
        # children are deleted.
        # get: a name not in the cache is looked up before the first write (names taken).
        assert verbs(base, group, plural) >= {
            "get",
            "list",
            "watch",
            "create",
            "patch",
            "delete",
        }, plural
    assert "get" in verbs(base, "", "secrets")  # credentials and spec.external Secrets
    assert verbs(base, "", "pods") == {"list"}  # restart counts during a rollout
    assert verbs(base, "", "events") == {"create"}
    assert verbs(base, "tierkeeper.dev", "environments") == {"list", "watch", "patch"}
    assert verbs(base, "tierkeeper.dev", "releases") == {"list", "watch", "patch"}
    assert verbs(base, "tierkeeper.dev", "environments/status") == {"patch"}
    assert verbs(base, "tierkeeper.dev", "releases/status") == {"patch"}
    assert verbs(base, "apiextensions.k8s.io", "customresourcedefinitions") == {
        "get",
        "list",
        "watch",
    }
    assert verbs(base, "postgresql.cnpg.io", "clusters") >= {"get", "list", "watch", "patch"}
    assert verbs(base, "postgresql.cnpg.io", "scheduledbackups") >= {
        "get",
        "list",
        "watch",
        "create",
        "patch",
    }


def test_rbac_grants_nothing_the_operator_does_not_touch(base: Objects) -> None:
    touched = set(CHILDREN) | {
        ("", "pods"),
        ("", "events"),
        ("tierkeeper.dev", "environments"),
        ("tierkeeper.dev", "releases"),
        ("tierkeeper.dev", "environments/status"),
        ("tierkeeper.dev", "releases/status"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("postgresql.cnpg.io", "clusters"),
        ("postgresql.cnpg.io", "scheduledbackups"),
        # The base backup before a production switch: a Job, or CloudNativePG's Backup.
        ("batch", "jobs"),
        ("postgresql.cnpg.io", "backups"),
        # Read only when a volume would grow: may its class expand?
        ("storage.k8s.io", "storageclasses"),
        # Routes and certificates of other CRDs' kinds: written, not watched.
        ("gateway.networking.k8s.io", "httproutes"),
        ("cert-manager.io", "certificates"),
        # Read by name for the RouteTLSReady condition.
        ("cert-manager.io", "issuers"),
        ("cert-manager.io", "clusterissuers"),
    }
    granted = {
        (group, resource)
        for rule in rules(base)
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert granted == touched
    # Watching all namespaces, kopf does not list namespaces; peering is not on in the base.
    assert not verbs(base, "", "namespaces")
    assert not verbs(base, "kopf.dev", "clusterkopfpeerings")


def test_peering_overlay_adds_the_peering_object_its_rule_and_the_flag(
    base: Objects, kustomize: Build
) -> None:
    peering = kustomize(MANIFESTS / "peering")
    added = [
        o
        for o in peering
        if (o["kind"], o["metadata"]["name"])
        not in {(b["kind"], b["metadata"]["name"]) for b in base}
    ]
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in added] == [
        ("kopf.dev/v1", "ClusterKopfPeering", "tierkeeper")
    ]
    assert verbs(peering, "kopf.dev", "clusterkopfpeerings") == {"list", "watch", "patch"}
    args = run_args(container(peering)["args"])
    assert args.peering == "tierkeeper"
    assert "--priority=auto" in container(peering)["args"]
    assert args.liveness == run_args(container(base)["args"]).liveness


def test_peering_overlay_keeps_a_hot_standby(kustomize: Build) -> None:
    spec = find(kustomize(MANIFESTS / "peering"), "Deployment", "tierkeeper")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 1  # never both gone


def test_monitoring_scrapes_the_metrics_service(base: Objects, kustomize: Build) -> None:
    monitoring = kustomize(MANIFESTS / "monitoring")
    assert sorted(o["kind"] for o in monitoring) == [
        "ConfigMap",
        "PrometheusRule",
        "ServiceMonitor",
    ]
    monitor = find(monitoring, "ServiceMonitor")
    service = find(base, "Service", "tierkeeper-metrics")
    assert monitor["metadata"]["namespace"] == NAMESPACE
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    # The metrics' own `namespace` label must win over the Service's namespace.
    assert endpoint["honorLabels"] is True


def test_monitoring_ships_the_dashboard_for_grafanas_sidecar(kustomize: Build) -> None:
    dashboard = find(kustomize(MANIFESTS / "monitoring"), "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["data"] == {
        "dashboard.json": (MANIFESTS / "monitoring" / "dashboard.json").read_text()
    }
