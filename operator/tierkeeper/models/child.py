"""What the operator remembers of each child it watches: a small, typed summary.

Whole bodies are not kept: memory must stay flat as Environments grow, and
status needs only these numbers.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierkeeper import FIELD_MANAGER

# (kind, name) of a child within its Environment's namespace.
ChildKey = tuple[str, str]

# The label on data (volumes, the credentials Secret) detached from the Environment it
# came from, which keeps it for an Environment of that name to adopt.
RETAINED_FROM = "tierkeeper.dev/retained-from"
# PersistentVolumeClaim conditions of a resize under way or stuck; a later one wins when
# several are True (an error over progress).
RESIZE_CONDITIONS = (
    "Resizing",
    "FileSystemResizePending",
    "ControllerResizeError",
    "NodeResizeError",
)


@dataclass(frozen=True, slots=True)
class BackupFacts:
    """What status.backup reads of a child: a drill's result (its ConfigMap) or a
    CloudNativePG Cluster's backups. Times are RFC 3339 text, as the child holds them."""

    finished_at: str | None = None  # the drill's end
    result: str | None = None  # Passed or Failed
    rto_seconds: str | None = None
    message: str | None = None
    last_backup: str | None = None  # Cluster: status.lastSuccessfulBackup
    first_recoverability_point: str | None = None
    archiving: str | None = None  # Cluster: its ContinuousArchiving condition's status


# The drill's ConfigMap keys (another writer's contract), and how much of its message
# is kept: the summary must stay small.
DRILL_KEYS = ("finishedAt", "result", "rtoSeconds", "message")
DRILL_MESSAGE_MAX = 1024


@dataclass(frozen=True, slots=True)
class ChildSummary:
    """The few facts about one child that status and the Release steps read."""

    kind: str
    name: str
    version: str  # see child_version: changes when the child may have drifted from our write
    desired: int = 0
    ready: int = 0
    available: int = 0
    updated: int = 0
    observed_current: bool = True
    replicas_owned_elsewhere: bool = False
    image: str | None = None
    last_success: str | None = None
    created: str | None = None  # CronJobs: when their schedule began (creationTimestamp)
    phase: str | None = None
    controller_uid: str | None = None  # the uid of the owner reference marked controller
    retained: bool = False  # labelled RETAINED_FROM: kept, not (yet) adopted
    deleting: bool = False  # has a deletionTimestamp (a finalizer holds it)
    # PersistentVolumeClaims: the size asked for, the size provisioned, their class and
    # the resize condition that is True, if any.
    requested: str | None = None
    capacity: str | None = None
    storage_class: str | None = None
    resize: str | None = None
    backup: BackupFacts | None = None


# An Environment's children as the watches last saw them.
LiveChildren = Mapping[ChildKey, ChildSummary]


def child_version(body: Mapping[str, Any]) -> str:
    """What changes when a child may have drifted from what we wrote: the fields our
    manager applied, with their live values (`applied_version` of what they hold).

    Server-side apply moves a field to whoever changes it (an edit, a patch, a forced
    apply) and drops it from us when it is removed, so this changes exactly when someone
    else touches one of our fields; another controller's own fields (status, a PVC's
    binding, an HPA's replicas, `kubectl rollout restart`'s annotation) leave it alone,
    where the generation moved on any spec edit and the resourceVersion on every write.
    A child without an apply of ours (created only, or written by an older operator):
    its resourceVersion, which any change moves.
    """
    meta = body.get("metadata") or {}
    for entry in meta.get("managedFields") or []:
        if (
            entry.get("manager") == FIELD_MANAGER
            and entry.get("operation") == "Apply"
            and not entry.get("subresource")
        ):
            return _digest(_owned(entry.get("fieldsV1") or {}, body))
    return str(meta.get("resourceVersion", ""))


def applied_version(manifest: Mapping[str, Any]) -> str:
    """The version (child_version) of a child that holds what an apply of `manifest` sets,
    and no one has changed since: an apply owns exactly the fields it sends. The identity
    (apiVersion, kind, name, namespace) is not among a manager's fields."""
    fields = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    meta = manifest.get("metadata") or {}
    fields["metadata"] = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
    return _digest(fields)


def _digest(fields: Any) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return "applied:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _owned(fields: Mapping[str, Any], value: Any) -> Any:
    """The part of `value` a manager's field set (managedFields' fieldsV1) names: "f:" a
    member of a map, "k:" an item of a list by its key fields, "v:" an item by its value,
    "i:" an item by its place; one with no members below it ("." is the item or map
    itself) is owned whole: a leaf, an atomic map or list."""
    if len(fields) < 2 and (not fields or "." in fields):
        return value
    if isinstance(value, list):
        return _owned_items(fields, value)
    if not isinstance(value, (dict, Mapping)):
        return value
    owned = {}
    for name, sub in fields.items():
        key = name[2:]
        if name.startswith("f:") and key in value:
            # Leaves, most of a field set, are taken without a call each.
            owned[key] = _owned(sub, value[key]) if sub else value[key]
    return owned


def _owned_items(members: Mapping[str, Any], items: list[Any]) -> list[Any]:
    """The items of a list that `members` name, in the list's order, each as `_owned`.
    Looked up by name, not matched against every member: an app's env has dozens."""
    named = {_item_name(name): sub for name, sub in members.items() if name != "."}
    keys = {tuple(field for field, _ in key) for kind, key in named if kind == "k"}
    by_value = any(kind == "v" for kind, _ in named)
    owned = []
    for place, item in enumerate(items):
        names: list[tuple[str, Any]] = [("i", place)]
        if isinstance(item, dict):
            names += [("k", tuple((field, item.get(field)) for field in key)) for key in keys]
        if by_value:
            names.append(("v", json.dumps(item, sort_keys=True)))
        sub = next((named[name] for name in names if name in named), None)
        if sub is not None:
            owned.append(_owned(sub, item))
    return owned


@functools.lru_cache(maxsize=4096)
def _item_name(member: str) -> tuple[str, Any]:
    """A list member of a field set as `_owned_items` looks items up: ("k", its key fields
    and values, sorted), ("v", its value as canonical JSON) or ("i", its place). The same
    few names (the app's variables, ports, containers) recur in every child and event."""
    kind, _, text = member.partition(":")
    if kind == "k":
        return kind, tuple(sorted(json.loads(text).items()))
    if kind == "v":
        return kind, json.dumps(json.loads(text), sort_keys=True)
    return kind, int(text) if kind == "i" else text


def _replicas_managers(meta: Mapping[str, Any]) -> set[str]:
    return {
        entry.get("manager", "")
        for entry in meta.get("managedFields") or []
        if "f:replicas" in (entry.get("fieldsV1") or {}).get("f:spec", {})
    }


def _caught_up(status: Mapping[str, Any], generation: int | None) -> bool:
    """A Ready=True condition, about this generation when it says which."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            seen = condition.get("observedGeneration")
            return condition.get("status") == "True" and seen in (None, generation)
    return False


def _resize_condition(status: Mapping[str, Any]) -> str | None:
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    return next((type_ for type_ in reversed(RESIZE_CONDITIONS) if type_ in true), None)


def summarize(kind: str, body: Mapping[str, Any]) -> ChildSummary:
    """The summary of one watched child, from its body as the API server sent it."""
    meta = body.get("metadata", {})
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    generation = meta.get("generation")
    version = child_version(body)
    observed_current = generation is None or status.get("observedGeneration") == generation
    controller = next(
        (ref for ref in meta.get("ownerReferences") or [] if ref.get("controller")), None
    )
    base = {
        "kind": kind,
        "name": meta.get("name", ""),
        "version": version,
        "controller_uid": controller.get("uid") if controller else None,
        "retained": RETAINED_FROM in (meta.get("labels") or {}),
        "deleting": meta.get("deletionTimestamp") is not None,
    }
    if kind in ("Deployment", "StatefulSet"):
        containers = spec.get("template", {}).get("spec", {}).get("containers") or [{}]
        return ChildSummary(
            **base,
            desired=spec.get("replicas", 1),
            ready=status.get("readyReplicas", 0),
            available=status.get("availableReplicas", 0),
            updated=status.get("updatedReplicas", 0),
            observed_current=observed_current,
            replicas_owned_elsewhere=bool(_replicas_managers(meta) - {FIELD_MANAGER}),
            image=containers[0].get("image"),
        )
    if kind == "Cluster":
        # CloudNativePG keeps no status.observedGeneration and rolls its instances itself
        # (no count of updated ones): its Ready condition says it has caught up with the spec.
        ready = status.get("readyInstances", 0)
        archiving = next(
            (
                c.get("status")
                for c in status.get("conditions") or []
                if c.get("type") == "ContinuousArchiving"
            ),
            None,
        )
        facts = BackupFacts(
            last_backup=status.get("lastSuccessfulBackup"),
            first_recoverability_point=status.get("firstRecoverabilityPoint"),
            archiving=archiving,
        )
        return ChildSummary(
            **base,
            desired=spec.get("instances", 1),
            ready=ready,
            updated=ready,
            observed_current=_caught_up(status, generation),
            phase=status.get("phase"),
            backup=facts if facts != BackupFacts() else None,
        )
    if kind == "PersistentVolumeClaim":
        return ChildSummary(
            **base,
            phase=status.get("phase"),
            requested=(spec.get("resources") or {}).get("requests", {}).get("storage"),
            capacity=(status.get("capacity") or {}).get("storage"),
            storage_class=spec.get("storageClassName"),
            resize=_resize_condition(status),
        )
    if kind == "CronJob":
        return ChildSummary(
            **base,
            last_success=status.get("lastSuccessfulTime"),
            created=meta.get("creationTimestamp"),
        )
    if kind == "ConfigMap" and {"finishedAt", "result"} <= (body.get("data") or {}).keys():
        finished, result, rto, message = (body["data"].get(key) for key in DRILL_KEYS)
        facts = BackupFacts(
            finished_at=finished,
            result=result,
            rto_seconds=rto,
            message=(message or "")[:DRILL_MESSAGE_MAX],
        )
        return ChildSummary(**base, backup=facts)
    return ChildSummary(**base)
