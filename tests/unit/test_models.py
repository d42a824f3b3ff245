"""Tier defaults, the override paths of resolve(), and the specs it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.unit.helpers import env_of
from tierkeeper.models import EnvironmentSpec, InvalidSpec, ReleaseSpec, Tier
from tierkeeper.models.units import (
    QUANTITY_PATTERN,
    canonical_quantity,
    check_schedule,
    duration_seconds,
    quantity_bytes,
)

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


# Each stored so by a v1.37.2 API server as a claim template's storage request.
STORED_QUANTITIES = [
    ("1024Mi", "1Gi"),
    ("1536Mi", "1536Mi"),
    ("1Gi", "1Gi"),
    ("500M", "500M"),
    ("1.5Gi", "1536Mi"),
    ("1.0Gi", "1Gi"),
    ("0.5Gi", "512Mi"),
    ("1.25Ti", "1280Gi"),
    ("2048Gi", "2Ti"),
    ("1024Ki", "1Mi"),
    ("1048576Ki", "1Gi"),
    ("4096Ki", "4Mi"),
    ("4095Ki", "4095Ki"),
    ("1000Ki", "1000Ki"),
    ("1024000Mi", "1000Gi"),
    ("1.5Ki", "1536"),  # binary below 1024, or fractional: written in decimal
    ("0.5Ki", "512"),
    ("0.1Ki", "102400m"),
    ("1.1Mi", "1153433600m"),
    ("1.0000001Ki", "1024001m"),  # rounded up to milliunits
    ("0.000000001Gi", "1074m"),
    ("1000M", "1G"),
    ("100000M", "100G"),
    ("1.5G", "1500M"),
    ("2.5G", "2500M"),
    ("1.5k", "1500"),
    ("1000", "1k"),
    ("12000", "12k"),
    ("1200", "1200"),
    ("1023", "1023"),
    ("1024", "1024"),
    ("0.5", "500m"),
    ("0.001", "1m"),
    ("0.0015", "2m"),
    ("1n", "1m"),
    ("1500u", "2m"),
    ("1000000u", "1"),
    ("0.0000000001", "1m"),
    ("1000P", "1E"),
    ("1500000000000000000000", "1500E"),
    ("1000000P", "1"),  # 10^21 has no suffix, and Kubernetes writes none
    ("9Ei", "9223372036854775807"),  # a binary value beyond int64 is capped
    ("1024Pi", "1Ei"),
    ("12e4", "120e3"),
    ("1e19", "10e18"),
    ("1e-4", "1e-3"),
    ("12.5e2", "1250"),
    ("+1024Mi", "1Gi"),
    ("01Gi", "01Gi"),  # kept as written where the parse finds them canonical
    ("007Mi", "007Mi"),
    ("+1Gi", "+1Gi"),
    ("5.", "5."),
    ("1e3", "1e3"),
    ("1.5e-2", "1.5e-2"),
]


@pytest.mark.parametrize(("quantity", "stored"), STORED_QUANTITIES)
def test_a_quantity_is_written_as_the_api_server_stores_it(quantity: str, stored: str) -> None:
    assert canonical_quantity(quantity) == stored


@given(st.from_regex(QUANTITY_PATTERN, fullmatch=True).filter(lambda q: len(q) <= 32))
def test_a_stored_quantity_is_stored_unchanged(quantity: str) -> None:
    # A size read back from a live claim is rendered as the server has it.
    stored = canonical_quantity(quantity)
    assert canonical_quantity(stored) == stored


@pytest.mark.parametrize("quantity", ["", "Gi", "1Qi", "1.5.5", "1e", "1 Gi"])
def test_a_string_that_is_no_quantity_is_refused(quantity: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        canonical_quantity(quantity)


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
