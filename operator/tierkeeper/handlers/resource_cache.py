"""The Environments and Releases as the operator last saw them: a record of each, kept by
the operator's own watches (handlers/watches.py), not by kopf's indexes, whose start-up
waits grow with the square of the objects (the module's docstring says how).

Reconciles and Release steps read these records; kopf itself watches only the
Environments, for the finalizer of those that keep their data.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tierkeeper.apply.client import Object
from tierkeeper.handlers.compact import compact
from tierkeeper.handlers.watches import FramedCache, Stream, name_of
from tierkeeper.models.release import ABORT_ANNOTATION, RETRY_ANNOTATION, ROLLBACK_ANNOTATION
from tierkeeper.reconcile.records import EnvRecord, ObjectKey, ReleaseRecord


@dataclass(frozen=True)
class ResourceEvent:
    """An Environment or a Release filed or dropped. `news` is False for what a stream's first
    listing files: the operator is starting, and nothing has changed."""

    kind: str
    key: ObjectKey
    environment: ObjectKey  # the Environment itself, or the one the Release names
    body: Object  # {} when dropped
    news: bool

    @property
    def deleted(self) -> bool:
        return not self.body


def _identity(body: Object) -> dict[str, Any]:
    """What every record carries: where the object is, which one, and at which spec."""
    meta = body.get("metadata", {})
    namespace, name = name_of(body)
    return {
        "namespace": namespace,
        "name": name,
        "uid": str(meta.get("uid", "")),
        "generation": int(meta.get("generation", 0)),
        "spec": compact(body.get("spec") or {}),
        "status": compact(body.get("status") or {}),
    }


def env_record(body: Object) -> EnvRecord:
    meta = body.get("metadata", {})
    return EnvRecord(
        **_identity(body),
        deleting=meta.get("deletionTimestamp") is not None,
        finalizers=tuple(sys.intern(f) for f in meta.get("finalizers") or ()),
    )


def release_record(body: Object) -> ReleaseRecord:
    meta = body.get("metadata", {})
    annotations = meta.get("annotations") or {}
    return ReleaseRecord(
        **_identity(body),
        created=str(meta.get("creationTimestamp", "")),
        rollback_requested=annotations.get(ROLLBACK_ANNOTATION) == "true",
        abort_requested=annotations.get(ABORT_ANNOTATION) == "true",
        retry_requested=annotations.get(RETRY_ANNOTATION) == "true",
    )


@dataclass
class ResourceCache(FramedCache):
    """A record of every Environment by its key, and of every Release by the Environment it
    names; each record filed or dropped is passed to `on_change`."""

    on_change: Callable[[ResourceEvent], None]
    environments: dict[ObjectKey, EnvRecord] = field(default_factory=dict)
    _releases: dict[ObjectKey, dict[str, ReleaseRecord]] = field(default_factory=dict)
    # The Environment each Release names, by the Release's key: a deletion has no body.
    _release_envs: dict[ObjectKey, str] = field(default_factory=dict)

    def releases_of(self, env_key: ObjectKey) -> list[ReleaseRecord]:
        return list(self._releases.get(env_key, {}).values())

    def release_keys(self) -> list[ObjectKey]:
        return list(self._release_envs)

    def environment_of(self, release_key: ObjectKey) -> ObjectKey | None:
        """The Environment the Release names; None once the Release is gone."""
        env_name = self._release_envs.get(release_key)
        return None if env_name is None else (release_key[0], env_name)

    def names(self, stream: Stream) -> set[tuple[str, str]]:
        held = self.environments if stream.kind == "Environment" else self._release_envs
        return {key for key in held if stream.namespace in (None, key[0])}

    def put(self, kind: str, body: Object, *, news: bool) -> None:
        key = name_of(body)
        if kind == "Environment":
            self.environments[key] = env_record(body)
            self.on_change(ResourceEvent(kind, key, key, body, news))
            return
        record = release_record(body)
        env_name = str(record.spec.get("environment", ""))
        if self._release_envs.get(key, env_name) != env_name:
            self.drop(kind, *key, news=news)
        self._release_envs[key] = env_name
        self._releases.setdefault((key[0], env_name), {})[key[1]] = record
        self.on_change(ResourceEvent(kind, key, (key[0], env_name), body, news))

    def drop(self, kind: str, namespace: str, name: str, *, news: bool) -> None:
        key = (namespace, name)
        if kind == "Environment":
            if self.environments.pop(key, None) is not None:
                self.on_change(ResourceEvent(kind, key, key, {}, news))
            return
        env_name = self._release_envs.pop(key, None)
        if env_name is None:
            return
        env_key = (namespace, env_name)
        filed = self._releases.get(env_key, {})
        filed.pop(name, None)
        if not filed:
            self._releases.pop(env_key, None)
        self.on_change(ResourceEvent(kind, key, env_key, {}, news))
