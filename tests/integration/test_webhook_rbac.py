"""The deploy hook under its own ServiceAccount on the real API server, bound to exactly
the rules of manifests/webhook (issue 18): they suffice to deploy, and without the
`patch releases` rule the hook answers 503 with a clear message and a counted metric —
not a stack trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.k8s import Api, eventually
from tests.integration.operator_process import scrape, total
from tests.integration.releases import ENV, environment, release
from tests.integration.webhook import (
    SHA,
    HookProcess,
    token_kubeconfig,
    with_deploy,
    workflow_run,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = ROOT / "manifests" / "webhook"
SYSTEM_NAMESPACE = "tierkeeper-system"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")


@pytest.fixture(scope="module")
def system_namespace(cluster: Any) -> Iterator[str]:
    """The hook's namespace, for real, for the module; one that another module is still
    deleting (test_manifests.py deletes it without waiting) is let go first."""
    phase = cluster.kubectl(
        "get", "namespace", SYSTEM_NAMESPACE, "-o", "jsonpath={.status.phase}", check=False
    )
    if phase.returncode == 0 and phase.stdout == "Terminating":
        cluster.kubectl("wait", "--for=delete", f"namespace/{SYSTEM_NAMESPACE}", "--timeout=120s")
    existed = phase.returncode == 0 and phase.stdout != "Terminating"
    cluster.kubectl("apply", "-f", str(ROOT / "manifests" / "base" / "namespace.yaml"))
    yield SYSTEM_NAMESPACE
    if not existed:
        cluster.kubectl("delete", "namespace", SYSTEM_NAMESPACE, "--wait=false")


@pytest.fixture
def rbac(cluster: Any, system_namespace: str) -> Iterator[list[dict[str, Any]]]:
    """The hook's ServiceAccount, ClusterRole and binding, applied for real (the
    cluster-wide ones removed afterwards)."""
    built = yaml.safe_load_all(cluster.kubectl("kustomize", str(WEBHOOK)).stdout)
    objects = [doc for doc in built if doc and doc["kind"] in RBAC_KINDS]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    yield objects
    for doc in objects:
        if doc["kind"] != "ServiceAccount":
            cluster.kubectl(
                "delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found"
            )


def test_hook_deploys_with_its_own_rights_and_fails_clearly_without_patch(
    cluster: Any, api: Api, namespace: str, rbac: list[dict[str, Any]], tmp_path: Path
) -> None:
    account = next(doc for doc in rbac if doc["kind"] == "ServiceAccount")["metadata"]
    kubeconfig = token_kubeconfig(
        cluster, account["namespace"], account["name"], tmp_path / "hook.kubeconfig"
    )
    api.apply(with_deploy(environment(), imageTemplate="shop:sha-{sha}"), namespace)
    api.apply(release("shop:1"), namespace)
    hook = HookProcess(kubeconfig, namespace, tmp_path)
    hook.start()
    try:
        status, answer = hook.send("workflow_run", workflow_run("main"))
        assert (status, answer["outcome"]) == (200, "deployed"), answer
        release_now = api.get("Release", namespace, ENV) or {}
        assert release_now["spec"]["image"] == f"shop:sha-{SHA}"

        role = next(doc for doc in rbac if doc["kind"] == "ClusterRole")
        without_patch = [r for r in role["rules"] if "patch" not in r["verbs"]]
        assert len(without_patch) == len(role["rules"]) - 1
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump({**role, "rules": without_patch}))

        def refused() -> tuple[int, dict[str, Any]] | None:
            answered = hook.send("workflow_run", workflow_run("main", sha="1" * 40))
            return answered if answered[0] != 200 else None

        status, answer = eventually(refused, what="the hook refused once RBAC changes")
        assert (status, answer["outcome"]) == (503, "forbidden"), answer
        assert "not allowed" in answer["message"] and "releases" in answer["message"]
        assert "manifests/webhook" in answer["message"]
        # Refused, it writes nothing: another delivery leaves the Release as it is.
        before = (api.get("Release", namespace, ENV) or {})["metadata"]["resourceVersion"]
        assert hook.send("workflow_run", workflow_run("main", sha="2" * 40))[0] == 503
        after = (api.get("Release", namespace, ENV) or {})["metadata"]["resourceVersion"]
        assert after == before
        samples = scrape(hook.metrics_port)
        assert total(samples, "tierkeeper_webhook_deliveries_total", outcome="forbidden") >= 1
    finally:
        hook.stop()
    log = hook.log.read_text()
    assert "Traceback" not in log
    assert log.count("503 forbidden") >= 2


def test_webhook_manifests_pass_a_server_side_dry_run(cluster: Any, system_namespace: str) -> None:
    """Every object of manifests/webhook, Pod Security `restricted` included (the
    namespace's labels make the API server judge the Deployment's pod template)."""
    result = cluster.kubectl("apply", "-k", str(WEBHOOK), "--dry-run=server", "-o", "name")
    assert sorted(result.stdout.split()) == [
        "clusterrole.rbac.authorization.k8s.io/tierkeeper-webhook",
        "clusterrolebinding.rbac.authorization.k8s.io/tierkeeper-webhook",
        "deployment.apps/tierkeeper-webhook",
        "service/tierkeeper-webhook",
        "serviceaccount/tierkeeper-webhook",
    ]
    assert "would violate PodSecurity" not in result.stderr, result.stderr
