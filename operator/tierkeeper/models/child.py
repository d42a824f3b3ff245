"""What the operator remembers of each child it watches: a small, typed summary.

Whole bodies are not kept: memory must stay flat as Environments grow, and
status needs only these numbers.
"""

from __future__ import annotations

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


def child_version(meta: Mapping[str, Any]) -> str:
    """What changes when a child may have drifted from what we wrote.

    The generation, for kinds that have one (it moves on spec edits only). Otherwise the
    fields our manager owns: an edit of one of them by anyone else takes it from us, while
    another controller's own fields (a PVC's binding, annotations and status, written by
    the volume controller) leave them alone; resourceVersion, which every such write
    moves, made each of them look like drift and cost a full reconcile.
    """
    generation = meta.get("generation")
    if generation is not None:
        return str(generation)
    ours = sorted(
        json.dumps(entry.get("fieldsV1"), sort_keys=True)
        for entry in meta.get("managedFields") or []
        if entry.get("manager") == FIELD_MANAGER
    )
    if not ours:
        return str(meta.get("resourceVersion", ""))
    return "fields:" + hashlib.sha256("\n".join(ours).encode()).hexdigest()[:16]


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
    version = child_version(meta)
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
