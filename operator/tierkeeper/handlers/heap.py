"""Give the C heap's free memory back to the system once a burst of work is over.

A start-up over a thousand Environments, or a thousand of them changed at once, parses
and renders far more than the operator keeps: the responses' bodies, the manifests and
the larger dicts come from the C allocator, and glibc keeps what they freed in its heap,
in the process's RSS (and its container's memory use), until something asks for it back.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

# How long the queues stay empty before the heap is trimmed: a burst's last reconciles
# come within moments of each other, and one trim after them is enough.
QUIET_SECONDS = 1.0


def malloc_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)`, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return None if trim is None else functools.partial(trim, 0)


class HeapTrim:
    """One trim after the work queues have been idle for `quiet` seconds; work that ends
    again before then pushes it back. An idle operator does no work, so it trims nothing."""

    def __init__(self, trim: Callable[[], object] | None, *, quiet: float = QUIET_SECONDS) -> None:
        self._trim = trim
        self._quiet = quiet
        self._timer: asyncio.TimerHandle | None = None

    def work_done(self) -> None:
        if self._trim is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._quiet, self._run)

    def _run(self) -> None:
        # Armed only by `work_done`, which arms nothing without a trim.
        assert self._trim is not None
        self._timer = None
        self._trim()
        logger.debug("heap trimmed after a burst of work")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
