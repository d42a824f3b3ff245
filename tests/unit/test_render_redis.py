"""Redis children and the redis.conf of each tier."""

from __future__ import annotations

import pytest

from tests.unit.helpers import env_of
from tierkeeper.render.redis import (
    redis_conf,
    render_redis_config,
    render_redis_service,
    render_redis_statefulset,
)


def conf_lines(tier: str, **redis: str) -> set[str]:
    return set(redis_conf(env_of({"tier": tier, "redis": redis})).splitlines())


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("development", {"maxmemory 134217728", 'save ""', "appendonly no"}),
        ("staging", {"maxmemory 536870912", "save 86400 1", "appendonly no"}),
        (
            "production",
            {"maxmemory 2147483648", 'save ""', "appendonly yes", "appendfsync everysec"},
        ),
    ],
)
def test_redis_conf_per_tier(tier: str, expected: set[str]) -> None:
    lines = conf_lines(tier)
    assert expected <= lines
    assert "maxmemory-policy allkeys-lru" in lines


def test_redis_conf_overrides() -> None:
    lines = conf_lines(
        "production", maxMemory="1G", evictionPolicy="volatile-ttl", persistence="none"
    )
    assert {"maxmemory 1000000000", "maxmemory-policy volatile-ttl", "appendonly no"} <= lines


def test_volume_only_with_persistence() -> None:
    development = render_redis_statefulset(env_of({"tier": "development"}))
    production = render_redis_statefulset(env_of({"tier": "production"}))
    assert development is not None and production is not None
    assert "volumeClaimTemplates" not in development["spec"]
    claim = production["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "4Gi"  # 2 x 2Gi maxmemory


def test_config_change_rolls_the_pod() -> None:
    small = render_redis_statefulset(env_of({"tier": "staging"}))
    large = render_redis_statefulset(env_of({"tier": "staging", "redis": {"maxMemory": "1Gi"}}))
    assert small is not None and large is not None
    hash_of = lambda m: m["spec"]["template"]["metadata"]["annotations"]  # noqa: E731
    assert hash_of(small) != hash_of(large)


def test_configmap_and_service() -> None:
    env = env_of({"tier": "staging"})
    config = render_redis_config(env)
    service = render_redis_service(env)
    assert config is not None and service is not None
    assert config["metadata"]["name"] == "shop-redis-config"
    assert config["data"]["redis.conf"] == redis_conf(env)
    assert service["metadata"]["name"] == "shop-redis"


def test_disabled_redis_renders_nothing() -> None:
    env = env_of({"tier": "staging", "redis": {"enabled": False}})
    assert render_redis_config(env) is None
    assert render_redis_statefulset(env) is None
    assert render_redis_service(env) is None
