"""HTTP health checks: the blue-green gate before a switch and the watch after it.

The gate probes the preview Service until GATE_SUCCESSES answers in a row are good; the
watch after a switch probes the active Service for postPromotionSeconds, and any failure
it counts (all of them, when the check is strict) sends traffic back. A check advances one
answer per step of its Release, and its probes run outside the steps (`HealthChecks`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from tierkeeper.config import OperatorConfig
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.environment import HealthCheck
from tierkeeper.reconcile.records import ObjectKey

# Consecutive good answers the gate needs: one lucky response is not health.
GATE_SUCCESSES = 3


@dataclass(frozen=True)
class Verdict:
    """The outcome of a health check, with the message a person reads."""

    healthy: bool
    message: str
    seconds: float = 0.0  # how long the check ran


def health_url(config: OperatorConfig, env: ResolvedEnvironment, service: str) -> str:
    check = env.spec.app.health_check
    return config.health_url_template.format(
        scheme=config.health_scheme,
        service=service,
        namespace=env.namespace,
        port=env.spec.app.port,
        path=check.path if check else "/",
    )


async def probe(client: httpx.AsyncClient, url: str, seconds: float) -> str | None:
    """None when healthy, else what went wrong."""
    try:
        response = await client.get(url, timeout=seconds)
    except httpx.HTTPError as error:
        return f"{type(error).__name__} from {url}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code} from {url}"


@dataclass
class Tally:
    """One health check in progress: its answers in a row so far, and its probe."""

    check: tuple[str, datetime]  # the URL it probes, the status time it counts from
    began: float  # the loop's time at its first probe
    due: float  # the loop's time its next probe may start
    passed: int = 0
    failed: int = 0
    probing: asyncio.Task[str | None] | None = None


class HealthChecks:
    """The health checks in progress, one per Release at most, probed outside any step.

    A step that finds its check due starts a probe and returns; the probe's answer wakes
    the Release, whose next step counts it. So a check holds no step while it waits, for
    its interval or for a slow answer (up to its timeout): steps are bounded, and a
    Release's gate must hold back neither its own annotations (rollback, abort) nor another
    Release's rollback. Kept in memory only: after a restart a check counts its answers
    afresh, as one that ran inside a step did.
    """

    def __init__(self, wake: Callable[[ObjectKey], None]) -> None:
        self._wake = wake
        self._tallies: dict[ObjectKey, Tally] = {}

    def forget(self, release: ObjectKey) -> None:
        tally = self._tallies.pop(release, None)
        if tally is not None and tally.probing is not None:
            tally.probing.cancel()

    async def stop(self) -> None:
        probes = [t.probing for t in self._tallies.values() if t.probing is not None]
        for probe_task in probes:
            probe_task.cancel()
        await asyncio.gather(*probes, return_exceptions=True)

    def advance(
        self,
        release: ObjectKey,
        url: str,
        check: HealthCheck,
        *,
        since: datetime,
        deadline: datetime,
        now: datetime,
        until_healthy: bool,
    ) -> Verdict | float | None:
        """The check's verdict once its answers call for one; else seconds until its next
        probe is due, or None while a probe runs (its answer wakes the Release).

        A gate (`until_healthy`) passes at GATE_SUCCESSES consecutive good answers and
        fails if they do not come by `deadline`; a post-promotion watch passes if it
        reaches `deadline`. Strict: one failure is fatal; otherwise `failureThreshold`
        consecutive failures are.
        """
        loop = asyncio.get_running_loop()
        tally = self._tallies.get(release)
        if tally is None or tally.check != (url, since):
            self.forget(release)
            tally = self._tallies[release] = Tally((url, since), loop.time(), loop.time())
        if tally.probing is None:
            if loop.time() < tally.due:
                return tally.due - loop.time()
            tally.due = loop.time() + check.interval_seconds
            tally.probing = asyncio.create_task(self._probe(release, url, check.timeout_seconds))
            return None
        if not tally.probing.done():
            return None
        problem, tally.probing = tally.probing.result(), None
        tally.passed, tally.failed = (
            (tally.passed + 1, 0) if problem is None else (0, tally.failed + 1)
        )
        verdict = _verdict(tally, problem, check, until_healthy, deadline - now)
        if verdict is None:
            return max(tally.due - loop.time(), 0.0)
        del self._tallies[release]
        return Verdict(verdict.healthy, verdict.message, loop.time() - tally.began)

    async def _probe(self, release: ObjectKey, url: str, seconds: float) -> str | None:
        """One answer, then a step of the Release to count it (not when cancelled: the
        check was forgotten or the operator stops)."""
        try:
            async with httpx.AsyncClient() as client:
                problem = await probe(client, url, seconds)
        except Exception as error:
            # Whatever kept the probe from an answer (a URL httpx refuses) is a failed one.
            problem = f"{type(error).__name__} from {url}: {error}"
        self._wake(release)
        return problem


def _verdict(
    tally: Tally,
    problem: str | None,
    check: HealthCheck,
    until_healthy: bool,
    left: timedelta,
) -> Verdict | None:
    """What the answers so far decide, if anything; `left`: time until the deadline."""
    if problem is not None and (check.strict or tally.failed >= check.failure_threshold):
        return Verdict(False, f"{problem} ({tally.failed} consecutive failure(s))")
    url = tally.check[0]
    if until_healthy and tally.passed >= GATE_SUCCESSES:
        return Verdict(True, f"{tally.passed} consecutive healthy answers from {url}")
    if left.total_seconds() >= check.interval_seconds:
        return None
    if until_healthy:
        return Verdict(False, f"{url} not healthy by the progress deadline")
    return Verdict(True, f"healthy at {url} until the end of the watch")


def check_health(
    checks: HealthChecks,
    release: ObjectKey,
    config: OperatorConfig,
    env: ResolvedEnvironment,
    service: str,
    *,
    since: datetime,
    deadline: datetime,
    now: datetime,
    until_healthy: bool,
) -> Verdict | float | None:
    """The Environment's health check against one of its Services (healthy when it has
    none), as `HealthChecks.advance`."""
    check = env.spec.app.health_check
    if check is None:
        return Verdict(True, "no health check configured")
    url = health_url(config, env, service)
    return checks.advance(
        release, url, check, since=since, deadline=deadline, now=now, until_healthy=until_healthy
    )
