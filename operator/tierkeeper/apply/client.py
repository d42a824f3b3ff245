"""The one routine that talks to the API server: server-side apply, get, create, delete, status.

Every kind the operator touches goes through the same path building and the same
error translation; requests are counted (a metric) so a benchmark can tell what
one reconcile costs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode
from urllib.request import getproxies

from kubernetes.aio import client, config
from pydantic import BaseModel

from tierkeeper import API_VERSION, FIELD_MANAGER, metrics
from tierkeeper.apply.errors import error_for
from tierkeeper.models.status import KOPF_FIELDS

# Plural of every kind the operator reads or writes.
PLURALS = {
    "Service": "services",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Event": "events",
    "Pod": "pods",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "CronJob": "cronjobs",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "Job": "jobs",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "HTTPRoute": "httproutes",
    "Certificate": "certificates",
    "Issuer": "issuers",
    "ClusterIssuer": "clusterissuers",
    "Cluster": "clusters",
    "ScheduledBackup": "scheduledbackups",
    "Backup": "backups",
    "Environment": "environments",
    "Release": "releases",
    "CustomResourceDefinition": "customresourcedefinitions",
    "StorageClass": "storageclasses",
}

Object = dict[str, Any]


def object_path(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = f"/namespaces/{quote(namespace)}" if namespace else ""
    suffix = f"/{quote(name)}" if name else ""
    return f"{prefix}{scope}/{PLURALS[kind]}{suffix}"


APPLY_PATCH = "application/apply-patch+yaml"

# Connections to the API server at once (kubernetes.aio's default is 100). Reconciles are
# bounded (`coalesce.CONCURRENCY`) but each writes its children at once; more connections
# would not make the API server answer sooner, and each one keeps its TLS and read
# buffers (a few hundred KiB) for as long as it lives.
POOL_SIZE = 32

# How long a request (not a watch) may go unanswered before it fails: a well API server
# answers in milliseconds, and ends a request itself after its --request-timeout (a minute
# by default), so this much silence is most likely a lost connection. A reconcile holds
# its Environment while it waits (coalesce.Coalescer); failing is retried with backoff,
# where the client library's five minutes left the status unmoved for as long.
REQUEST_TIMEOUT_SECONDS = 30.0


def proxied() -> bool:
    """Whether the environment names a proxy, by the rule aiohttp follows (urllib's)."""
    return any(scheme in ("http", "https", "ws", "wss") for scheme in getproxies())


async def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """In-cluster credentials when running in a Pod, else the kubeconfig (the default one
    unless named)."""
    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
            return configuration
        except config.ConfigException:
            pass
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return configuration


def _decode(raw: bytes) -> Object:
    """The API server's JSON; a plain-text answer (`404 page not found` for an API group
    nobody serves, e.g. CloudNativePG's before it is installed) becomes its message."""
    if not raw:
        return {}
    try:
        decoded: Object = json.loads(raw)
    except ValueError:
        return {"message": raw.decode(errors="replace").strip()}
    return decoded


def merge_patch_from(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that turns `before` into `after`, for a body that holds `before`:
    a key of a map that `after` drops is sent as null (a merge keeps what it is not told
    to remove), e.g. a colour that a rollout no longer has."""
    patch: dict[str, Any] = {key: None for key in before if key not in after}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            patch[key] = merge_patch_from(old, value)
        else:
            patch[key] = value
    return patch


@dataclass
class ApiClient:
    """An API-server connection with typed errors and a request counter."""

    api: client.ApiClient
    request_timeout: float = REQUEST_TIMEOUT_SECONDS

    @classmethod
    async def connect(
        cls,
        kubeconfig: str | None = None,
        user_agent: str | None = None,
        pool_size: int = POOL_SIZE,
    ) -> ApiClient:
        configuration = await load_configuration(kubeconfig)
        configuration.connection_pool_maxsize = pool_size
        # kubernetes.aio trusts the environment, so aiohttp looks up proxy variables and
        # parses ~/.netrc on every request. Only a proxy is worth that, so only when one
        # is named.
        session: dict[str, Any] = {"trust_env": proxied()}
        if user_agent is not None:
            session["headers"] = {"User-Agent": user_agent}
        configuration.client_session_kwargs = session
        return cls(client.ApiClient(configuration))

    async def close(self) -> None:
        await self.api.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Object:
        metrics.API_REQUESTS.labels(method).inc()
        url = self.api.configuration.host + path + (f"?{urlencode(query)}" if query else "")
        if content_type == APPLY_PATCH:
            # The client's own encoding escapes characters beyond the BMP (an emoji in an env
            # value) as JSON surrogate pairs, which the API server's YAML decoder refuses;
            # UTF-8 JSON is YAML too, and a parameter makes the client pass it as it is.
            body = json.dumps(body, ensure_ascii=False).encode()
            content_type = f"{APPLY_PATCH}; charset=utf-8"
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        await self.api.update_params_for_auth(headers, None, ["BearerToken"], path, method, body)
        response = await self.api.call_api(
            method, url, header_params=headers, body=body, _request_timeout=self.request_timeout
        )
        data = _decode(await response.read())
        if response.status >= 400:
            raise error_for(response.status, data, f"{method} {path}")
        return data

    async def stream(
        self, path: str, query: Mapping[str, str], *, request_timeout: float
    ) -> AsyncIterator[Object]:
        """The JSON lines of a streaming GET (a watch), as they arrive."""
        metrics.API_REQUESTS.labels("GET").inc()
        url = f"{self.api.configuration.host}{path}?{urlencode(query)}"
        headers = {"Accept": "application/json"}
        await self.api.update_params_for_auth(headers, None, ["BearerToken"], path, "GET", None)
        response = await self.api.call_api(
            "GET", url, header_params=headers, _request_timeout=request_timeout
        )
        try:
            if response.status >= 400:
                raise error_for(response.status, _decode(await response.read()), f"GET {path}")
            # Split by hand: aiohttp's line iterator refuses lines over 128 KiB, and one
            # event carries a whole object (a ConfigMap may hold up to 1 MiB).
            pending = b""
            async for chunk in response.response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.response.release()

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Object:
        return await self.request("GET", object_path(api_version, kind, namespace, name))

    async def list(
        self, api_version: str, kind: str, namespace: str | None, selector: str
    ) -> list[Object]:
        path = object_path(api_version, kind, namespace)
        items: list[Object] = (
            await self.request("GET", path, query={"labelSelector": selector})
        ).get("items", [])
        return items

    async def apply(self, manifest: Object, *, force: bool = True, dry_run: bool = False) -> Object:
        """Server-side apply under our field manager; `force` takes fields from other managers,
        without it their ownership of a field we set is a Conflict. `dry_run`: validated and
        admitted as a real write would be, and not persisted."""
        meta = manifest["metadata"]
        path = object_path(
            manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"]
        )
        return await self.request(
            "PATCH",
            path,
            manifest,
            query={
                "fieldManager": FIELD_MANAGER,
                "force": "true" if force else "false",
                **({"dryRun": "All"} if dry_run else {}),
            },
            content_type=APPLY_PATCH,
        )

    async def create(self, manifest: Object) -> Object:
        meta = manifest["metadata"]
        namespace = meta.get("namespace")
        path = object_path(manifest["apiVersion"], manifest["kind"], namespace)
        return await self.request("POST", path, manifest, query={"fieldManager": FIELD_MANAGER})

    async def merge_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Object,
        *,
        subresource: str = "",
    ) -> Object:
        path = object_path(api_version, kind, namespace, name) + (
            f"/{subresource}" if subresource else ""
        )
        return await self.request(
            "PATCH",
            path,
            patch,
            query={"fieldManager": FIELD_MANAGER},
            content_type="application/merge-patch+json",
        )

    async def json_patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, ops: Sequence[Object]
    ) -> Object:
        """A JSON patch (RFC 6902): its `test` operations make it fail, as a whole, on an
        object that changed since it was read."""
        return await self.request(
            "PATCH",
            object_path(api_version, kind, namespace, name),
            ops,
            query={"fieldManager": FIELD_MANAGER},
            content_type="application/json-patch+json",
        )

    async def write_status(
        self, kind: str, namespace: str, name: str, status: BaseModel, previous: BaseModel
    ) -> None:
        """Replace the status of one of our resources, leaving kopf's own bookkeeping alone.
        `previous` is the status it replaces: what it had and `status` has not is removed."""
        body = status.model_dump(by_alias=True, mode="json", exclude=KOPF_FIELDS)
        before = previous.model_dump(by_alias=True, mode="json", exclude=KOPF_FIELDS)
        await self.merge_patch(
            API_VERSION,
            kind,
            namespace,
            name,
            {"status": merge_patch_from(before, body)},
            subresource="status",
        )

    async def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        propagation: str = "Background",
    ) -> None:
        path = object_path(api_version, kind, namespace, name)
        await self.request("DELETE", path, {"propagationPolicy": propagation})
