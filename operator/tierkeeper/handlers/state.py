"""What the handlers share for the operator's lifetime (kept in kopf's memo)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kopf

from tierkeeper.apply.kube import Kube
from tierkeeper.config import OperatorConfig
from tierkeeper.handlers.children import ChildCache, ChildKey, Children, EnvKey
from tierkeeper.handlers.coalesce import Coalescer
from tierkeeper.handlers.discovery import Discovery
from tierkeeper.handlers.pause import Pause
from tierkeeper.models.child import ChildSummary
from tierkeeper.models.names import ChildNames
from tierkeeper.models.rollout import AppRollout
from tierkeeper.reconcile.environment import EnvRecord, Memory
from tierkeeper.reconcile.release import ReleaseRecord

__all__ = ["EnvKey", "OperatorState", "state_of"]


@dataclass
class OperatorState:
    kube: Kube
    config: OperatorConfig
    environments: Coalescer[EnvKey]
    children: Children
    # Release steps, keyed by Release.
    steps: Coalescer[EnvKey]
    memory: Memory = field(default_factory=Memory)
    indexes: dict[str, kopf.Index[Any, Any]] = field(default_factory=dict)
    rollouts: dict[EnvKey, AppRollout] = field(default_factory=dict)
    # The Environment each Release names, and the timer of its next step.
    release_envs: dict[EnvKey, str] = field(default_factory=dict)
    timers: dict[EnvKey, asyncio.TimerHandle] = field(default_factory=dict)
    # Environments that wait for a Secret of the team's: the timer of their next look.
    rechecks: dict[EnvKey, asyncio.TimerHandle] = field(default_factory=dict)
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
        from tierkeeper.handlers.release import STEPS_AT_ONCE, step

        state: OperatorState
        state = cls(
            kube,
            config,
            Coalescer(lambda key, full: reconcile(state, key, full)),
            Children(ChildCache(lambda event: child_changed(state, event)), namespaces),
            Coalescer(lambda key, _: step(state, key), concurrency=STEPS_AT_ONCE),
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

    def step(self, release_key: EnvKey, after: float = 0.0) -> None:
        """A step of the Release now, or after `after` seconds (in place of any timer)."""
        if after > 0:
            _arm(self.timers, release_key, after, functools.partial(self.step, release_key))
        else:
            _arm(self.timers, release_key, None)
            self.steps.request(release_key, full=False)

    def forget_release(self, release_key: EnvKey) -> None:
        _arm(self.timers, release_key, None)
        self.release_envs.pop(release_key, None)

    def recheck(self, env_key: EnvKey, after: float | None) -> None:
        """A full reconcile of the Environment after `after` seconds (None: no more)."""
        again = functools.partial(self.environments.request, env_key, full=True)
        _arm(self.rechecks, env_key, after, again)

    def poke_releases(self, env_key: EnvKey) -> None:
        """A step of each Release of an Environment: something they wait for changed."""
        for release in self.releases_of(env_key):
            self.step((release.namespace, release.name))


def _arm(
    timers: dict[EnvKey, asyncio.TimerHandle],
    key: EnvKey,
    after: float | None,
    callback: Callable[[], None] | None = None,
) -> None:
    """Replace `key`'s timer by one that calls `callback` after `after` seconds (None: by
    none). Not in the caller's context, which may be a kopf handler's (see Coalescer)."""
    if (timer := timers.pop(key, None)) is not None:
        timer.cancel()
    if after is not None and callback is not None:
        loop = asyncio.get_running_loop()
        timers[key] = loop.call_later(after, callback, context=contextvars.Context())


def state_of(memo: kopf.Memo, kwargs: dict[str, Any]) -> OperatorState:
    """The shared state, given a handler's memo and keyword arguments."""
    state: OperatorState = memo["state"]
    return state.bind(kwargs)
