"""What the handlers share for the operator's lifetime (kept in kopf's memo)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import kopf

from tierkeeper.apply.kube import Kube
from tierkeeper.coalesce import Coalescer
from tierkeeper.config import OperatorConfig
from tierkeeper.handlers.children import ChildCache, ChildKey, Children, EnvKey
from tierkeeper.handlers.discovery import Discovery
from tierkeeper.handlers.pause import Pause
from tierkeeper.models.rollout import AppRollout
from tierkeeper.names import ChildNames
from tierkeeper.observe import ChildSummary
from tierkeeper.reconcile.environment import EnvRecord, Memory
from tierkeeper.reconcile.release import ReleaseRecord

__all__ = ["EnvKey", "OperatorState", "state_of"]


@dataclass
class OperatorState:
    kube: Kube
    config: OperatorConfig
    environments: Coalescer[EnvKey]
    children: Children
    memory: Memory = field(default_factory=Memory)
    indexes: dict[str, kopf.Index[Any, Any]] = field(default_factory=dict)
    rollouts: dict[EnvKey, AppRollout] = field(default_factory=dict)
    pokes: dict[EnvKey, asyncio.Event] = field(default_factory=dict)
    # Whether CloudNativePG's Cluster CRD exists: read at start-up, then kept by its watch.
    cnpg_installed: bool = False
    discovery: Discovery | None = None
    pause: Pause | None = None

    @classmethod
    def create(
        cls, kube: Kube, config: OperatorConfig, namespaces: tuple[str, ...] = ()
    ) -> OperatorState:
        # Imported here: the reconcile entry point needs the state it is stored in.
        from tierkeeper.handlers.environment import child_changed, reconcile

        state: OperatorState
        state = cls(
            kube,
            config,
            Coalescer(lambda key, full: reconcile(state, key, full)),
            Children(ChildCache(lambda event: child_changed(state, event)), namespaces),
        )
        return state

    @property
    def paused(self) -> bool:
        """Another replica acts (kopf's peering): this one must not write."""
        return self.pause is not None and self.pause.is_on()

    def bind(self, kwargs: dict[str, Any]) -> OperatorState:
        """Keep kopf's indexes (the same objects on every call) for reconciles it did not start."""
        if not self.indexes:
            self.indexes = {k: v for k, v in kwargs.items() if isinstance(v, kopf.Index)}
        return self

    def environment(self, key: EnvKey) -> EnvRecord | None:
        return next(iter(self.indexes["environments"].get(key, [])), None)

    def releases_of(self, key: EnvKey) -> list[ReleaseRecord]:
        """Oldest first; creation times have one-second resolution, so among Releases of the
        same second the one already deploying (it has a rollout) comes first."""
        return sorted(
            self.indexes["releases"].get(key, []),
            key=lambda r: (r.created, r.rollout is None, r.name),
        )

    def release(self, env_key: EnvKey, name: str) -> ReleaseRecord | None:
        return next((r for r in self.releases_of(env_key) if r.name == name), None)

    def bound_release(self, key: EnvKey) -> ReleaseRecord | None:
        """The oldest Release naming the Environment binds it; later ones are refused."""
        return next(iter(self.releases_of(key)), None)

    def live(self, key: EnvKey) -> dict[ChildKey, ChildSummary]:
        return self.children.live(key[0], ChildNames(key[1]).instance_label)

    def poke(self, release_key: EnvKey) -> asyncio.Event:
        return self.pokes.setdefault(release_key, asyncio.Event())

    def poke_releases(self, env_key: EnvKey) -> None:
        """Wake the Release daemons of an Environment: something they wait for changed."""
        for release in self.releases_of(env_key):
            self.poke((release.namespace, release.name)).set()


def state_of(memo: kopf.Memo, kwargs: dict[str, Any]) -> OperatorState:
    """The shared state, given a handler's memo and keyword arguments."""
    state: OperatorState = memo["state"]
    return state.bind(kwargs)
