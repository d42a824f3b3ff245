"""The write ledger: what this process last wrote for each Environment.

Watch events of our own writes must not be taken for drift, and a child someone else
changed or deleted must be: the ledger holds the version of every child as written, and
the children a write in progress wants (a deletion before the write returns is drift
all the same). It also holds the rollout a Release step last decided, so that the
Environment's own reconcile renders that one even before the Release's status write
comes back through the watch, and the lock under which the app's children are written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from tierkeeper.apply.children import Holder, Owner
from tierkeeper.models.child import ChildKey, ChildSummary, LiveChildren
from tierkeeper.models.rollout import AppRollout
from tierkeeper.reconcile.records import ObjectKey
from tierkeeper.render import Child
from tierkeeper.status.conditions import Observation


class WatchedChildren(Protocol):
    """What the child watches see of the managed children, by name."""

    def follows(self, kind: str) -> bool: ...

    def holder(self, namespace: str, kind: str, name: str) -> Holder | None: ...


@dataclass
class WriteLedger:
    """What this process wrote for each Environment, keyed by (namespace, name); with the
    child watches (`watched`), it knows whose a child's name is (apply.children.NameHolders)."""

    applied_generation: dict[ObjectKey, int] = field(default_factory=dict)
    # The generation a converge in progress writes.
    converging: dict[ObjectKey, int] = field(default_factory=dict)
    # The generation the last converge looked at (applied or refused): what a status-only
    # reconcile reports as observed, whatever its own (possibly older) copy of the status says.
    observed: dict[ObjectKey, int] = field(default_factory=dict)
    versions: dict[ObjectKey, dict[ChildKey, str]] = field(default_factory=dict)
    # The rollout a Release step decided last, per Environment.
    decided: dict[ObjectKey, AppRollout] = field(default_factory=dict)
    # The rollout whose app children were last written in full, per Environment.
    applied_rollout: dict[ObjectKey, AppRollout] = field(default_factory=dict)
    # Why the last converge of an Environment was refused or rejected: a change of any
    # child (a name freed, a child put right by hand) may unblock it, and until a converge
    # does, a status-only reconcile reports the refusal still.
    refusals: dict[ObjectKey, Observation] = field(default_factory=dict)
    # Environments with a volume resize under way: a change of their claims may move it on.
    resizing: set[ObjectKey] = field(default_factory=set)
    # Environments whose status has a change of its components not written yet
    # (reconcile/report.py), each with whether it is on the way to a first Ready.
    held: dict[ObjectKey, bool] = field(default_factory=dict)
    # A digest of the status our last status write replaced, per Environment: while the
    # index still shows that one, it has not seen the write (reconcile/report.py).
    replaced: dict[ObjectKey, str] = field(default_factory=dict)
    # The child watches, set at start-up: names are then checked without a request.
    watched: WatchedChildren | None = None
    _in_flight: dict[ObjectKey, Counter[ChildKey]] = field(default_factory=dict)
    # The Environments writing each child, by (namespace, kind, name): a write the watches
    # have not reported yet holds its name all the same.
    _writers: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    _app_locks: dict[ObjectKey, asyncio.Lock] = field(default_factory=dict)

    def spec_changed(self, key: ObjectKey, generation: int | None) -> bool:
        """Whether an event's generation is neither written nor being written: an event
        of the same spec (our status write, kopf's finalizer) needs no converge of its own."""
        return generation not in (self.applied_generation.get(key), self.converging.get(key))

    @contextlib.contextmanager
    def converging_to(self, key: ObjectKey, generation: int) -> Iterator[None]:
        self.converging[key] = generation
        try:
            yield
        finally:
            self.converging.pop(key, None)

    def app_lock(self, key: ObjectKey) -> asyncio.Lock:
        """Held while the app's children are written: each write renders the rollout it
        read, and two interleaved could land the older last and record it as ours."""
        return self._app_locks.setdefault(key, asyncio.Lock())

    @contextlib.contextmanager
    def expecting(self, key: ObjectKey, children: list[Child]) -> Iterator[None]:
        """While `children` are being written for `key`."""
        wanted = Counter((c.kind, c.name) for c in children if c.manifest is not None)
        counts = self._in_flight.setdefault(key, Counter())
        counts.update(wanted)
        for kind, name in wanted:
            self._writers.setdefault((key[0], kind, name), set()).add(key[1])
        try:
            yield
        finally:
            counts.subtract(wanted)
            for child in wanted:
                if counts[child] <= 0:
                    self._stop_writing(key, child)
            if not +counts:
                self._in_flight.pop(key, None)

    def _stop_writing(self, key: ObjectKey, child: ChildKey) -> None:
        name = (key[0], *child)
        writers = self._writers.get(name, set())
        writers.discard(key[1])
        if not writers:
            self._writers.pop(name, None)

    def unseen(self, key: ObjectKey, live: LiveChildren) -> ChildKey | None:
        """A child this process wrote for `key`, of a kind the watches follow, that is not
        among `live` yet: the watches lag behind the write (or a deletion's converge is on
        its way)."""
        written = self.versions.get(key, {})
        return next(
            (child for child in written if self.follows(child[0]) and child not in live), None
        )

    def follows(self, kind: str) -> bool:
        return self.watched is not None and self.watched.follows(kind)

    def held_by(self, namespace: str, kind: str, name: str, owner: Owner) -> str | None:
        """Another Environment writing the child now, or the controller the watches see."""
        writers = self._writers.get((namespace, kind, name), set()) - {owner.name}
        if writers:
            return f"Environment {min(writers)}"
        seen = self.watched.holder(namespace, kind, name) if self.watched else None
        if seen is None or seen.controller_uid in (None, owner.uid):
            return None  # unknown, free to adopt, or ours
        if not seen.owners:
            return f"the controller {seen.controller_uid}"
        return "Environment " + ", ".join(seen.owners)

    def record(self, key: ObjectKey, children: list[Child], written: dict[ChildKey, str]) -> None:
        """The versions a write returned; children it deleted are ours no more."""
        versions = self.versions.setdefault(key, {})
        for child in children:
            if child.manifest is None:
                versions.pop((child.kind, child.name), None)
        versions.update(written)

    def drifted(self, key: ObjectKey, child: ChildSummary, deleted: bool) -> bool:
        """Whether a watch event of a child is someone else's change. A change of a child
        being written is taken for our write coming back before its answer: it nearly
        always is, and taking it for drift rewrote every child after each write. The cost:
        someone else's edit that lands in the few milliseconds of our write is seen only
        at the next change. A deletion is drift all the same."""
        ours = self.versions.get(key, {}).get((child.kind, child.name))
        writing = self._in_flight.get(key, Counter())[(child.kind, child.name)] > 0
        if deleted:
            return ours is not None or writing
        return not writing and ours is not None and ours != child.version

    def block(self, key: ObjectKey, refusal: Observation | None) -> None:
        if refusal is not None:
            self.refusals[key] = refusal
        else:
            self.refusals.pop(key, None)

    def mark_resizing(self, key: ObjectKey, resizing: bool) -> None:
        if resizing:
            self.resizing.add(key)
        else:
            self.resizing.discard(key)

    def blocked_in(self, namespace: str) -> list[ObjectKey]:
        return [key for key in self.refusals if key[0] == namespace]

    def forget(self, key: ObjectKey) -> None:
        self.applied_generation.pop(key, None)
        self.converging.pop(key, None)
        self.observed.pop(key, None)
        self.versions.pop(key, None)
        self.decided.pop(key, None)
        self.applied_rollout.pop(key, None)
        self.refusals.pop(key, None)
        self.resizing.discard(key)
        self.held.pop(key, None)
        self.replaced.pop(key, None)
        self._app_locks.pop(key, None)
