"""What the handlers share for the operator's lifetime (kept in kopf's memo).

Built by `lifecycle.start`, which wires the reconcile and the Release step into it: this
module imports none of its users.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import kopf

from tierkeeper.apply.client import ApiClient
from tierkeeper.config import OperatorConfig
from tierkeeper.handlers.child_watches import ChildCache
from tierkeeper.handlers.coalesce import Coalescer
from tierkeeper.handlers.discovery import Discovery
from tierkeeper.handlers.drills import Drills
from tierkeeper.handlers.pause import Pause
from tierkeeper.handlers.resource_cache import ResourceCache
from tierkeeper.handlers.store_polls import StorePolls
from tierkeeper.handlers.watches import Watches
from tierkeeper.models.child import ChildKey, ChildSummary
from tierkeeper.models.names import ChildNames
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.reconcile.records import EnvRecord, ObjectKey, ReleaseRecord
from tierkeeper.reconcile.release.health_gate import HealthChecks

# How long a change of an Environment's components alone may wait for the change of Ready
# that usually follows it (reconcile/report.py), counted from the first one held. Long
# enough for the data services of a fresh Environment, started together, to become Ready
# one after the other on a busy cluster (each step written alone costs a status write);
# short enough that the conditions of a component stuck behind another are seen within a
# quarter of a minute. Ready itself, a refusal and drift are never held.
SETTLE_SECONDS = 15.0
# The same for an Environment on its way to its first Ready: its components coming up one
# by one are progress inside one transition, and on a control plane busy with many new
# Environments at once they come further apart than a quarter of a minute. A component
# stuck while the others are Ready is still seen within half a minute.
FIRST_READY_SETTLE_SECONDS = 30.0


@dataclass
class OperatorState:
    """Everything the handlers share: the API client, the settings, the queues of reconciles
    and Release steps, the watches and their caches, the write ledger and the timers."""

    kube: ApiClient
    config: OperatorConfig
    # Reconciles, keyed by Environment; a request to converge wins over one for status.
    environments: Coalescer[ObjectKey]
    # Release steps, keyed by Release.
    release_steps: Coalescer[ObjectKey]
    # The Releases' health checks in progress; an answer wakes its Release.
    health_checks: HealthChecks
    # The Environments and Releases, and the children, as the watches last saw them.
    resources: ResourceCache
    children: ChildCache
    watches: Watches
    ledger: WriteLedger = field(default_factory=WriteLedger)
    # The timer of each Release's next step.
    timers: dict[ObjectKey, asyncio.TimerHandle] = field(default_factory=dict)
    # Environments that wait for a Secret of the team's: the timer of their next look.
    rechecks: dict[ObjectKey, asyncio.TimerHandle] = field(default_factory=dict)
    # The looks at the Environments' object stores, each on a timer of its own.
    store_polls: StorePolls = field(default_factory=StorePolls)
    # Environments with a status change held back: the timer of the look that writes it,
    # and those whose look is due (it holds nothing back).
    settles: dict[ObjectKey, asyncio.TimerHandle] = field(default_factory=dict)
    settled: set[ObjectKey] = field(default_factory=set)
    # The CloudNativePG drills, each on a timer of its own.
    drills: Drills = field(default_factory=Drills)
    # Whether CloudNativePG's Cluster CRD exists: read at start-up, then kept by its watch.
    cnpg_installed: bool = False
    discovery: Discovery | None = None
    pause: Pause | None = None

    @property
    def paused(self) -> bool:
        """Another replica acts (kopf's peering): this one must not write."""
        return self.pause is not None and self.pause.is_on()

    def labelled(self, namespace: str, instance: str) -> tuple[str, ...]:
        """The Environments of `namespace` whose children carry the instance label `instance`."""
        return tuple(
            name
            for ns, name in self.resources.environments
            if ns == namespace and ChildNames(name).instance_label == instance
        )

    def environment(self, key: ObjectKey) -> EnvRecord | None:
        return self.resources.environments.get(key)

    def releases_of(self, key: ObjectKey) -> list[ReleaseRecord]:
        """Oldest first; creation times have one-second resolution, so among Releases of the
        same second the one already deploying (it has a rollout) comes first."""
        return sorted(
            self.resources.releases_of(key), key=lambda r: (r.created, r.rollout is None, r.name)
        )

    def release(self, env_key: ObjectKey, name: str) -> ReleaseRecord | None:
        return next((r for r in self.releases_of(env_key) if r.name == name), None)

    def bound_release(self, key: ObjectKey) -> ReleaseRecord | None:
        """The oldest Release naming the Environment binds it; later ones are refused."""
        return next(iter(self.releases_of(key)), None)

    def live(self, key: ObjectKey) -> dict[ChildKey, ChildSummary]:
        return self.children.live(key[0], ChildNames(key[1]).instance_label)

    def wake_release(self, release_key: ObjectKey, after: float = 0.0) -> None:
        """A step of the Release now, or after `after` seconds (in place of any timer)."""
        if after > 0:
            wake = functools.partial(self.wake_release, release_key)
            _arm(self.timers, release_key, after, wake)
        else:
            _arm(self.timers, release_key, None)
            self.release_steps.request(release_key, converge=False)

    def forget_release(self, release_key: ObjectKey) -> None:
        _arm(self.timers, release_key, None)
        self.health_checks.forget(release_key)

    def recheck(self, env_key: ObjectKey, after: float | None) -> None:
        """A converging reconcile of the Environment after `after` seconds (None: no more)."""
        again = functools.partial(self.environments.request, env_key, converge=True)
        _arm(self.rechecks, env_key, after, again)

    def settle(self, env_key: ObjectKey, *, first_ready: bool) -> None:
        """A status-only reconcile that writes what is held back, SETTLE_SECONDS (on the way
        to a first Ready, FIRST_READY_SETTLE_SECONDS) after the first change held (a later
        one does not push it back)."""
        if env_key in self.settles:
            return

        def due() -> None:
            self.settles.pop(env_key, None)
            if env_key in self.ledger.held:
                self.settled.add(env_key)
                self.environments.request(env_key, converge=False)

        seconds = FIRST_READY_SETTLE_SECONDS if first_ready else SETTLE_SECONDS
        _arm(self.settles, env_key, seconds, due)

    def forget_settle(self, env_key: ObjectKey) -> None:
        _arm(self.settles, env_key, None)
        self.settled.discard(env_key)

    def wake_releases_of(self, env_key: ObjectKey) -> None:
        """A step of each Release of an Environment: something they wait for changed."""
        for release in self.releases_of(env_key):
            self.wake_release((release.namespace, release.name))

    def act(self) -> None:
        """This replica has become the one that acts (at start-up too): every Environment
        looks, converging unless it did at this spec already, and every Release steps.
        Looks and steps asked for while another replica acted were dropped."""
        for key, record in self.resources.environments.items():
            converge = self.ledger.spec_changed(key, record.generation)
            self.environments.request(key, converge=converge)
        for key in self.resources.release_keys():
            self.wake_release(key)


def _arm(
    timers: dict[ObjectKey, asyncio.TimerHandle],
    key: ObjectKey,
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


def state_of(memo: kopf.Memo) -> OperatorState:
    """The shared state, given a handler's memo."""
    state: OperatorState = memo["state"]
    return state
