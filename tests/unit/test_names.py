"""Child names stay valid Kubernetes names for any valid Environment name."""

from __future__ import annotations

import re

import pytest

from tierkeeper.models.names import SUFFIXED_CONTROLLER_MAX, ChildNames, fit_name

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LONG = "a" * 253
DOTTED = "shop.example.team-" + "x" * 200


def all_names(names: ChildNames) -> dict[str, str]:
    return {
        "app_service": names.app_service,
        "preview_service": names.preview_service,
        "rolling_deployment": names.rolling_deployment,
        "blue": names.color_deployment("blue"),
        "green": names.color_deployment("green"),
        "postgres": names.postgres,
        "postgres_credentials": names.postgres_credentials,
        "redis": names.redis,
        "redis_config": names.redis_config,
        "redis_credentials": names.redis_credentials,
        "route": names.route,
        "preview_route": names.preview_route,
        "route_certificate": names.route_certificate,
        "preview_tls": names.preview_tls,
        "app_policy": names.network_policy("app"),
        "postgres_policy": names.network_policy("postgres"),
        "redis_policy": names.network_policy("redis"),
        "backup_cronjob": names.backup_cronjob,
        "backup_script": names.backup_script,
        "backups_pvc": names.backups_pvc,
        "scheduled_backup": names.scheduled_backup,
        "offsite_mirror": names.offsite_mirror,
        "instance_label": names.instance_label,
    }


def test_short_names_are_spelled_as_the_spec_says() -> None:
    names = ChildNames("shop")
    assert all_names(names) == {
        "app_service": "shop",
        "preview_service": "shop-preview",
        "rolling_deployment": "shop-app",
        "blue": "shop-blue",
        "green": "shop-green",
        "postgres": "shop-postgres",
        "postgres_credentials": "shop-postgres-credentials",
        "redis": "shop-redis",
        "redis_config": "shop-redis-config",
        "redis_credentials": "shop-redis-credentials",
        "route": "shop",
        "preview_route": "shop-preview",
        "route_certificate": "shop-tls",
        "preview_tls": "shop-preview-tls",
        "app_policy": "shop-app-policy",
        "postgres_policy": "shop-postgres-policy",
        "redis_policy": "shop-redis-policy",
        "backup_cronjob": "shop-postgres-backup",
        "backup_script": "shop-backup-script",
        "backups_pvc": "shop-backups",
        "scheduled_backup": "shop-postgres-scheduled",
        "offsite_mirror": "shop-postgres-offsite",
        "instance_label": "shop",
    }


@pytest.mark.parametrize("environment", [LONG, DOTTED, "9lives", "a" * 47, "a" * 48, "a" * 63])
def test_every_child_name_is_a_dns_label_within_its_limit(environment: str) -> None:
    names = ChildNames(environment)
    for kind, name in all_names(names).items():
        assert DNS_LABEL.match(name), (kind, name)
        assert len(name) <= 63, (kind, name)
    for limited in (names.backup_cronjob, names.offsite_mirror, names.postgres, names.redis):
        assert len(limited) <= SUFFIXED_CONTROLLER_MAX


def test_cronjob_name_at_the_52_character_limit() -> None:
    fits = "a" * (52 - len("-postgres-backup"))
    assert ChildNames(fits).backup_cronjob == fits + "-postgres-backup"
    too_long = ChildNames(fits + "a").backup_cronjob
    assert len(too_long) == 52 and too_long.endswith("-postgres-backup")


def test_shortening_is_deterministic_and_keeps_names_apart() -> None:
    first, second = LONG, LONG[:-1] + "b"
    assert fit_name(first, "-app") == fit_name(first, "-app")
    assert fit_name(first, "-app") != fit_name(second, "-app")
    assert fit_name("shop.a", "-x") != fit_name("shop-a", "-x")
