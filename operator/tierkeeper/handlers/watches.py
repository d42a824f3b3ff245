"""The operator's own list-and-watch streams, and the caches they feed.

One stream per kind (and per namespace, when the operator watches only some), not kopf's:
kopf keeps a worker, a copy of the memo and the whole body of every object it watches, and
at start-up each worker of an indexed kind waits on every other object being indexed,
woken each time one is (quadratic in the objects). Here a cache keeps only what the
operator reads of each object, and `synced` says when every stream has listed its kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.apply.watch import Change, changes

logger = logging.getLogger(__name__)


@dataclass
class Stream:
    """One watch's bookkeeping: which objects a listing in progress has shown, and
    whether a listing has completed."""

    kind: str
    namespace: str | None  # None: all namespaces
    relisted: set[tuple[str, str]] | None = None
    synced: bool = False


def name_of(body: Object) -> tuple[str, str]:
    meta = body.get("metadata", {})
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


class FramedCache(ABC):
    """A cache fed by framed listings (`LISTING` ... `SYNCED`) and the watch after them:
    what a listing after a gap did not show again was deleted meanwhile. Changes made by
    a stream's first listing are filed as `listed` (the operator is starting: nothing
    changed), later ones as news."""

    def take(self, stream: Stream, change: Change) -> None:
        news = stream.synced
        if change.type == "listing":
            stream.relisted = set()
        elif change.type == "synced":
            for namespace, name in self.names(stream) - (stream.relisted or set()):
                self.drop(stream.kind, namespace, name, news=news)
            stream.relisted, stream.synced = None, True
        elif change.type == "deleted":
            self.drop(stream.kind, *name_of(change.body), news=True)
        else:
            if stream.relisted is not None:
                stream.relisted.add(name_of(change.body))
            self.put(stream.kind, change.body, news=news)

    @abstractmethod
    def names(self, stream: Stream) -> set[tuple[str, str]]:
        """(namespace, name) of every object of the stream's kind and scope held."""

    @abstractmethod
    def put(self, kind: str, body: Object, *, news: bool) -> None: ...

    @abstractmethod
    def drop(self, kind: str, namespace: str, name: str, *, news: bool) -> None: ...


@dataclass(frozen=True)
class Watched:
    """A kind to watch, the labels that select its objects, and the cache it feeds."""

    api_version: str
    kind: str
    selector: str
    cache: FramedCache


@dataclass
class Watches:
    """The streams that keep the caches; `synced` once every stream has listed its kind (a
    reconcile or a Release step must not run on less)."""

    watched: tuple[Watched, ...]
    namespaces: tuple[str, ...] = ()  # none: all of them
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    _kube: ApiClient | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        scopes: tuple[str | None, ...] = self.namespaces or (None,)
        streams = [(w, Stream(w.kind, ns)) for w in self.watched for ns in scopes]
        # Connections of their own, one per watch, each held for as long as it runs: in the
        # reconciles' pool, watches of a few namespaces would leave the reconciles none.
        self._kube = kube = await ApiClient.connect(pool_size=len(streams))
        self._tasks = [
            asyncio.create_task(self._follow(kube, w, stream, [s for _, s in streams]))
            for w, stream in streams
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._kube is not None:
            await self._kube.close()

    async def _follow(
        self, kube: ApiClient, watched: Watched, stream: Stream, every: list[Stream]
    ) -> None:
        async for change in changes(
            kube, watched.api_version, watched.kind, stream.namespace, watched.selector
        ):
            if change.body:
                logger.debug("%s %s/%s: %s", stream.kind, *name_of(change.body), change.type)
            watched.cache.take(stream, change)
            if change.type == "synced" and all(s.synced for s in every):
                self.synced.set()
