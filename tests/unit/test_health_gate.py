"""The health gate and the post-promotion watch, against a loopback HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.integration.operator_process import HealthServer
from tierkeeper.models.environment import HealthCheck
from tierkeeper.reconcile.release.health_gate import GATE_SUCCESSES, watch_health

FAST = {"interval_seconds": 1, "timeout_seconds": 1}


@pytest.fixture
def server() -> Iterator[HealthServer]:
    running = HealthServer()
    yield running
    running.close()


def url(server: HealthServer, service: str = "svc") -> str:
    return server.template.format(namespace="ns", service=service, path="/health")


def test_gate_passes_after_consecutive_successes(server: HealthServer) -> None:
    verdict = asyncio.run(
        watch_health(url(server), HealthCheck(**FAST), duration=30, until_healthy=True)
    )
    assert verdict.healthy
    assert server.hits["svc"] == GATE_SUCCESSES


def test_strict_gate_fails_on_the_first_failure(server: HealthServer) -> None:
    server.codes["svc"] = 503
    verdict = asyncio.run(
        watch_health(url(server), HealthCheck(strict=True, **FAST), duration=30, until_healthy=True)
    )
    assert not verdict.healthy and "503" in verdict.message
    assert server.hits["svc"] == 1


def test_lenient_gate_tolerates_failures_below_the_threshold(server: HealthServer) -> None:
    server.codes["svc"] = 500
    check = HealthCheck(failure_threshold=2, **FAST)
    verdict = asyncio.run(watch_health(url(server), check, duration=30, until_healthy=True))
    assert not verdict.healthy
    assert server.hits["svc"] == 2


def test_gate_fails_when_health_never_comes_in_time(server: HealthServer) -> None:
    verdict = asyncio.run(
        watch_health(
            "http://127.0.0.1:9/none",
            HealthCheck(failure_threshold=100, **FAST),
            duration=2,
            until_healthy=True,
        )
    )
    assert not verdict.healthy


def test_post_promotion_watch_passes_when_the_duration_goes_by_healthy(
    server: HealthServer,
) -> None:
    verdict = asyncio.run(
        watch_health(url(server), HealthCheck(**FAST), duration=2.5, until_healthy=False)
    )
    assert verdict.healthy
    assert server.hits["svc"] >= 2
