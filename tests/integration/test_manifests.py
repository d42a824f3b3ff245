"""The install manifests on the real control plane: the API server accepts every object
`kubectl apply -k manifests/` sends (server-side dry run, Pod Security `restricted`
included), and the operator does its whole job on exactly the RBAC they grant."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import operator_process
from tests.integration.k8s import Api, condition, eventually, instance_selector, is_true
from tests.integration.test_secrets import OBJECT_STORE
from tierkeeper import FINALIZER
from tierkeeper.handlers.child_watches import WATCHED
from tierkeeper.models.names import ChildNames

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
SYSTEM_NAMESPACE = "tierkeeper-system"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
# The base's ServiceAccount, the one user the test cluster's audit-policy.yaml logs.
OPERATOR_USER = "system:serviceaccount:tierkeeper-system:tierkeeper"
# Pods on the local control plane are simulated; on a real cluster (`make e2e-kind`) the
# image must be one its nodes can pull and run.
IMAGE = os.environ.get("TIERKEEPER_TEST_IMAGE", "tierkeeper.invalid/app:1")


def built(cluster: Any, directory: Path) -> list[dict[str, Any]]:
    rendered = cluster.kubectl("kustomize", str(directory)).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.fixture(scope="module")
def system_namespace(cluster: Any) -> Iterator[str]:
    """The operator's namespace, created for real: a dry run creates nothing, so the
    namespaced objects of the base would have nowhere to go. Its Pod Security labels
    make the API server judge the Deployment's pod template as `restricted`."""
    existed = cluster.kubectl("get", "namespace", SYSTEM_NAMESPACE, check=False).returncode == 0
    cluster.kubectl("apply", "-f", str(MANIFESTS / "base" / "namespace.yaml"))
    yield SYSTEM_NAMESPACE
    if not existed:
        cluster.kubectl("delete", "namespace", SYSTEM_NAMESPACE, "--wait=false")


def test_base_passes_a_server_side_dry_run(cluster: Any, system_namespace: str) -> None:
    result = cluster.kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server", "-o", "name")
    # `-o name` qualifies kinds with their group: deployment.apps/tierkeeper.
    applied = sorted(
        f"{kind.split('.')[0]}/{name}"
        for kind, name in (line.split("/", 1) for line in result.stdout.split())
    )
    expected = sorted(
        f"{doc['kind'].lower()}/{doc['metadata']['name']}" for doc in built(cluster, MANIFESTS)
    )
    assert applied == expected
    assert "would violate PodSecurity" not in result.stderr, result.stderr


def test_peering_overlay_passes_a_dry_run_once_the_base_crds_exist(
    cluster: Any, system_namespace: str
) -> None:
    # The base's peering CRDs, for real (nothing else in the test cluster uses them).
    peering_crds = MANIFESTS / "base" / "peering.yaml"
    cluster.install_crds(peering_crds)
    result = cluster.kubectl(
        "apply", "-k", str(MANIFESTS / "peering"), "--dry-run=server", "-o", "name"
    )
    assert "clusterkopfpeering.kopf.dev/tierkeeper" in result.stdout.split()


def guard_documents(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    """The base's deletion guard as `kubectl apply -k` installs it, named and bound for
    `namespace` alone: it is cluster-wide, and the other tests' Environments are deleted
    with their namespaces whether an operator took them on or not."""
    documents = [
        copy.deepcopy(doc)
        for doc in built(cluster, MANIFESTS)
        if doc["kind"].startswith("ValidatingAdmissionPolicy")
    ]
    assert {doc["kind"] for doc in documents} == {
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    for doc in documents:
        doc["metadata"]["name"] = f"{doc['metadata']['name']}-{namespace}"
        if doc["kind"] == "ValidatingAdmissionPolicyBinding":
            doc["spec"]["policyName"] = f"{doc['spec']['policyName']}-{namespace}"
            doc["spec"]["matchResources"] = {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            }
    return documents


def deleted(cluster: Any, namespace: str, name: str) -> str | None:
    """None if the deletion was taken, else why it was refused."""
    result = cluster.kubectl(
        "delete", "environment", name, "-n", namespace, "--wait=false", check=False
    )
    return None if result.returncode == 0 else result.stderr


def test_a_retained_environment_is_deleted_only_once_the_operator_has_taken_it_on(
    cluster: Any, api: Api, namespace: str
) -> None:
    """No operator runs here: an Environment that keeps its data has no finalizer yet, and
    deleting it would let garbage collection take its volumes. The install's admission
    policy refuses that, and says what to do; an Environment whose data goes with it, or
    one the operator has taken on, is deleted."""
    documents = guard_documents(cluster, namespace)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))

    def staging(name: str, **spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": "tierkeeper.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": name},
            "spec": {"tier": "staging", **spec},
        }

    try:
        # The API server takes a new policy up within moments: until it refuses, each
        # deletion goes through and the Environment is made again.
        def refused() -> str | None:
            api.apply(staging("kept"), namespace)
            return deleted(cluster, namespace, "kept")

        why = eventually(refused, timeout=60, what="the deletion refused")
        assert "deletionPolicy: Delete" in why, why
        assert api.get("Environment", namespace, "kept") is not None

        api.apply(staging("kept", deletionPolicy="Delete"), namespace)
        assert deleted(cluster, namespace, "kept") is None
        development = {**staging("dev"), "spec": {"tier": "development"}}
        api.apply(development, namespace)
        assert deleted(cluster, namespace, "dev") is None
        retained = {**development, "spec": {"tier": "development", "deletionPolicy": "Retain"}}
        api.apply(retained, namespace)
        assert deleted(cluster, namespace, "dev") is not None

        api.patch("Environment", namespace, "dev", {"metadata": {"finalizers": [FINALIZER]}})
        assert deleted(cluster, namespace, "dev") is None
        # Nothing runs to remove the finalizer in this test: the test's own part.
        api.patch("Environment", namespace, "dev", {"metadata": {"finalizers": None}})
        eventually(lambda: api.get("Environment", namespace, "dev") is None, what="dev gone")
    finally:
        cluster.kubectl("delete", "-f", "-", input=yaml.safe_dump_all(documents), check=False)


@pytest.fixture
def service_account_kubeconfig(
    cluster: Any, system_namespace: str, tmp_path: Path
) -> Iterator[Path]:
    """A kubeconfig that authenticates as the operator's ServiceAccount, bound to the base's
    ClusterRole, both applied for real (and the cluster-wide ones removed afterwards)."""
    rbac = [doc for doc in built(cluster, MANIFESTS) if doc["kind"] in RBAC_KINDS]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    account = next(doc for doc in rbac if doc["kind"] == "ServiceAccount")["metadata"]
    token = cluster.kubectl(
        "create", "token", account["name"], "-n", account["namespace"], "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    path = tmp_path / "operator.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": server["cluster"]}],
                "users": [{"name": "operator", "user": {"token": token}}],
                "contexts": [
                    {"name": "operator", "context": {"cluster": "test", "user": "operator"}}
                ],
                "current-context": "operator",
            }
        )
    )
    whoami = subprocess.run(
        [str(cluster.kubectl_path), f"--kubeconfig={path}", "auth", "whoami", "-o", "yaml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert whoami.returncode == 0, whoami.stderr
    user = yaml.safe_load(whoami.stdout)["status"]["userInfo"]["username"]
    assert user == f"system:serviceaccount:{account['namespace']}:{account['name']}"
    yield path
    for doc in rbac:
        if doc["kind"] != "ServiceAccount":
            cluster.kubectl(
                "delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found"
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def live(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def deployment_args(cluster: Any) -> list[str]:
    deployment = next(doc for doc in built(cluster, MANIFESTS) if doc["kind"] == "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def owned_children(api: Api, namespace: str, env: str) -> dict[tuple[str, str], str]:
    """The uid of each child of every watched kind that the Environment `env` owns."""
    return {
        (kind, item["metadata"]["name"]): item["metadata"]["uid"]
        for _, kind in WATCHED
        for item in api.list(kind, namespace, instance_selector(env))
        if any(
            o["kind"] == "Environment" and o["name"] == env
            for o in item["metadata"].get("ownerReferences") or []
        )
    }


def put_back(api: Api, namespace: str, deleted: dict[tuple[str, str], str]) -> bool:
    """Every deleted child exists again, as a new object."""
    for (kind, name), uid in deleted.items():
        found = api.get(kind, namespace, name)
        if found is None or found["metadata"]["uid"] == uid:
            return False
    return True


def told(api: Api, namespace: str) -> set[tuple[str, str, str]]:
    """(kind, name, reason) of each Event the operator posted in the namespace."""
    return {
        (e["involvedObject"]["kind"], e["involvedObject"]["name"], e["reason"])
        for e in api.list("Event", namespace)
        if e.get("reportingComponent") == "tierkeeper"
    }


def decisions(audit_log: Path, user: str, offset: int) -> dict[str, list[str]]:
    """The API server's authorization decisions on `user`'s requests in its audit log after
    `offset` bytes, by decision ("allow", "forbid"): each request as "VERB URI"."""
    found: dict[str, list[str]] = {}
    with audit_log.open("rb") as log:
        log.seek(offset)
        for line in log:
            event = json.loads(line)
            if event["user"]["username"] != user:
                continue
            decision = event.get("annotations", {}).get("authorization.k8s.io/decision", "")
            found.setdefault(decision, []).append(f"{event['verb']} {event['requestURI']}")
    return found


def test_operator_does_its_job_with_only_the_granted_rbac(
    cluster: Any,
    api: Api,
    namespace: str,
    service_account_kubeconfig: Path,
    audit_log: Path | None,
    tmp_path: Path,
) -> None:
    """As the ServiceAccount, watching all namespaces like the Deployment: an Environment
    with every kind of child becomes Ready, its Release is promoted, a child of each kind
    deleted by hand is put back, the steps are told in Events, and deleting the Environment
    with deletionPolicy Retain detaches the data. A refused write shows as a ChildRejected
    Event; any refusal of the ServiceAccount's requests, a list or a watch too, in the API
    server's audit log (a watch the operator cannot open is made up for by listing again,
    slowly, so nothing else would show it). An existing cluster's audit log is not ours to
    read: there, the Events are the only check."""
    port = free_port()
    # The Deployment's own arguments, its liveness endpoint moved to a free local port.
    args = [
        arg.replace("http://0.0.0.0:8080/", f"http://127.0.0.1:{port}/")
        for arg in deployment_args(cluster)
    ]
    assert args[0] == "run" and "--namespace" not in args
    log = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(service_account_kubeconfig)}
    command = [
        sys.executable,
        "-m",
        "tierkeeper",
        *args,
        "--metrics-port",
        "0",
        "--log-format",
        "plain",
    ]
    names = ChildNames("shop")
    audit_offset = audit_log.stat().st_size if audit_log and audit_log.exists() else 0
    with log.open("ab") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: live(f"http://127.0.0.1:{port}/healthz"), timeout=60, what="liveness")
        api.apply(
            {
                "apiVersion": "tierkeeper.dev/v1alpha1",
                "kind": "Environment",
                "metadata": {"name": "shop"},
                "spec": {
                    "tier": "development",
                    "deletionPolicy": "Retain",
                    # A store brings the drill's children: ServiceAccount, Role, RoleBinding.
                    "postgres": {"backup": {"objectStore": OBJECT_STORE}},
                },
            },
            namespace,
        )
        api.apply(
            {
                "apiVersion": "tierkeeper.dev/v1alpha1",
                "kind": "Release",
                "metadata": {"name": "shop"},
                "spec": {"environment": "shop", "image": IMAGE},
            },
            namespace,
        )
        ready = eventually(
            lambda: (
                found
                if is_true(found := api.get("Environment", namespace, "shop"), "Ready")
                else None
            ),
            timeout=180,
            what="Environment Ready",
        )
        eventually(
            lambda: (
                ((api.get("Release", namespace, "shop") or {}).get("status") or {}).get("phase")
                == "Promoted"
            ),
            timeout=120,
            what="Release Promoted",
        )
        children = owned_children(api, namespace, "shop")
        # Every watched kind but Ingress: this Environment has no route.
        assert {kind for kind, _ in children} == {
            kind for _, kind in WATCHED if kind != "Ingress"
        }, children
        for kind, name in children:
            api.delete(kind, namespace, name)
        eventually(
            lambda: put_back(api, namespace, children),
            timeout=120,
            what="every hand-deleted child put back",
            explain=lambda: owned_children(api, namespace, "shop"),
        )
        ready_reason = (condition(ready, "Ready") or {})["reason"]
        assert {
            ("Environment", "shop", ready_reason),
            ("Release", "shop", "Deploying"),
            ("Release", "shop", "Promoted"),
        } <= told(api, namespace)
        # A write of ours that RBAC refuses becomes a ChildRejected Warning.
        rejected = [
            e["message"] for e in api.list("Event", namespace) if e["reason"] == "ChildRejected"
        ]
        assert not rejected, rejected
        api.delete("Environment", namespace, "shop")
        eventually(
            lambda: api.get("Environment", namespace, "shop") is None,
            timeout=60,
            what="Environment gone (finalizer removed)",
        )
        retained = api.list("PersistentVolumeClaim", namespace, "tierkeeper.dev/retained-from=shop")
        assert retained, "deletionPolicy Retain kept no PersistentVolumeClaim"
        credentials = api.get("Secret", namespace, names.postgres_credentials)
        assert credentials is not None and not credentials["metadata"].get("ownerReferences")
        assert process.poll() is None, "the operator exited"
        # Another client refused meanwhile is none of the operator's business.
        refused_elsewhere = cluster.kubectl("get", "secrets", "-A", "--as=nobody", check=False)
        assert refused_elsewhere.returncode != 0
        if audit_log is not None:
            # The cluster's own record of the ServiceAccount's requests: every one, kopf's
            # watches included, was allowed (and some were logged, so it records them).
            decided = decisions(audit_log, OPERATOR_USER, audit_offset)
            assert decided.get("allow"), f"no request of {OPERATOR_USER} in {audit_log}"
            refused = {k: v for k, v in decided.items() if k != "allow"}
            assert refused == {}, f"the API server refused requests of {OPERATOR_USER}: {refused}"
    finally:
        operator_process.stop_process(process)
