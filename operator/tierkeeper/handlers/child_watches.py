"""What the operator knows of the children it manages: a summary of each, kept by the
operator's own watches (handlers/watches.py), filed by the instance label their Environment
gives them, so memory stays flat per Environment and start-up linear in the children.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierkeeper.apply.children import Holder
from tierkeeper.apply.client import Object
from tierkeeper.handlers.watches import FramedCache, Stream
from tierkeeper.models.child import ChildKey, ChildSummary, summarize
from tierkeeper.render.common import INSTANCE, MANAGED_BY

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
class ChildCache(FramedCache):
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

    def names(self, stream: Stream) -> set[tuple[str, str]]:
        return {
            (namespace, name)
            for kind, namespace, name in self._filed
            if kind == stream.kind and stream.namespace in (None, namespace)
        }

    def put(self, kind: str, body: Object, *, news: bool) -> None:
        meta = body.get("metadata", {})
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        instance = (meta.get("labels") or {}).get(INSTANCE)
        previous = self._filed.get((kind, namespace, name))
        if previous is not None and previous[0] != instance:
            self.drop(kind, namespace, name, news=news)
        if not instance:
            return
        owners = owners_of(body)
        summary = summarize(kind, body)
        filed = self._by_instance.setdefault((namespace, instance), {})
        self._filed[(kind, namespace, name)] = (instance, owners)
        if filed.get((kind, name)) == summary:
            return  # nothing the operator reads changed (a status heartbeat, a label)
        filed[(kind, name)] = summary
        if news:
            self.on_change(ChildEvent(namespace, owners, summary, deleted=False, instance=instance))

    def drop(self, kind: str, namespace: str, name: str, *, news: bool) -> None:
        entry = self._filed.pop((kind, namespace, name), None)
        if entry is None:
            return
        instance, owners = entry
        filed = self._by_instance.get((namespace, instance), {})
        summary = filed.pop((kind, name), None)
        if not filed:
            self._by_instance.pop((namespace, instance), None)
        if summary is not None and news:
            self.on_change(ChildEvent(namespace, owners, summary, deleted=True, instance=instance))
