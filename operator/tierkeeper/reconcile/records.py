"""What the operator keeps of each Environment and Release between events (handlers/resource_cache.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierkeeper.apply.events import Involved
from tierkeeper.models.rollout import AppRollout

# (namespace, name) of an Environment or a Release: the key of every per-object map.
ObjectKey = tuple[str, str]


@dataclass(frozen=True)
class EnvRecord:
    """An Environment as last seen: its spec and status, compacted."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    deleting: bool
    finalizers: tuple[str, ...] = ()

    @property
    def key(self) -> ObjectKey:
        return (self.namespace, self.name)

    @property
    def involved(self) -> Involved:
        return Involved("Environment", self.namespace, self.name, self.uid)


@dataclass(frozen=True)
class ReleaseRecord:
    """A Release as last seen: its spec and status, compacted."""

    namespace: str
    name: str
    uid: str
    generation: int
    created: str
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    # Its rollback, abort and retry annotations: the only annotations read (the others can be
    # large, e.g. kubectl's last-applied-configuration, a copy of the whole object).
    rollback_requested: bool
    abort_requested: bool = False
    retry_requested: bool = False

    @property
    def key(self) -> ObjectKey:
        return (self.namespace, self.name)

    @property
    def involved(self) -> Involved:
        return Involved("Release", self.namespace, self.name, self.uid)

    @property
    def rollout(self) -> AppRollout | None:
        raw = self.status.get("rollout")
        return AppRollout.model_validate(raw) if raw else None
