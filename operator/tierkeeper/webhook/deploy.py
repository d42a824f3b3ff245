"""The hook's only writes: `spec.image` and `spec.source` of a bound Release, by server-side
apply under its own field manager, and an Event on that Release naming the delivery.

Its own manager (`tierkeeper-deploy`) is what lets GitOps tools leave exactly these two
fields to it (Argo CD's `ignoreDifferences.managedFieldsManagers`); `force` takes them over
from whoever applied them before (a person, or the GitOps tool at the Release's creation).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from tierkeeper import API_VERSION
from tierkeeper.apply.client import APPLY_PATCH, ApiClient, Object, object_path
from tierkeeper.apply.events import Involved, post_event
from tierkeeper.webhook.events import Change
from tierkeeper.webhook.matching import Target

FIELD_MANAGER = "tierkeeper-deploy"


def release_patch(target: Target, change: Change) -> Object:
    """The applied configuration: the Release's identity and the two fields the hook owns."""
    source = {
        key: value
        for key, value in (
            ("branch", change.branch),
            ("commit", change.commit),
            ("url", change.url),
        )
        if value
    }
    spec: dict[str, Any] = {"image": target.image, "source": source}
    return {
        "apiVersion": API_VERSION,
        "kind": "Release",
        "metadata": {"name": target.release, "namespace": target.namespace},
        "spec": spec,
    }


def event_message(target: Target, change: Change) -> str:
    commit = f" {change.commit[:12]}" if change.commit else ""
    return (
        f"{change.event} delivery {change.delivery} of {change.repository} "
        f"{change.branch}{commit}: image {target.image}"
    )


@dataclass
class KubeCluster:
    """The API server as the hook sees it: Environments and Releases of one namespace (or
    all), and the Release writes above."""

    kube: ApiClient
    namespace: str | None

    async def environments(self) -> list[Object]:
        return await self.kube.list(API_VERSION, "Environment", self.namespace, "")

    async def releases(self) -> list[Object]:
        return await self.kube.list(API_VERSION, "Release", self.namespace, "")

    async def watch_release(
        self, target: Target, seconds: float
    ) -> AsyncIterator[Mapping[str, Any]]:
        """The Release as it is now, then as it changes, for up to `seconds`."""
        path = object_path(API_VERSION, "Release", target.namespace)
        query = {
            "watch": "1",
            "fieldSelector": f"metadata.name={target.release}",
            "timeoutSeconds": str(int(seconds)),
        }
        async for event in self.kube.stream(path, query, request_timeout=seconds + 30):
            if event.get("type") in ("ADDED", "MODIFIED"):
                yield event["object"]

    async def deploy(self, target: Target, change: Change) -> None:
        path = object_path(API_VERSION, "Release", target.namespace, target.release)
        await self.kube.request(
            "PATCH",
            path,
            release_patch(target, change),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            content_type=APPLY_PATCH,
        )
        involved = Involved("Release", target.namespace, target.release, target.release_uid)
        await post_event(
            self.kube, involved, "Normal", "DeployRequested", event_message(target, change)
        )
