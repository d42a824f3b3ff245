"""Tier defaults, the override paths of resolve(), and the specs it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.helpers import env_of
from tierkeeper.models import EnvironmentSpec, InvalidSpec, ReleaseSpec, Tier
from tierkeeper.models.units import check_schedule, duration_seconds, quantity_bytes

# SPEC §1's table, spelled out independently of TIER_DEFAULTS.
EXPECTED = {
    "development": {
        "strategy": "Rolling",
        "replicas": 1,
        "health": None,
        "max_retries": 3,
        "delay": 0,
        "storage": "1Gi",
        "instances": 1,
        "provider": "builtin",
        "schedule": "0 3 * * *",
        "retention": 7,
        "pitr": False,
        "archive_timeout": "5m",
        "redis": ("128Mi", "none"),
        "deletion": "Delete",
    },
    "staging": {
        "strategy": "Rolling",
        "replicas": 2,
        "health": ("/health", 30, False),
        "max_retries": 5,
        "delay": 0,
        "storage": "5Gi",
        "instances": 1,
        "provider": "builtin",
        "schedule": "0 3 * * *",
        "retention": 14,
        "pitr": True,
        "archive_timeout": "5m",
        "redis": ("512Mi", "snapshot"),
        "deletion": "Retain",
    },
    "production": {
        "strategy": "BlueGreen",
        "replicas": 2,
        "health": ("/health", 30, True),
        "max_retries": 5,
        "delay": 30,
        "storage": "20Gi",
        "instances": 2,
        "provider": "cloudnative-pg",
        "schedule": "0 * * * *",
        "retention": 30,
        "pitr": True,
        "archive_timeout": "1m",
        "redis": ("2Gi", "aof"),
        "deletion": "Retain",
    },
}


STORE = {
    "bucket": "backups",
    "credentials": {
        "accessKeyId": {"name": "s3", "key": "id"},
        "secretAccessKey": {"name": "s3", "key": "secret"},
    },
}


@pytest.mark.parametrize("tier", list(EXPECTED))
def test_tier_fills_every_default(tier: str) -> None:
    spec = env_of({"tier": tier}).spec
    want = EXPECTED[tier]
    check = spec.app.health_check
    assert spec.strategy.type.value == want["strategy"]
    assert spec.app.replicas == want["replicas"]
    assert (check and (check.path, check.interval_seconds, check.strict)) == want["health"]
    assert spec.app.restart_policy.max_retries == want["max_retries"]
    assert spec.app.restart_policy.delay_seconds == want["delay"]
    assert spec.postgres.storage == want["storage"]
    assert spec.postgres.instances == want["instances"]
    assert spec.postgres.provider.value == want["provider"]
    assert spec.postgres.backup.schedule == want["schedule"]
    assert spec.postgres.backup.retention_days == want["retention"]
    # The tier's PITR holds where WAL has somewhere to go, and only there.
    assert spec.postgres.backup.pitr.enabled is False
    stored = env_of({"tier": tier, "postgres": {"backup": {"objectStore": STORE}}}).spec
    assert stored.postgres.backup.pitr.enabled is want["pitr"]
    assert stored.postgres.backup.pitr.archive_timeout == want["archive_timeout"]
    assert (spec.redis.max_memory, spec.redis.persistence.value) == want["redis"]
    assert spec.redis.eviction_policy == "allkeys-lru"
    assert spec.deletion_policy.value == want["deletion"]
    assert spec.strategy.blue_green.rollback_window == "2h"


def test_explicit_scalar_wins_over_tier() -> None:
    assert env_of({"tier": "production", "app": {"replicas": 5}}).spec.app.replicas == 5


def test_nested_override_merges_field_by_field() -> None:
    spec = env_of({"tier": "production", "app": {"healthCheck": {"path": "/ready"}}}).spec
    check = spec.app.health_check
    assert check is not None
    assert (check.path, check.interval_seconds, check.strict) == ("/ready", 30, True)
    assert spec.app.replicas == 2


def test_health_check_can_be_added_to_development() -> None:
    check = env_of({"tier": "development", "app": {"healthCheck": {"path": "/hz"}}}).spec
    assert check.app.health_check is not None
    assert check.app.health_check.path == "/hz"
    assert check.app.health_check.failure_threshold == 3


def test_list_override_replaces_not_appends() -> None:
    spec = env_of({"tier": "staging", "app": {"env": [{"name": "A", "value": "1"}]}}).spec
    assert spec.app.env == [{"name": "A", "value": "1"}]


def test_explicit_false_wins_over_tier_true() -> None:
    spec = env_of({"tier": "staging", "postgres": {"backup": {"pitr": {"enabled": False}}}}).spec
    assert spec.postgres.backup.pitr.enabled is False
    assert spec.postgres.backup.retention_days == 14


def test_disabling_backups_disables_the_tier_pitr() -> None:
    spec = env_of({"tier": "staging", "postgres": {"backup": {"enabled": False}}}).spec
    assert not spec.postgres.backup.enabled
    assert not spec.postgres.backup.pitr.enabled


def test_production_can_choose_builtin_single_instance() -> None:
    spec = env_of({"tier": "production", "postgres": {"provider": "builtin", "instances": 1}}).spec
    assert (spec.postgres.provider.value, spec.postgres.instances) == ("builtin", 1)


def test_resolve_does_not_mutate_the_tier_table() -> None:
    env_of({"tier": "development", "app": {"restartPolicy": {"maxRetries": 9}}})
    assert env_of({"tier": "development"}).spec.app.restart_policy.max_retries == 3


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"tier": "staging", "postgres": {"instances": 3}}, "HARequiresCloudNativePG"),
        ({"tier": "production", "postgres": {"provider": "builtin"}}, "HARequiresCloudNativePG"),
        (
            {
                "tier": "staging",
                "postgres": {"backup": {"enabled": False, "pitr": {"enabled": True}}},
            },
            "PITRRequiresBackups",
        ),
        (
            {"tier": "staging", "external": {"kafka": {"secretRef": {"name": "k", "key": "url"}}}},
            "UnknownExternalService",
        ),
        (
            {"tier": "development", "postgres": {"backup": {"pitr": {"enabled": True}}}},
            "ObjectStoreRequired",
        ),
        (
            {"tier": "staging", "postgres": {"backup": {"offsiteObjectStore": STORE}}},
            "ObjectStoreRequired",
        ),
        (
            {
                "tier": "production",
                "postgres": {"backup": {"objectStore": STORE, "pitr": {"archiveTimeout": "10m"}}},
            },
            "ArchiveTimeoutOverRPO",
        ),
        (
            {"tier": "staging", "postgres": {"backup": {"pitr": {"archiveTimeout": "0s"}}}},
            "InvalidArchiveTimeout",
        ),
    ],
)
def test_resolve_refuses_with_a_reason(spec: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidSpec) as refused:
        env_of(spec)
    assert refused.value.reason == reason
    assert refused.value.message


def test_cloudnative_pg_with_an_offsite_store_is_accepted() -> None:
    env = env_of(
        {
            "tier": "production",
            "postgres": {"backup": {"objectStore": STORE, "offsiteObjectStore": STORE}},
        }
    )
    assert env.cloudnative_pg
    assert env.spec.postgres.backup.offsite_object_store is not None


@pytest.mark.parametrize(
    "spec",
    [
        {"tier": "qa"},
        {"tier": "staging", "postgres": {"storage": "20 GB"}},
        {"tier": "staging", "postgres": {"instances": 0}},
        {"tier": "staging", "strategy": {"blueGreen": {"rollbackWindow": "two hours"}}},
        {"tier": "staging", "app": {"healthCheck": {"path": "health"}}},
        {"tier": "staging", "surprise": True},
    ],
)
def test_schema_level_mistakes_are_validation_errors(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EnvironmentSpec.model_validate(spec)


def test_release_needs_environment_and_image() -> None:
    release = ReleaseSpec.model_validate({"environment": "shop", "image": "shop:1"})
    assert release.promotion.value == "Auto" and release.promote is False
    with pytest.raises(ValidationError):
        ReleaseSpec.model_validate({"environment": "shop", "image": ""})


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("128Mi", 128 * 2**20), ("2Gi", 2 * 2**30), ("1.5G", 1_500_000_000), ("100", 100)],
)
def test_quantity_bytes(quantity: str, expected: int) -> None:
    assert quantity_bytes(quantity) == expected


@pytest.mark.parametrize(
    ("duration", "expected"), [("2h", 7200), ("30m", 1800), ("1h30m", 5400), ("1500ms", 2)]
)
def test_duration_seconds(duration: str, expected: int) -> None:
    assert duration_seconds(duration) == expected


def test_every_tier_has_defaults() -> None:
    assert {env_of({"tier": tier.value}).spec.tier for tier in Tier} == set(Tier)


@pytest.mark.parametrize(
    "schedule", ["0 3 * * *", "*/15 * * * *", "0,30 1-5/2 * * *", "0 0 1 jan-mar mon-fri", "@daily"]
)
def test_cron_schedules_in_range_are_accepted(schedule: str) -> None:
    assert check_schedule(schedule) == schedule


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        ("61 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 0 * *", "day of month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * 7", "day of week"),
        ("*/0 * * * *", "minute"),
        ("5-1 * * * *", "minute"),
        ("0 0 * * funday", "day of week"),
    ],
)
def test_cron_schedule_out_of_range_is_refused_naming_the_field(schedule: str, named: str) -> None:
    """The CRD's pattern admits the characters; a CronJob the API server would reject after
    the other children were written must be refused before anything is."""
    with pytest.raises(ValidationError, match=named):
        EnvironmentSpec.model_validate(
            {"tier": "development", "postgres": {"backup": {"schedule": schedule}}}
        )
