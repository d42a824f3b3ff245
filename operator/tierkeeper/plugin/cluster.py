"""The plugin's access to the cluster, with the user's own kubeconfig (so RBAC applies to
the person): reading what a view needs, and the one kind of write its commands make (a
merge patch). Synchronous: a CLI does one thing at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tierkeeper.plugin.view import (
    Obj,
    Snapshot,
    active_service_name,
    app_deployment_names,
    release_bound_to,
    rolling_deployment_name,
)

GROUP, VERSION = "tierkeeper.dev", "v1alpha1"
FIELD_MANAGER = "kubectl-tierkeeper"
MERGE_PATCH = "application/merge-patch+json"


class NotFound(Exception):
    """The object asked for does not exist (or the user may not see it)."""


@dataclass(frozen=True)
class Target:
    """Where to connect, as kubectl's flags say: --kubeconfig, --context, -n."""

    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str | None = None
    user: str | None = None  # --as: act as this user (impersonation), if RBAC lets you


class Cluster:
    def __init__(self, target: Target) -> None:
        kubeconfig = str(target.kubeconfig) if target.kubeconfig else None
        self.api = config.new_client_from_config(config_file=kubeconfig, context=target.context)
        if target.user:
            self.api.set_default_header("Impersonate-User", target.user)
        self.namespace = target.namespace or _context_namespace(kubeconfig, target.context)
        self.custom = client.CustomObjectsApi(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.core = client.CoreV1Api(self.api)

    def close(self) -> None:
        self.api.close()

    # -- reading ---------------------------------------------------------------

    def environment(self, name: str, namespace: str | None = None) -> Obj:
        found = self._custom_get("environments", namespace or self.namespace, name)
        if found is None:
            raise NotFound(f"Environment {name!r} not found in namespace {self.namespace!r}")
        return found

    def environments(self, namespace: str | None) -> list[Obj]:
        """Every Environment of `namespace`, or of every namespace if None."""
        if namespace is None:
            listed = _dict(self.custom.list_cluster_custom_object(GROUP, VERSION, "environments"))
        else:
            listed = _dict(
                self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "environments")
            )
        items: list[Obj] = listed.get("items", [])
        return sorted(items, key=lambda e: (e["metadata"]["namespace"], e["metadata"]["name"]))

    def release_of(self, environment: str, env: Obj | None, namespace: str) -> Obj | None:
        listed = _dict(
            self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "releases")
        )
        return release_bound_to(environment, env, listed.get("items", []))

    def snapshot(self, env: Obj) -> Snapshot:
        name, namespace = env["metadata"]["name"], env["metadata"]["namespace"]
        deployments = {}
        for deployment in (*app_deployment_names(name), rolling_deployment_name(name)):
            found = self._raw(self.apps.read_namespaced_deployment, deployment, namespace)
            if found is not None:
                deployments[deployment] = found
        return Snapshot(
            namespace=namespace,
            environment=env,
            release=self.release_of(name, env, namespace),
            deployments=deployments,
            service=self._raw(
                self.core.read_namespaced_service, active_service_name(name), namespace
            ),
        )

    def release_named(self, name: str) -> Obj:
        """The Release `name`, or else the one bound to the Environment `name`."""
        found = self._custom_get("releases", self.namespace, name)
        if found is not None:
            return found
        env = self._custom_get("environments", self.namespace, name)
        bound = self.release_of(name, env, self.namespace)
        if bound is None:
            raise NotFound(
                f"no Release {name!r} and no Release of an Environment {name!r} "
                f"in namespace {self.namespace!r}"
            )
        return bound

    # -- writing ---------------------------------------------------------------

    def merge_patch(self, plural: str, name: str, patch: dict[str, Any]) -> Obj:
        patched = self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            plural,
            name,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type=MERGE_PATCH,
        )
        return _dict(patched)

    # -- helpers ---------------------------------------------------------------

    def _custom_get(self, plural: str, namespace: str, name: str) -> Obj | None:
        try:
            found = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return _dict(found)

    def _raw(self, read: Any, name: str, namespace: str) -> Obj | None:
        """An object as the API server serves it (camelCase JSON), or None if absent."""
        try:
            response = read(name, namespace, _preload_content=False)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        loaded: Obj = json.loads(response.data)
        return loaded


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace the kubeconfig's context names, as kubectl takes it; else default."""
    contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    namespace: str = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return namespace


def _dict(value: object) -> Obj:
    """A custom-object call's answer, which the client types as `object`, as the JSON
    object it is."""
    if not isinstance(value, dict):
        raise TypeError(f"the API server answered {type(value).__name__}, not an object")
    return value
