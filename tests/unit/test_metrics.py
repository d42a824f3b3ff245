"""The per-object gauges: one series per Release at its current phase, the Environments' figures
from their last reconcile, both gone with the object."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY

from tierkeeper import metrics
from tierkeeper.models import Phase


def phases_shown(release: str) -> dict[str, float]:
    return {
        sample.labels["phase"]: sample.value
        for family in REGISTRY.collect()
        if family.name == "tierkeeper_release_phase"
        for sample in family.samples
        if sample.labels.get("release") == release
    }


def test_release_phase_shows_only_the_current_phase_and_is_forgotten() -> None:
    metrics.release_phase("team", "unit-shop", Phase.DEPLOYING)
    metrics.release_phase("team", "unit-shop", Phase.PROMOTED)
    assert phases_shown("unit-shop") == {"Promoted": 1.0}
    metrics.forget_release("team", "unit-shop")
    assert phases_shown("unit-shop") == {}
    # A Release deleted before its first step has nothing to forget.
    metrics.forget_release("team", "never-stepped")


def environment_series(name: str) -> dict[str, float]:
    return {
        family.name: sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("environment") == name
    }


def test_environment_gauges_follow_the_last_reconcile_and_are_forgotten() -> None:
    metrics.environment(
        "team",
        "unit-env",
        ready=False,
        degraded=True,
        cost=8,
        budget=None,
        backup_interval=None,
        last_backup=None,
        backup_scheduled_since=None,
    )
    metrics.environment(
        "team",
        "unit-env",
        ready=True,
        degraded=False,
        cost=12.5,
        budget=42,
        backup_interval=86400,
        last_backup=datetime(2026, 11, 24, 3, 0, tzinfo=UTC),
        backup_scheduled_since=datetime(2026, 11, 17, 3, 0, tzinfo=UTC),
    )
    assert environment_series("unit-env") == {
        "tierkeeper_environment_ready": 1,
        "tierkeeper_environment_degraded": 0,
        "tierkeeper_environment_estimated_monthly_cost_usd": 12.5,
        "tierkeeper_environment_monthly_budget_usd": 42,
        "tierkeeper_backup_interval_seconds": 86400,
        "tierkeeper_backup_last_success_timestamp_seconds": 1795489200,
        "tierkeeper_backup_scheduled_since_timestamp_seconds": 1794884400,
    }
    metrics.forget_environment("team", "unit-env")
    assert environment_series("unit-env") == {}


def test_a_schedules_interval_is_its_longest_gap_between_fires() -> None:
    """What BackupMissing allows before it calls a backup late: a monthly line's longest
    month, a weekday line's weekend, a five-minute line's five minutes."""
    day = 86400.0
    assert metrics.schedule_interval_seconds("0 3 1 * *") == 31 * day
    assert metrics.schedule_interval_seconds("@monthly") == 31 * day
    assert metrics.schedule_interval_seconds("0 3 * * 1-5") == 3 * day
    assert metrics.schedule_interval_seconds("30 2 * * sun") == 7 * day
    assert metrics.schedule_interval_seconds("0 3 * * *") == day
    assert metrics.schedule_interval_seconds("0 */6 * * *") == 6 * 3600.0
    assert metrics.schedule_interval_seconds("*/5 * * * *") == 300.0
