"""What `kubectl apply -k manifests/webhook/` installs: the hook's own ServiceAccount with
only the rights it uses (read Environments and Releases, patch Releases, create Events),
a locked-down Pod whose arguments its CLI accepts, and a Service on its ports. (The same
RBAC on the real API server: tests/integration/test_webhook_rbac.py.)"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.tools.conftest import ROOT
from tierkeeper.cli import webhook as webhook_command

WEBHOOK = ROOT / "manifests" / "webhook"
Objects = list[dict[str, Any]]


@pytest.fixture(scope="module")
def hook(kustomize: Callable[[Path], Objects]) -> Objects:
    return kustomize(WEBHOOK)


def one(objects: Objects, kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def test_installs_its_own_account_role_binding_deployment_and_service(hook: Objects) -> None:
    assert sorted((o["kind"], o["metadata"]["name"]) for o in hook) == [
        ("ClusterRole", "tierkeeper-webhook"),
        ("ClusterRoleBinding", "tierkeeper-webhook"),
        ("Deployment", "tierkeeper-webhook"),
        ("Service", "tierkeeper-webhook"),
        ("ServiceAccount", "tierkeeper-webhook"),
    ]
    binding = one(hook, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "tierkeeper-webhook"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tierkeeper-webhook", "namespace": "tierkeeper-system"}
    ]
    pod = one(hook, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tierkeeper-webhook"


def test_rbac_is_read_environments_and_releases_patch_releases_create_events(
    hook: Objects,
) -> None:
    granted = {
        (group, resource, verb)
        for rule in one(hook, "ClusterRole")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    read = {"get", "list", "watch"}
    assert granted == {
        *{("tierkeeper.dev", r, v) for r in ("environments", "releases") for v in read},
        ("tierkeeper.dev", "releases", "patch"),
        ("", "events", "create"),
    }


def test_the_cli_accepts_the_arguments_and_the_ports_match(hook: Objects) -> None:
    (container,) = one(hook, "Deployment")["spec"]["template"]["spec"]["containers"]
    parser = argparse.ArgumentParser(prog="tierkeeper")
    webhook_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": args.port, "metrics": args.metrics_port}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(args.secrets_dir)] == "secrets"
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = one(hook, "Service")["spec"]
    assert {p["name"]: p["targetPort"] for p in service["ports"]} == {
        "http": "http",
        "metrics": "metrics",
    }


def test_the_pod_is_locked_down(hook: Objects) -> None:
    pod = one(hook, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = pod["containers"][0]["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod.get("automountServiceAccountToken", True), "it must reach the API server"
