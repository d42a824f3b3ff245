"""Redis: redis.conf in a ConfigMap, a StatefulSet (volume only with persistence), a Service,
and the password Secret.

The password never enters the ConfigMap or a plain env value: redis-server reads it from
the Secret through an env var the kubelet expands into its `--requirepass` argument, and
the app reads `REDIS_URL` (password included) from the same Secret.
"""

from __future__ import annotations

import hashlib

from tierkeeper.models import Persistence, ResolvedEnvironment
from tierkeeper.models.endpoints import REDIS_PORT
from tierkeeper.models.units import quantity_bytes
from tierkeeper.render.common import (
    Component,
    Manifest,
    claim_retention,
    claim_template,
    data_service,
    labels,
    metadata,
    secret_env,
    selector,
)
from tierkeeper.render.volumes import AS_WANTED, Volume, VolumeSizes, volume_size

REDIS_IMAGE = "redis:7.4"
CONFIG_FILE = "redis.conf"
CONFIG_MOUNT = "/etc/redis"
DATA_MOUNT = "/data"
PASSWORD_KEY = "password"
URL_KEY = "url"
# Kubernetes expands `$(NAME)` in a container's args from its env, Secret references included.
PASSWORD_ENV = "REDIS_PASSWORD"

_PERSISTENCE_LINES = {
    Persistence.NONE: ('save ""', "appendonly no"),
    Persistence.SNAPSHOT: ("save 86400 1", "appendonly no"),
    Persistence.AOF: ('save ""', "appendonly yes", "appendfsync everysec"),
}


def redis_conf(env: ResolvedEnvironment) -> str:
    """The redis.conf of the Environment's tier and overrides."""
    redis = env.spec.redis
    lines = (
        f"# redis.conf for Environment {env.name} ({env.spec.tier.value}), rendered by tierkeeper",
        "bind 0.0.0.0",
        "protected-mode no",
        f"port {REDIS_PORT}",
        f"dir {DATA_MOUNT}",
        f"maxmemory {quantity_bytes(redis.max_memory)}",
        f"maxmemory-policy {redis.eviction_policy}",
        *_PERSISTENCE_LINES[redis.persistence],
    )
    return "\n".join(lines) + "\n"


def redis_url(env: ResolvedEnvironment, password: str) -> str:
    return f"redis://:{password}@{env.names.redis}:{REDIS_PORT}/0"


def render_redis_secret(env: ResolvedEnvironment, password: str) -> Manifest | None:
    """The password Secret; the caller supplies the password (generated once, kept forever)."""
    if not env.spec.redis.enabled:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(env, env.names.redis_credentials, Component.REDIS),
        "type": "Opaque",
        "stringData": {PASSWORD_KEY: password, URL_KEY: redis_url(env, password)},
    }


def render_redis_config(env: ResolvedEnvironment) -> Manifest | None:
    if not env.spec.redis.enabled:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(env, env.names.redis_config, Component.REDIS),
        "data": {CONFIG_FILE: redis_conf(env)},
    }


def render_redis_service(env: ResolvedEnvironment) -> Manifest | None:
    if not env.spec.redis.enabled:
        return None
    return data_service(env, Component.REDIS, env.names.redis, REDIS_PORT)


def render_redis_statefulset(
    env: ResolvedEnvironment, sizes: VolumeSizes = AS_WANTED
) -> Manifest | None:
    redis = env.spec.redis
    if not redis.enabled:
        return None
    persistent = redis.persistence is not Persistence.NONE
    # A config change must restart Redis, which only reads redis.conf at start.
    config_hash = hashlib.sha256(redis_conf(env).encode()).hexdigest()[:16]
    data_volume = [] if persistent else [{"name": "data", "emptyDir": {}}]
    claims = (
        [claim_template(env, Component.REDIS, volume_size(env, Volume.REDIS, sizes))]
        if persistent
        else []
    )
    spec: Manifest = {
        "serviceName": env.names.redis,
        "replicas": 1,
        "selector": {"matchLabels": selector(env, Component.REDIS)},
        "template": {
            "metadata": {
                "labels": labels(env, Component.REDIS),
                "annotations": {"tierkeeper.dev/config-hash": config_hash},
            },
            "spec": {
                "containers": [
                    {
                        "name": "redis",
                        "image": REDIS_IMAGE,
                        "args": [
                            f"{CONFIG_MOUNT}/{CONFIG_FILE}",
                            "--requirepass",
                            f"$({PASSWORD_ENV})",
                        ],
                        "env": [
                            secret_env(PASSWORD_ENV, env.names.redis_credentials, PASSWORD_KEY),
                            # redis-cli (the readiness probe) authenticates with it.
                            secret_env("REDISCLI_AUTH", env.names.redis_credentials, PASSWORD_KEY),
                        ],
                        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
                        "readinessProbe": {
                            "exec": {"command": ["redis-cli", "ping"]},
                            "periodSeconds": 10,
                        },
                        "volumeMounts": [
                            {"name": "config", "mountPath": CONFIG_MOUNT},
                            {"name": "data", "mountPath": DATA_MOUNT},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "config", "configMap": {"name": env.names.redis_config}},
                    *data_volume,
                ],
            },
        },
    }
    if claims:
        spec["volumeClaimTemplates"] = claims
        spec["persistentVolumeClaimRetentionPolicy"] = claim_retention(env)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(env, env.names.redis, Component.REDIS),
        "spec": spec,
    }
