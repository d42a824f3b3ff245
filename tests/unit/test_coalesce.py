"""The Coalescer: one run per key at a time, merged requests, a bound on runs at once."""

from __future__ import annotations

import asyncio
import contextvars

from tierkeeper.handlers.coalesce import Coalescer


def test_runs_are_bounded_and_requests_made_while_waiting_merge() -> None:
    runs: list[tuple[str, bool]] = []
    running = 0
    most = 0

    async def work(key: str, full: bool) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        runs.append((key, full))
        await asyncio.sleep(0.01)
        running -= 1

    async def scenario() -> None:
        coalescer: Coalescer[str] = Coalescer(work, concurrency=2)
        for key in "abcde":
            coalescer.request(key, converge=False)
        # "e" waits for a slot: these join its one run, which is then full.
        coalescer.request("e", converge=True)
        coalescer.request("e", converge=False)
        await coalescer.idle()

    asyncio.run(scenario())
    assert most == 2
    assert sorted(runs) == [("a", False), ("b", False), ("c", False), ("d", False), ("e", True)]


def test_a_failed_run_is_retried_in_full_without_holding_a_slot() -> None:
    runs: list[tuple[str, bool]] = []

    async def work(key: str, full: bool) -> None:
        runs.append((key, full))
        if key == "a" and len(runs) == 1:
            raise RuntimeError("API server unavailable")

    async def scenario() -> None:
        coalescer: Coalescer[str] = Coalescer(work, retry_delays=(0.05,), concurrency=1)
        coalescer.request("a", converge=False)
        await asyncio.sleep(0)
        coalescer.request("b", converge=False)
        await coalescer.idle()

    asyncio.run(scenario())
    # "b" ran while "a" waited to retry; "a" came back in full.
    assert runs == [("a", False), ("b", False), ("a", True)]


def test_a_run_does_not_keep_the_context_of_whoever_asked_for_it() -> None:
    """kopf's handlers run with its cause (the object's whole body) in context variables:
    a run must not keep them alive."""
    cause: contextvars.ContextVar[str] = contextvars.ContextVar("cause")
    seen: list[str | None] = []

    async def work(key: str, full: bool) -> None:
        seen.append(cause.get(None))

    async def scenario() -> None:
        coalescer: Coalescer[str] = Coalescer(work)
        cause.set("a kopf cause")
        coalescer.request("a", converge=True)
        await coalescer.idle()

    asyncio.run(scenario())
    assert seen == [None]
