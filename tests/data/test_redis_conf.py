"""The rendered redis.conf of every tier, loaded by a real redis-server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import redis

from tests.data.dataservers import LOCAL_DIRECTIVES, RedisServer, localize_redis_conf, redis_server
from tierkeeper.models import EnvironmentSpec, resolve
from tierkeeper.models.environment import EvictionPolicy
from tierkeeper.render.redis import redis_conf

pytestmark = pytest.mark.data

MiB = 2**20

# The tier table of SPEC §1, spelled out independently of the renderer.
TIER_CONFIG = {
    "development": {
        "maxmemory": str(128 * MiB),
        "maxmemory-policy": "allkeys-lru",
        "save": "",
        "appendonly": "no",
    },
    "staging": {
        "maxmemory": str(512 * MiB),
        "maxmemory-policy": "allkeys-lru",
        "save": "86400 1",
        "appendonly": "no",
    },
    "production": {
        "maxmemory": str(2048 * MiB),
        "maxmemory-policy": "allkeys-lru",
        "save": "",
        "appendonly": "yes",
        "appendfsync": "everysec",
    },
}


def conf_for(spec: dict[str, Any]) -> str:
    env = resolve(EnvironmentSpec.model_validate(spec), name="shop", namespace="default")
    return redis_conf(env)


@pytest.fixture
def running(require_redis: Callable[[], None]) -> Iterator[Callable[..., RedisServer]]:
    """Start redis-server on a rendered config; every server is stopped afterwards."""
    require_redis()
    stack: list[Any] = []

    def start(conf: str, workdir: Path | None = None) -> RedisServer:
        manager = redis_server(conf, workdir=workdir)
        server = manager.__enter__()
        stack.append(manager)
        return server

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def client(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def config_get(server: RedisServer, *names: str) -> dict[str, str]:
    with client(server) as c:
        return {name: c.config_get(name)[name] for name in names}


@pytest.mark.parametrize("tier", sorted(TIER_CONFIG))
def test_redis_started_with_the_tier_config_reports_the_tier_settings(
    running: Callable[..., RedisServer], tier: str
) -> None:
    server = running(conf_for({"tier": tier}))

    expected = TIER_CONFIG[tier]
    assert config_get(server, *expected) == expected
    # Non-AOF tiers leave appendfsync at its default; AOF asks for everysec explicitly.
    assert config_get(server, "appendfsync") == {"appendfsync": "everysec"}


def test_explicit_redis_settings_win_over_the_tier_on_a_real_server(
    running: Callable[..., RedisServer],
) -> None:
    spec = {
        "tier": "production",
        "redis": {"maxMemory": "300M", "evictionPolicy": "volatile-ttl", "persistence": "snapshot"},
    }
    server = running(conf_for(spec))

    assert config_get(server, "maxmemory", "maxmemory-policy", "save", "appendonly") == {
        "maxmemory": "300000000",
        "maxmemory-policy": "volatile-ttl",
        "save": "86400 1",
        "appendonly": "no",
    }


@pytest.mark.parametrize("policy", get_args(EvictionPolicy))
def test_every_eviction_policy_the_crd_allows_is_accepted_by_redis(
    running: Callable[..., RedisServer], policy: str
) -> None:
    server = running(conf_for({"tier": "development", "redis": {"evictionPolicy": policy}}))

    assert config_get(server, "maxmemory-policy") == {"maxmemory-policy": policy}


def test_only_pod_local_directives_are_replaced_for_the_test_server(tmp_path: Path) -> None:
    rendered = conf_for({"tier": "production"})

    local = localize_redis_conf(rendered, port=1234, workdir=tmp_path)

    kept = [line for line in rendered.splitlines() if line.split()[0] not in LOCAL_DIRECTIVES]
    assert local.splitlines()[: len(kept)] == kept
    assert {"maxmemory 2147483648", "appendonly yes", "appendfsync everysec"} <= set(kept)


def test_development_redis_filled_past_maxmemory_evicts_keys_instead_of_failing_writes(
    running: Callable[..., RedisServer],
) -> None:
    server = running(conf_for({"tier": "development"}))
    value = "x" * (64 * 1024)
    written = 3200  # 200 MiB of values into 128 MiB

    with client(server) as c:
        for start in range(0, written, 200):
            pipe = c.pipeline(transaction=False)
            for i in range(start, start + 200):
                pipe.set(f"session:{i}", value)
            assert all(pipe.execute())  # an OOM error would raise here
        stats = c.info("stats")
        memory = c.info("memory")
        kept = c.dbsize()
        newest = c.get(f"session:{written - 1}")

    assert stats["evicted_keys"] > 0
    assert 0 < kept < written
    # Bounded by maxmemory, give or take the write in flight: 200 MiB went into 128 MiB.
    assert memory["maxmemory"] == 128 * MiB
    assert memory["used_memory"] <= memory["maxmemory"] + len(value)
    assert newest == value


@pytest.mark.parametrize(
    ("tier", "survives"),
    [("development", False), ("staging", True), ("production", True)],
)
def test_data_survives_a_redis_restart_exactly_when_the_tier_persists(
    running: Callable[..., RedisServer], tmp_path: Path, tier: str, survives: bool
) -> None:
    conf = conf_for({"tier": tier})
    first = running(conf, workdir=tmp_path)
    with client(first) as c:
        for i in range(1000):
            c.set(f"cart:{i}", f"Ümlaut-Warenkorb {i}")
    first.process.terminate()  # a pod stop: SIGTERM, Redis shuts down cleanly
    first.process.wait(timeout=30)

    second = running(conf, workdir=tmp_path)

    with client(second) as c:
        if survives:
            assert c.dbsize() == 1000
            assert c.get("cart:999") == "Ümlaut-Warenkorb 999"
        else:
            assert c.dbsize() == 0
