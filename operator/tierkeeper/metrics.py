"""Prometheus metrics. Label values are kinds, results, outcomes, phases and object names:
never images, messages or anything else without a bound."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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


@dataclass(frozen=True, slots=True)
class EnvironmentFigures:
    ready: bool
    degraded: bool
    cost: float
    budget: float | None
    backup_interval: float | None
    last_backup: float | None  # seconds since the epoch


class ObjectFigures(Collector):
    """The gauges of each Environment and Release, made when scraped from one small record
    per object: a labelled Gauge keeps a child object per series for as long as the
    process lives, and an Environment has several."""

    def __init__(self) -> None:
        self.environments: dict[tuple[str, str], EnvironmentFigures] = {}
        self.release_phases: dict[tuple[str, str], Phase] = {}

    def collect(self) -> Iterator[Metric]:
        labels = ["namespace", "environment"]
        ready = GaugeMetricFamily(
            "tierkeeper_environment_ready", "Environment Ready.", labels=labels
        )
        degraded = GaugeMetricFamily(
            "tierkeeper_environment_degraded", "Environment Degraded.", labels=labels
        )
        cost = GaugeMetricFamily(
            "tierkeeper_environment_estimated_monthly_cost_usd",
            "Estimated monthly cost.",
            labels=labels,
        )
        budget = GaugeMetricFamily(
            "tierkeeper_environment_monthly_budget_usd",
            "The Environment's spec.budget.monthlyUSD (none: no budget set).",
            labels=labels,
        )
        last_backup = GaugeMetricFamily(
            "tierkeeper_backup_last_success_timestamp_seconds",
            "When the last backup succeeded (builtin backups).",
            labels=labels,
        )
        interval = GaugeMetricFamily(
            "tierkeeper_backup_interval_seconds",
            "Expected seconds between backups, from the schedule.",
            labels=labels,
        )
        # Scraped from the metrics server's thread: copies, taken at once under the GIL.
        for (namespace, name), figures in list(self.environments.items()):
            values = [namespace, name]
            ready.add_metric(values, int(figures.ready))
            degraded.add_metric(values, int(figures.degraded))
            cost.add_metric(values, figures.cost)
            if figures.budget is not None:
                budget.add_metric(values, figures.budget)
            if figures.backup_interval is not None:
                interval.add_metric(values, figures.backup_interval)
            if figures.last_backup is not None:
                last_backup.add_metric(values, figures.last_backup)
        phase = GaugeMetricFamily(
            "tierkeeper_release_phase",
            "1 for the Release's current phase.",
            labels=["namespace", "release", "phase"],
        )
        for (namespace, name), current in list(self.release_phases.items()):
            phase.add_metric([namespace, name, current.value], 1)
        yield from (ready, degraded, cost, budget, last_backup, interval, phase)


FIGURES = ObjectFigures()
REGISTRY.register(FIGURES)


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
    """One series per Release, its current phase at 1 (none before its first step)."""
    if phase is None:
        FIGURES.release_phases.pop((namespace, release), None)
    else:
        FIGURES.release_phases[(namespace, release)] = phase


def forget_release(namespace: str, release: str) -> None:
    release_phase(namespace, release, None)


def environment(
    namespace: str,
    name: str,
    *,
    ready: bool,
    degraded: bool,
    cost: float,
    budget: float | None,
    backup_interval: float | None,
    last_backup: datetime | None,
) -> None:
    FIGURES.environments[(namespace, name)] = EnvironmentFigures(
        ready,
        degraded,
        cost,
        budget,
        backup_interval,
        last_backup.timestamp() if last_backup else None,
    )


def forget_environment(namespace: str, name: str) -> None:
    FIGURES.environments.pop((namespace, name), None)


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
