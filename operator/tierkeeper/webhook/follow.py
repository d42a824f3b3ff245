"""After a deploy: how long until traffic is on the new image, for the metric. The hook
watches each Release it moved (it may: get/list/watch) until the operator reports the
image active, the rollout failed, another image replaced it, or the time is up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tierkeeper.apply.errors import ApiError
from tierkeeper.webhook import metrics
from tierkeeper.webhook.matching import Target

log = logging.getLogger("tierkeeper.webhook")

# The phases in which a rollout of the image has ended without bringing it traffic.
_ENDED = ("Failed", "RolledBack")


def outcome_of(release: Mapping[str, Any], image: str) -> str | None:
    """`active` once traffic is on `image`, `failed` or `superseded` once it never will
    be, None while the rollout runs."""
    spec, status = release.get("spec") or {}, release.get("status") or {}
    if spec.get("image") != image:
        return "superseded"
    if status.get("activeImage") == image:
        return "active"
    if status.get("targetImage") == image and status.get("phase") in _ENDED:
        return "failed"
    return None


class ReleaseWatch(Protocol):
    def watch_release(self, target: Target, seconds: float) -> AsyncIterator[Mapping[str, Any]]: ...


@dataclass
class Followers:
    """At most `limit` Releases followed at once; a deploy beyond that is not timed."""

    cluster: ReleaseWatch
    monotonic: Callable[[], float]
    timeout: float = 3600.0
    limit: int = 256
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def follow(self, target: Target, event: str, started: float) -> None:
        if len(self._tasks) >= self.limit:
            return  # the deploy stands; only its timing is not taken
        task = asyncio.create_task(self._follow(target, event, started))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, target: Target, event: str, started: float) -> None:
        outcome = "timed_out"
        try:
            async with asyncio.timeout(self.timeout):
                async for release in self.cluster.watch_release(target, self.timeout):
                    if (decided := outcome_of(release, target.image)) is not None:
                        outcome = decided
                        break
        except TimeoutError:
            pass
        except (ApiError, OSError) as error:
            outcome = "unknown"
            log.warning(
                "stopped following %s/%s: %s",
                target.namespace,
                target.release,
                type(error).__name__,
            )
        metrics.TRAFFIC_SECONDS.labels(metrics.event_label(event), outcome).observe(
            self.monotonic() - started
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
