"""Redis with a password, on a real redis-server started as the rendered StatefulSet starts it.

The container's args are expanded from its env the way the kubelet does (`$(NAME)`, the
values read from the rendered Secret); the app's client uses the Secret's `url` key, the
value its `REDIS_URL` references.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from tests.data.dataservers import RedisServer, redis_server
from tierkeeper.models import EnvironmentSpec, ResolvedEnvironment, resolve
from tierkeeper.render.app import app_env
from tierkeeper.render.common import Manifest
from tierkeeper.render.redis import redis_conf, render_redis_secret, render_redis_statefulset

pytestmark = pytest.mark.data

PASSWORD = "s3cr3t-from-the-operator_Zx"
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def environment(tier: str) -> ResolvedEnvironment:
    return resolve(EnvironmentSpec.model_validate({"tier": tier}), name="shop", namespace="default")


def secret_data(env: ResolvedEnvironment) -> dict[str, str]:
    secret = render_redis_secret(env, PASSWORD)
    assert secret is not None
    data: dict[str, str] = secret["stringData"]
    return data


def kubelet_args(env: ResolvedEnvironment) -> list[str]:
    """The args after the config file, with `$(NAME)` expanded from the container's env."""
    statefulset = render_redis_statefulset(env)
    assert statefulset is not None
    container: Manifest = statefulset["spec"]["template"]["spec"]["containers"][0]
    values = {var["name"]: _value(env, var) for var in container["env"]}
    return [_REFERENCE.sub(lambda m: values[m.group(1)], arg) for arg in container["args"][1:]]


def _value(env: ResolvedEnvironment, var: dict[str, Any]) -> str:
    if "value" in var:
        return str(var["value"])
    ref = var["valueFrom"]["secretKeyRef"]
    assert ref["name"] == env.names.redis_credentials
    return secret_data(env)[ref["key"]]


def app_redis_url(env: ResolvedEnvironment, server: RedisServer) -> str:
    """The app's REDIS_URL, read through its Secret reference, aimed at the test server."""
    (var,) = [var for var in app_env(env) if var["name"] == "REDIS_URL"]
    url = urlsplit(_value(env, var))
    assert url.hostname == env.names.redis
    netloc = f"{url.username or ''}:{url.password}@{server.host}:{server.port}"
    return urlunsplit(url._replace(netloc=netloc))


def unauthenticated(server: RedisServer, command: bytes) -> bytes:
    """The reply to one inline command from a client that never sent AUTH."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(command + b"\r\n")
        return sock.recv(256)


@pytest.fixture
def start(require_redis: Callable[[], None]) -> Iterator[Callable[..., RedisServer]]:
    require_redis()
    managers: list[Any] = []

    def run(conf: str, args: list[str], workdir: Path | None = None) -> RedisServer:
        manager = redis_server(conf, workdir=workdir, args=args)
        managers.append(manager)
        return manager.__enter__()  # type: ignore[no-any-return]

    yield run
    for manager in reversed(managers):
        manager.__exit__(None, None, None)


def test_a_client_without_the_password_is_refused_and_the_apps_url_works(
    start: Callable[..., RedisServer],
) -> None:
    env = environment("staging")
    server = start(redis_conf(env), kubelet_args(env))

    assert unauthenticated(server, b"SET cart:1 stolen").startswith(b"-NOAUTH ")
    with redis.Redis.from_url(app_redis_url(env, server), decode_responses=True) as app:
        assert app.set("cart:1", "Ümlaut-Warenkorb")
        assert app.get("cart:1") == "Ümlaut-Warenkorb"


def test_the_password_is_in_neither_the_config_nor_a_plain_env_value() -> None:
    env = environment("production")
    statefulset = render_redis_statefulset(env)
    assert statefulset is not None
    container = statefulset["spec"]["template"]["spec"]["containers"][0]

    assert PASSWORD not in redis_conf(env)
    assert all("value" not in var for var in container["env"])
    assert all("value" not in var for var in app_env(env) if var["name"] == "REDIS_URL")


@pytest.mark.parametrize("tier", ["staging", "production"])
def test_a_persistent_redis_started_without_a_password_keeps_its_data_when_it_gains_one(
    start: Callable[..., RedisServer], tmp_path: Path, tier: str
) -> None:
    """The upgrade: the pod of an Environment made before passwords (the config alone)
    restarts as the new StatefulSet starts it, on the same volume."""
    env = environment(tier)
    before = start(redis_conf(env), [], workdir=tmp_path)
    with redis.Redis(host=before.host, port=before.port, decode_responses=True) as old_app:
        for i in range(1000):
            old_app.set(f"cart:{i}", f"Ümlaut-Warenkorb {i}")
    before.process.terminate()  # the StatefulSet's rolling update stops the old pod
    before.process.wait(timeout=30)

    after = start(redis_conf(env), kubelet_args(env), workdir=tmp_path)

    assert unauthenticated(after, b"DBSIZE").startswith(b"-NOAUTH ")
    with redis.Redis.from_url(app_redis_url(env, after), decode_responses=True) as app:
        assert app.dbsize() == 1000
        assert app.get("cart:999") == "Ümlaut-Warenkorb 999"
