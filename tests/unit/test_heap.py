"""The heap is trimmed once after the work queues go quiet, not while work goes on."""

from __future__ import annotations

import asyncio

from tierkeeper.handlers.coalesce import Coalescer
from tierkeeper.handlers.heap import HeapTrim, malloc_trim


def test_glibc_trim_is_found_and_runs() -> None:
    trim = malloc_trim()
    assert trim is not None
    trim()


def test_one_trim_after_a_burst_once_the_queue_is_quiet() -> None:
    trims: list[float] = []

    async def burst() -> None:
        loop = asyncio.get_running_loop()
        heap = HeapTrim(lambda: trims.append(loop.time()), quiet=0.05)

        async def work(key: int, converge: bool) -> None:
            await asyncio.sleep(0.01 * key)

        queue: Coalescer[int] = Coalescer(work, on_idle=heap.work_done)
        for key in range(1, 4):
            queue.request(key, converge=True)
        await queue.idle()
        ended = loop.time()
        assert trims == []
        await asyncio.sleep(0.2)
        assert len(trims) == 1 and trims[0] >= ended + 0.04
        heap.stop()

    asyncio.run(burst())


def test_work_before_the_quiet_ends_pushes_the_trim_back() -> None:
    trims: list[str] = []

    async def twice() -> None:
        heap = HeapTrim(lambda: trims.append("trim"), quiet=0.1)
        heap.work_done()
        await asyncio.sleep(0.06)
        heap.work_done()
        await asyncio.sleep(0.06)
        assert trims == []
        await asyncio.sleep(0.1)
        assert trims == ["trim"]

    asyncio.run(twice())
