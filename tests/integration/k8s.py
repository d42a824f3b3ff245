"""A small synchronous view of the test cluster: read what it holds, apply YAML, wait."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import config, dynamic
from kubernetes.client import ApiClient
from kubernetes.dynamic.exceptions import NotFoundError

from tierkeeper.devcluster import Kubectl
from tierkeeper.models.names import ChildNames

T = TypeVar("T")
GROUP_VERSION = "tierkeeper.dev/v1alpha1"
API_VERSIONS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "CronJob": "batch/v1",
    "Job": "batch/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "Environment": GROUP_VERSION,
    "Release": GROUP_VERSION,
    "Cluster": "postgresql.cnpg.io/v1",
    "ScheduledBackup": "postgresql.cnpg.io/v1",
    "Backup": "postgresql.cnpg.io/v1",
    "KopfPeering": "kopf.dev/v1",
    "StorageClass": "storage.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
    "HTTPRoute": "gateway.networking.k8s.io/v1",
    "Certificate": "cert-manager.io/v1",
}


class Api:
    """Generic get/list/apply/patch/delete of any kind by name."""

    def __init__(self, kubeconfig: Path) -> None:
        self.client: ApiClient = config.new_client_from_config(config_file=str(kubeconfig))
        self.dynamic = dynamic.DynamicClient(self.client)

    def resource(self, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=API_VERSIONS.get(kind, "v1"), kind=kind)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = (
                self.resource(kind).get(name=name, namespace=namespace).to_dict()
            )
        except NotFoundError:
            return None
        return found

    def list(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        items = self.resource(kind).get(namespace=namespace, label_selector=selector).items
        return [item.to_dict() for item in items]

    def apply(
        self, document: dict[str, Any], namespace: str, manager: str = "test"
    ) -> dict[str, Any]:
        body = {**document, "metadata": {**document["metadata"], "namespace": namespace}}
        path = self.resource(document["kind"]).path(
            name=body["metadata"]["name"], namespace=namespace
        )
        # UTF-8 JSON, passed as it is: the client's own encoding escapes characters beyond
        # the BMP as surrogate pairs, which the API server's YAML decoder refuses.
        result: dict[str, Any] = self.dynamic.request(
            "patch",
            path,
            body=json.dumps(body, ensure_ascii=False).encode(),
            content_type="application/apply-patch+yaml",
            field_manager=manager,
            force_conflicts=True,
        ).to_dict()
        return result

    def set_image(
        self, kind: str, namespace: str, name: str, container: str, image: str, manager: str
    ) -> None:
        """Another manager's forced apply of a pod template's container image: drift of a
        field the operator owns, which moves to `manager`."""
        edit = {"name": container, "image": image}
        template = {"spec": {"containers": [edit]}}
        self.apply(
            {
                "apiVersion": API_VERSIONS[kind],
                "kind": kind,
                "metadata": {"name": name},
                "spec": {"template": template},
            },
            namespace,
            manager=manager,
        )

    def apply_file(
        self, path: Path, namespace: str, kinds: tuple[str, ...] = ("Environment", "Release")
    ) -> None:
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] in kinds:
                self.apply(document, namespace)

    def watch_until(
        self,
        kind: str,
        namespace: str,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: int = 120,
    ) -> dict[str, Any]:
        """The first version of the object that satisfies `predicate`, seen through a watch:
        states too short-lived for polling are still caught."""
        stream = self.resource(kind).watch(namespace=namespace, name=name, timeout=timeout)
        for event in stream:
            obj: dict[str, Any] = event["object"].to_dict()
            if predicate(obj):
                return obj
        raise AssertionError(f"{kind} {namespace}/{name} never matched within {timeout}s")

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.resource(kind).patch(
            name=name, namespace=namespace, body=patch, content_type="application/merge-patch+json"
        )

    def patch_status(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any], manager: str
    ) -> None:
        """Write status as the controller `manager` of that kind would."""
        self.resource(kind).status.patch(
            name=name,
            namespace=namespace,
            body=patch,
            content_type="application/merge-patch+json",
            field_manager=manager,
        )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.resource(kind).delete(name=name, namespace=namespace)


def eventually(
    check: Callable[[], T | None],
    *,
    timeout: float = 60,
    interval: float = 0.25,
    what: str = "",
    explain: Callable[[], object] | None = None,
) -> T:
    """Poll until `check` returns something truthy; fail with `what` after `timeout`, and
    with what `explain` says of the cluster then (for checks that only answer yes or no)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    detail = f"; cluster: {explain()!r}" if explain else ""
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or check}; last: {last!r}{detail}"
    )


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            found: dict[str, Any] = cond
            return found
    return None


def is_true(obj: dict[str, Any] | None, type_: str) -> bool:
    found = condition(obj, type_)
    return found is not None and found["status"] == "True"


def instance_selector(environment: str) -> str:
    """The label selector of the children of the Environment `environment`."""
    return f"app.kubernetes.io/instance={ChildNames(environment).instance_label}"


def server_dry_run(
    cluster: Kubectl, namespace: str, manifests: list[Any]
) -> subprocess.CompletedProcess[str]:
    """What the API server (with the CRDs' schemas, strictly) says of `manifests` when
    applied server-side; a dry run, nothing is written."""
    return cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "--namespace",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump_all(manifests),
        check=False,
    )
