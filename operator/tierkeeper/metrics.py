"""Prometheus metrics. Label values are kinds, results, outcomes, phases and object names:
never images, messages or anything else without a bound."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tierkeeper.models import Phase
from tierkeeper.models.units import next_fire

RECONCILES = Counter("tierkeeper_reconcile", "Reconciles by kind and result.", ["kind", "result"])
RECONCILE_SECONDS = Histogram(
    "tierkeeper_reconcile_duration_seconds", "Reconcile duration.", ["kind", "result"]
)
ROLLOUTS = Counter("tierkeeper_rollouts", "Finished rollouts by outcome.", ["outcome"])
SWITCHES = Counter("tierkeeper_switches", "Blue-green traffic switches.")
ROLLBACKS = Counter("tierkeeper_rollbacks", "Rollbacks by reason.", ["reason"])
API_REQUESTS = Counter("tierkeeper_api_requests", "Requests sent to the API server.", ["method"])
CHILD_APPLIES = Counter(
    "tierkeeper_child_applies",
    "Wanted children by what a converge did: applied, or held (the live child held it already).",
    ["result"],
)
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
    backup_scheduled_since: float | None  # the backup CronJob's creation


@dataclass(frozen=True, slots=True)
class BackupFigures:
    """An Environment's object-store backups and drill; times in seconds since the epoch.
    Kept only for Environments that have any, so the others pay nothing."""

    wal_archived: float | None = None
    archive_failing: bool | None = None
    base_backup: float | None = None
    base_backup_interval: float | None = None
    rpo_target: float | None = None
    first_recoverability: float | None = None
    drill_success: bool | None = None
    drill_finished: float | None = None
    drill_rto: float | None = None
    offsite_copy: float | None = None
    offsite_copy_interval: float | None = None
    offsite_copy_scheduled_since: float | None = None  # the copy's CronJob's creation


# (name, help, BackupFigures field) of each backup gauge; a figure that is None is not exported.
BACKUP_GAUGES = (
    (
        "tierkeeper_postgres_wal_archived_timestamp_seconds",
        "When the newest archived WAL segment reached the primary store.",
        "wal_archived",
    ),
    (
        "tierkeeper_postgres_wal_archive_failing",
        "1 while WAL archiving fails or stalls (the WALArchiving condition is False).",
        "archive_failing",
    ),
    (
        "tierkeeper_postgres_base_backup_timestamp_seconds",
        "When the newest base backup in the object store finished.",
        "base_backup",
    ),
    (
        "tierkeeper_postgres_base_backup_interval_seconds",
        "Expected seconds between base backups, from the schedule.",
        "base_backup_interval",
    ),
    (
        "tierkeeper_postgres_rpo_target_seconds",
        "The tier's recovery point objective (Environments that archive WAL continuously).",
        "rpo_target",
    ),
    (
        "tierkeeper_postgres_recoverability_first_timestamp_seconds",
        "The earliest time a restore can reach.",
        "first_recoverability",
    ),
    ("tierkeeper_drill_success", "1 if the last restore drill passed, 0 if not.", "drill_success"),
    (
        "tierkeeper_drill_timestamp_seconds",
        "When the last restore drill finished.",
        "drill_finished",
    ),
    ("tierkeeper_drill_rto_seconds", "Seconds the last restore drill's restore took.", "drill_rto"),
    (
        "tierkeeper_postgres_offsite_copy_last_success_timestamp_seconds",
        "When the last copy of the primary store into the off-site one succeeded (CloudNativePG).",
        "offsite_copy",
    ),
    (
        "tierkeeper_postgres_offsite_copy_interval_seconds",
        "Expected seconds between copies into the off-site store, from the schedule.",
        "offsite_copy_interval",
    ),
    (
        "tierkeeper_postgres_offsite_copy_scheduled_since_timestamp_seconds",
        "When the off-site copy's CronJob was created: what a copy that never succeeded is "
        "counted from.",
        "offsite_copy_scheduled_since",
    ),
)


class ObjectFigures(Collector):
    """The gauges of each Environment and Release, made when scraped from one small record
    per object: a labelled Gauge keeps a child object per series for as long as the
    process lives, and an Environment has several."""

    def __init__(self) -> None:
        self.environments: dict[tuple[str, str], EnvironmentFigures] = {}
        self.release_phases: dict[tuple[str, str], Phase] = {}
        self.backups: dict[tuple[str, str], BackupFigures] = {}

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
        # A backup that never succeeded is counted from here: a CronJob's creation outlives
        # restarts of the operator and of Prometheus, and needs no lookback.
        since = GaugeMetricFamily(
            "tierkeeper_backup_scheduled_since_timestamp_seconds",
            "When the backup CronJob was created (builtin backups).",
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
            if figures.backup_scheduled_since is not None:
                since.add_metric(values, figures.backup_scheduled_since)
        phase = GaugeMetricFamily(
            "tierkeeper_release_phase",
            "1 for the Release's current phase.",
            labels=["namespace", "release", "phase"],
        )
        for (namespace, name), current in list(self.release_phases.items()):
            phase.add_metric([namespace, name, current.value], 1)
        yield from (ready, degraded, cost, budget, last_backup, interval, since, phase)
        yield from self._backups(labels)

    def _backups(self, labels: list[str]) -> Iterator[Metric]:
        backups = list(self.backups.items())
        for name, text, attribute in BACKUP_GAUGES:
            gauge = GaugeMetricFamily(name, text, labels=labels)
            for (namespace, environment), figures in backups:
                value = getattr(figures, attribute)
                if value is not None:
                    gauge.add_metric([namespace, environment], float(value))
            yield gauge


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
    backup_scheduled_since: datetime | None,
) -> None:
    FIGURES.environments[(namespace, name)] = EnvironmentFigures(
        ready,
        degraded,
        cost,
        budget,
        backup_interval,
        last_backup.timestamp() if last_backup else None,
        backup_scheduled_since.timestamp() if backup_scheduled_since else None,
    )


def backups(namespace: str, name: str, figures: BackupFigures | None) -> None:
    if figures is None or figures == BackupFigures():
        FIGURES.backups.pop((namespace, name), None)
    else:
        FIGURES.backups[(namespace, name)] = figures


def forget_environment(namespace: str, name: str) -> None:
    FIGURES.environments.pop((namespace, name), None)
    FIGURES.backups.pop((namespace, name), None)


# A fixed start (a leap year's first day, a Monday) and enough fires to see every gap a cron
# line repeats: a weekday schedule's weekend, a monthly one's longest month.
_INTERVAL_FROM = datetime(2024, 1, 1, tzinfo=UTC)
_INTERVAL_FIRES = 60


@functools.lru_cache(maxsize=256)
def schedule_interval_seconds(schedule: str) -> float:
    """The longest gap between two fires of a cron `schedule`: what a 'backup missed'
    alert must allow before it calls a backup late (a monthly line waits 31 days)."""
    fires = [_INTERVAL_FROM]
    for _ in range(_INTERVAL_FIRES):
        fires.append(next_fire(schedule, fires[-1]))
    return max((later - earlier).total_seconds() for earlier, later in pairwise(fires[1:]))
