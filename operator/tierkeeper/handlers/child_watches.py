"""What the operator knows of the children it manages: a summary of each, kept by watches.

One list-and-watch per kind (and per namespace, when the operator watches only some),
not kopf's: kopf keeps a worker, a copy of the memo and the whole body of every object
it watches, and at start-up each waits on every other being indexed. Children are only
needed as summaries, by the instance label their Environment gives them, so memory stays
flat per Environment and start-up linear in the number of children.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierkeeper.apply.children import Holder
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.apply.watch import Change, changes
from tierkeeper.models.child import ChildKey, ChildSummary, summarize
from tierkeeper.render.common import INSTANCE, MANAGED_BY

logger = logging.getLogger(__name__)

# (namespace, instance label): where the cache files an Environment's children.
InstanceKey = tuple[str, str]

# Children whose changes matter: (api version, kind).
WATCHED = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "PersistentVolumeClaim"),
    ("batch/v1", "CronJob"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("networking.k8s.io/v1", "Ingress"),
)
# HTTPRoutes and cert-manager Certificates are not watched: their CRDs may be missing, and
# a watch of a kind the API server does not serve fails. reconcile/routes.py looks them up.
WATCHED_KINDS = frozenset(kind for _, kind in WATCHED)
SELECTOR = f"{MANAGED_BY}=tierkeeper"


@dataclass(frozen=True)
class ChildEvent:
    """A child that changed in a way the operator reads, or was deleted."""

    namespace: str
    owners: tuple[str, ...]  # the Environments named in its owner references
    summary: ChildSummary
    deleted: bool
    # Its Environment's instance label: a StatefulSet's claims, and kept data, name no
    # Environment as their owner.
    instance: str = ""


def owners_of(body: Mapping[str, Any]) -> tuple[str, ...]:
    refs = body.get("metadata", {}).get("ownerReferences") or []
    return tuple(str(ref["name"]) for ref in refs if ref.get("kind") == "Environment")


@dataclass
class Stream:
    """One watch's bookkeeping: which children a listing in progress has shown, and
    whether a listing has completed (the first only fills the cache)."""

    kind: str
    namespace: str | None  # None: all namespaces
    relisted: set[tuple[str, str]] | None = None
    synced: bool = False


@dataclass
class ChildCache:
    """Summaries of every managed child, by (namespace, instance label), fed by the watches'
    changes; each change the operator would read is passed to `on_change`."""

    on_change: Callable[[ChildEvent], None]
    _by_instance: dict[InstanceKey, dict[ChildKey, ChildSummary]] = field(default_factory=dict)
    # Where each child is filed, by (kind, namespace, name), and its owning Environments:
    # its instance label can change, and a deletion found by a listing has no body.
    _filed: dict[tuple[str, str, str], tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    def live(self, namespace: str, instance: str) -> dict[ChildKey, ChildSummary]:
        return dict(self._by_instance.get((namespace, instance), {}))

    def follows(self, kind: str) -> bool:
        return kind in WATCHED_KINDS

    def holder(self, namespace: str, kind: str, name: str) -> Holder | None:
        """Who controls the managed child of that name, whatever its instance label."""
        filed = self._filed.get((kind, namespace, name))
        if filed is None:
            return None
        instance, owners = filed
        summary = self._by_instance.get((namespace, instance), {}).get((kind, name))
        return Holder(summary.controller_uid if summary else None, owners)

    def take(self, stream: Stream, change: Change) -> None:
        # Changes of the first listing only fill the cache: kopf's listing of the
        # Environments asks for their reconciles, which read it.
        notify = stream.synced
        if change.type == "listing":
            stream.relisted = set()
        elif change.type == "synced":
            for namespace, name in self._filed_names(stream) - (stream.relisted or set()):
                self._drop(stream.kind, namespace, name, notify=notify)
            stream.relisted, stream.synced = None, True
        elif change.type == "deleted":
            meta = change.body.get("metadata", {})
            self._drop(stream.kind, meta.get("namespace", ""), meta.get("name", ""), notify=True)
        else:
            meta = change.body.get("metadata", {})
            if stream.relisted is not None:
                stream.relisted.add((meta.get("namespace", ""), meta.get("name", "")))
            self._put(stream.kind, change.body, notify=notify)

    def _filed_names(self, stream: Stream) -> set[tuple[str, str]]:
        return {
            (namespace, name)
            for kind, namespace, name in self._filed
            if kind == stream.kind and stream.namespace in (None, namespace)
        }

    def _put(self, kind: str, body: Object, *, notify: bool) -> None:
        meta = body.get("metadata", {})
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        instance = (meta.get("labels") or {}).get(INSTANCE)
        previous = self._filed.get((kind, namespace, name))
        if previous is not None and previous[0] != instance:
            self._drop(kind, namespace, name, notify=notify)
        if not instance:
            return
        owners = owners_of(body)
        summary = summarize(kind, body)
        filed = self._by_instance.setdefault((namespace, instance), {})
        self._filed[(kind, namespace, name)] = (instance, owners)
        if filed.get((kind, name)) == summary:
            return  # nothing the operator reads changed (a status heartbeat, a label)
        filed[(kind, name)] = summary
        if notify:
            self.on_change(ChildEvent(namespace, owners, summary, deleted=False, instance=instance))

    def _drop(self, kind: str, namespace: str, name: str, *, notify: bool) -> None:
        entry = self._filed.pop((kind, namespace, name), None)
        if entry is None:
            return
        instance, owners = entry
        filed = self._by_instance.get((namespace, instance), {})
        summary = filed.pop((kind, name), None)
        if not filed:
            self._by_instance.pop((namespace, instance), None)
        if summary is not None and notify:
            self.on_change(ChildEvent(namespace, owners, summary, deleted=True, instance=instance))


@dataclass
class ChildWatches:
    """The cache and the watches that keep it; `synced` once every watch has listed its
    objects (a reconcile must not run on less)."""

    cache: ChildCache
    namespaces: tuple[str, ...] = ()  # none: all of them
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    _kube: ApiClient | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def live(self, namespace: str, instance: str) -> dict[ChildKey, ChildSummary]:
        return self.cache.live(namespace, instance)

    async def start(self) -> None:
        scopes: tuple[str | None, ...] = self.namespaces or (None,)
        streams = [(api, Stream(kind, ns)) for api, kind in WATCHED for ns in scopes]
        # Connections of their own, one per watch, each held for as long as it runs: in the
        # reconciles' pool, watches of a few namespaces would leave the reconciles none.
        self._kube = kube = await ApiClient.connect(pool_size=len(streams))
        self._tasks = [
            asyncio.create_task(self._follow(kube, api, stream, [s for _, s in streams]))
            for api, stream in streams
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._kube is not None:
            await self._kube.close()

    async def _follow(
        self, kube: ApiClient, api_version: str, stream: Stream, every: list[Stream]
    ) -> None:
        async for change in changes(kube, api_version, stream.kind, stream.namespace, SELECTOR):
            if change.body:
                meta = change.body.get("metadata", {})
                logger.debug(
                    "%s %s/%s: %s",
                    stream.kind,
                    meta.get("namespace"),
                    meta.get("name"),
                    change.type,
                )
            self.cache.take(stream, change)
            if change.type == "synced" and all(s.synced for s in every):
                self.synced.set()
