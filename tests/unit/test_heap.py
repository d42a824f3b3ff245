"""The heap is trimmed once after the work queues go quiet, not while work goes on."""

from __future__ import annotations

import asyncio

from tierkeeper.handlers.coalesce import Coalescer
from tierkeeper.handlers.heap import HeapTrim, malloc_trim


def test_glibc_trim_is_found_and_runs() -> None:
    trim = malloc_trim()
    assert trim is not None
    trim()


class Trims:
    """A stand-in trim: the loop time of each call, and an Event set by the first."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.done = asyncio.Event()

    def __call__(self) -> None:
        self.times.append(asyncio.get_running_loop().time())
        self.done.set()

    async def first(self) -> float:
        await asyncio.wait_for(self.done.wait(), 5)
        return self.times[0]


def test_one_trim_after_a_burst_once_the_queue_is_quiet() -> None:
    async def burst() -> None:
        loop = asyncio.get_running_loop()
        trims = Trims()
        heap = HeapTrim(trims, quiet=0.05)

        async def work(key: int, converge: bool) -> None:
            await asyncio.sleep(0.01 * key)

        queue: Coalescer[int] = Coalescer(work, on_idle=heap.work_done)
        for key in range(1, 4):
            queue.request(key, converge=True)
        await queue.idle()
        ended = loop.time()
        # The trim comes a quiet period after the last run ended, not after the first.
        assert await trims.first() >= ended + 0.05
        heap.stop()

    asyncio.run(burst())


def test_work_before_the_quiet_ends_pushes_the_trim_back() -> None:
    async def twice() -> None:
        loop = asyncio.get_running_loop()
        trims = Trims()
        heap = HeapTrim(trims, quiet=0.1)
        heap.work_done()
        await asyncio.sleep(0.05)
        again = loop.time()
        heap.work_done()
        # Had the first timer not been cancelled, the first trim would come before this.
        assert await trims.first() >= again + 0.1
        heap.stop()

    asyncio.run(twice())
