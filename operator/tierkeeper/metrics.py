"""Prometheus metrics. Label values are kinds, results, outcomes, phases and object names:
never images, messages or anything else without a bound."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from tierkeeper.models import Phase

RECONCILES = Counter("tierkeeper_reconcile", "Reconciles by kind and result.", ["kind", "result"])
RECONCILE_SECONDS = Histogram(
    "tierkeeper_reconcile_duration_seconds", "Reconcile duration.", ["kind", "result"]
)
ROLLOUTS = Counter("tierkeeper_rollouts", "Finished rollouts by outcome.", ["outcome"])
SWITCHES = Counter("tierkeeper_switches", "Blue-green traffic switches.")
ROLLBACKS = Counter("tierkeeper_rollbacks", "Rollbacks by reason.", ["reason"])
API_REQUESTS = Counter("tierkeeper_api_requests", "Requests sent to the API server.", ["method"])
SWITCH_SECONDS = Histogram(
    "tierkeeper_switch_duration_seconds",
    "From a switch decision (gate passed, revert seen) to the active Service written.",
    ["reason"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GATE_SECONDS = Histogram(
    "tierkeeper_gate_duration_seconds",
    "Duration of blue-green health gates.",
    ["result"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600),
)
RELEASE_PHASE = Gauge(
    "tierkeeper_release_phase",
    "1 for the Release's current phase.",
    ["namespace", "release", "phase"],
)
ENV_READY = Gauge(
    "tierkeeper_environment_ready", "Environment Ready.", ["namespace", "environment"]
)
ENV_DEGRADED = Gauge(
    "tierkeeper_environment_degraded", "Environment Degraded.", ["namespace", "environment"]
)
ENV_COST = Gauge(
    "tierkeeper_environment_estimated_monthly_cost_usd",
    "Estimated monthly cost.",
    ["namespace", "environment"],
)
BACKUP_LAST_SUCCESS = Gauge(
    "tierkeeper_backup_last_success_timestamp_seconds",
    "When the last backup succeeded (builtin backups).",
    ["namespace", "environment"],
)
BACKUP_INTERVAL = Gauge(
    "tierkeeper_backup_interval_seconds",
    "Expected seconds between backups, from the schedule.",
    ["namespace", "environment"],
)

ENV_GAUGES = (ENV_READY, ENV_DEGRADED, ENV_COST, BACKUP_LAST_SUCCESS, BACKUP_INTERVAL)


def serve(port: int) -> None:
    start_http_server(port)


@contextmanager
def reconciling(kind: str) -> Iterator[None]:
    started = time.monotonic()
    result = "error"
    try:
        yield
        result = "ok"
    finally:
        RECONCILES.labels(kind, result).inc()
        RECONCILE_SECONDS.labels(kind, result).observe(time.monotonic() - started)


def switched(reason: str, decided: float) -> None:
    """A traffic switch, timed from the decision (monotonic clock) to the Service written."""
    SWITCHES.inc()
    SWITCH_SECONDS.labels(reason).observe(time.monotonic() - decided)


def release_phase(namespace: str, release: str, phase: Phase | None) -> None:
    """One series per Release, its current phase at 1: a series per phase, six of them at 0,
    cost ~5 KB per Release for nothing a `== 1` query needs."""
    for candidate in Phase:
        if candidate is phase:
            RELEASE_PHASE.labels(namespace, release, candidate.value).set(1)
        else:
            with suppress(KeyError):
                RELEASE_PHASE.remove(namespace, release, candidate.value)


def forget_release(namespace: str, release: str) -> None:
    release_phase(namespace, release, None)


def environment(
    namespace: str,
    name: str,
    *,
    ready: bool,
    degraded: bool,
    cost: float,
    backup_interval: float | None,
    last_backup: datetime | None,
) -> None:
    ENV_READY.labels(namespace, name).set(int(ready))
    ENV_DEGRADED.labels(namespace, name).set(int(degraded))
    ENV_COST.labels(namespace, name).set(cost)
    if backup_interval is not None:
        BACKUP_INTERVAL.labels(namespace, name).set(backup_interval)
    if last_backup is not None:
        BACKUP_LAST_SUCCESS.labels(namespace, name).set(last_backup.timestamp())


def forget_environment(namespace: str, name: str) -> None:
    for gauge in ENV_GAUGES:
        try:
            gauge.remove(namespace, name)
        except KeyError:
            continue


def schedule_interval_seconds(schedule: str) -> float:
    """A cron schedule's usual gap: enough for a 'backup missed' alert, not a cron parser."""
    macros = {"@hourly": 3600.0, "@daily": 86400.0, "@weekly": 604800.0, "@monthly": 2678400.0}
    if schedule in macros:
        return macros[schedule]
    _, hour, day, _, weekday = schedule.split()
    if hour == "*" or hour.startswith("*/"):
        return 3600.0 * (int(hour[2:]) if hour.startswith("*/") else 1)
    if weekday != "*" and day == "*":
        return 604800.0
    return 86400.0
