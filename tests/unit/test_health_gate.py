"""The health gate and the post-promotion watch, against a loopback HTTP server, stepped
as the operator steps a Release: a step when a probe answers or the wait it asked for ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.operator_process import HealthServer
from tierkeeper.models.environment import HealthCheck
from tierkeeper.reconcile.release.health_gate import GATE_SUCCESSES, HealthChecks, Verdict

FAST = {"interval_seconds": 1, "timeout_seconds": 1}
RELEASE = ("ns", "shop")


@pytest.fixture
def server() -> Iterator[HealthServer]:
    running = HealthServer()
    yield running
    running.close()


def url(server: HealthServer, service: str = "svc") -> str:
    return server.template.format(namespace="ns", service=service, path="/health")


def run_check(target: str, check: HealthCheck, *, seconds: float, until_healthy: bool) -> Verdict:
    """Steps of one Release until its check has a verdict."""

    async def steps() -> Verdict:
        woken = asyncio.Event()
        checks = HealthChecks(lambda _: woken.set())
        since = datetime.now(UTC)
        deadline = since + timedelta(seconds=seconds)
        while True:
            now = datetime.now(UTC)
            result = checks.advance(
                RELEASE,
                target,
                check,
                since=since,
                deadline=deadline,
                now=now,
                until_healthy=until_healthy,
            )
            if isinstance(result, Verdict):
                return result
            woken.clear()
            if result is None:
                await woken.wait()
            else:
                await asyncio.sleep(result)

    return asyncio.run(steps())


def test_gate_passes_after_consecutive_successes(server: HealthServer) -> None:
    verdict = run_check(url(server), HealthCheck(**FAST), seconds=30, until_healthy=True)
    assert verdict.healthy
    assert server.hits["svc"] == GATE_SUCCESSES


def test_strict_gate_fails_on_the_first_failure(server: HealthServer) -> None:
    server.codes["svc"] = 503
    check = HealthCheck(strict=True, **FAST)
    verdict = run_check(url(server), check, seconds=30, until_healthy=True)
    assert not verdict.healthy and "503" in verdict.message
    assert server.hits["svc"] == 1


def test_lenient_gate_tolerates_failures_below_the_threshold(server: HealthServer) -> None:
    server.codes["svc"] = 500
    check = HealthCheck(failure_threshold=2, **FAST)
    verdict = run_check(url(server), check, seconds=30, until_healthy=True)
    assert not verdict.healthy
    assert server.hits["svc"] == 2


def test_gate_fails_when_health_never_comes_in_time() -> None:
    check = HealthCheck(failure_threshold=100, **FAST)
    verdict = run_check("http://127.0.0.1:9/none", check, seconds=2, until_healthy=True)
    assert not verdict.healthy


def test_post_promotion_watch_passes_when_the_duration_goes_by_healthy(
    server: HealthServer,
) -> None:
    verdict = run_check(url(server), HealthCheck(**FAST), seconds=2.5, until_healthy=False)
    assert verdict.healthy
    assert server.hits["svc"] >= 2


def test_a_check_waits_for_its_answer_outside_the_step(server: HealthServer) -> None:
    """The step that starts a probe returns at once; the answer wakes the Release."""

    async def first_step() -> tuple[float | Verdict | None, list[tuple[str, str]]]:
        woken: list[tuple[str, str]] = []
        answered = asyncio.Event()
        checks = HealthChecks(lambda key: (woken.append(key), answered.set()))
        since = datetime.now(UTC)
        result = checks.advance(
            RELEASE,
            url(server),
            HealthCheck(**FAST),
            since=since,
            deadline=since + timedelta(seconds=30),
            now=since,
            until_healthy=True,
        )
        await asyncio.wait_for(answered.wait(), 10)
        return result, woken

    result, woken = asyncio.run(first_step())
    assert result is None, "the step did not wait for the probe"
    assert woken == [RELEASE]
    assert server.hits["svc"] == 1
