"""Run at most one reconcile per key at a time; requests that arrive meanwhile merge into one."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)

logger = logging.getLogger(__name__)

# Reconciles running at once, over all keys. The API server is what they wait on, so more
# would not converge sooner; but each one in flight holds its connections' buffers and its
# manifests, and an unbounded start-up would hold them for every Environment at once: a
# peak that stays in the process's RSS after it has passed.
CONCURRENCY = 20


class Coalescer(Generic[Key]):
    """Per-key serial execution of `work(key, converge)`; a request to converge wins over
    one that is not (for Environments: children and status, or status only). `on_idle` is
    called each time the last run ends.

    At most `concurrency` runs at once; a key waiting for a slot keeps merging requests.
    A failed run is retried with backoff, so an API-server outage delays convergence
    but never loses a request.
    """

    def __init__(
        self,
        work: Callable[[Key, bool], Awaitable[None]],
        *,
        retry_delays: tuple[float, ...] = (1, 2, 5, 10, 30),
        concurrency: int = CONCURRENCY,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self._work = work
        self._on_idle = on_idle
        self._pending: dict[Key, bool] = {}
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._retry_delays = retry_delays
        self._slots = asyncio.Semaphore(concurrency)

    def request(self, key: Key, *, converge: bool) -> None:
        self._pending[key] = self._pending.get(key, False) or converge
        if key not in self._running:
            # In a context of its own: a task inherits its creator's, and a request made
            # from a kopf handler would keep kopf's cause (the object's whole body, its
            # patch, its logger) alive as long as the run, and anything the run starts.
            self._running[key] = asyncio.create_task(
                self._drain(key), context=contextvars.Context()
            )

    async def _drain(self, key: Key) -> None:
        failures = 0
        try:
            while key in self._pending:
                delay = self._retry_delays[min(failures, len(self._retry_delays) - 1)]
                if await self._run_once(key, delay):
                    failures = 0
                else:
                    failures += 1
                    await asyncio.sleep(delay)
        finally:
            del self._running[key]
            if not self._running and self._on_idle is not None:
                self._on_idle()

    async def _run_once(self, key: Key, retry_delay: float) -> bool:
        """One run in a free slot; False if it failed (the key is then pending, to converge)."""
        async with self._slots:
            # Taken only now: requests made while waiting for the slot join this run.
            converge = self._pending.pop(key)
            try:
                await self._work(key, converge)
            except Exception:
                logger.exception("reconcile of %s failed; retrying in %ss", key, retry_delay)
                self._pending[key] = True
                return False
        return True

    async def idle(self) -> None:
        """Wait until nothing is running (tests and shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
