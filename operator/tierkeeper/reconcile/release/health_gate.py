"""HTTP health checks: the blue-green gate before a switch and the watch after it.

The gate probes the preview Service until GATE_SUCCESSES answers in a row are good; the
watch after a switch probes the active Service for postPromotionSeconds, and any failure
it counts (all of them, when the check is strict) sends traffic back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from tierkeeper.config import OperatorConfig
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.environment import HealthCheck

# Consecutive good answers the gate needs: one lucky response is not health.
GATE_SUCCESSES = 3


@dataclass(frozen=True)
class Verdict:
    """The outcome of a health check, with the message a person reads."""

    healthy: bool
    message: str


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


async def watch_health(
    url: str, check: HealthCheck, *, duration: float, until_healthy: bool
) -> Verdict:
    """Probe every interval for up to `duration` seconds.

    A gate (`until_healthy`) passes at GATE_SUCCESSES consecutive good answers and
    fails if they do not come in time; a post-promotion watch passes if the whole
    duration goes by. Strict: one failure is fatal; otherwise `failureThreshold`
    consecutive failures are.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    passed = failed = 0
    async with httpx.AsyncClient() as client:
        while True:
            problem = await probe(client, url, check.timeout_seconds)
            passed, failed = (passed + 1, 0) if problem is None else (0, failed + 1)
            if problem is not None and (check.strict or failed >= check.failure_threshold):
                return Verdict(False, f"{problem} ({failed} consecutive failure(s))")
            if until_healthy and passed >= GATE_SUCCESSES:
                return Verdict(True, f"{passed} consecutive healthy answers from {url}")
            if loop.time() + check.interval_seconds > deadline:
                if until_healthy:
                    return Verdict(False, f"{url} not healthy within {duration:.0f}s")
                return Verdict(True, f"healthy for {duration:.0f}s at {url}")
            await asyncio.sleep(check.interval_seconds)


async def check_health(
    config: OperatorConfig,
    env: ResolvedEnvironment,
    service: str,
    *,
    duration: float,
    until_healthy: bool,
) -> Verdict:
    """The Environment's health check against one of its Services (healthy when it has none)."""
    check = env.spec.app.health_check
    if check is None:
        return Verdict(True, "no health check configured")
    url = health_url(config, env, service)
    return await watch_health(url, check, duration=duration, until_healthy=until_healthy)
