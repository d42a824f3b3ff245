"""The app: Deployment(s) running the Release's image, the active and preview Services."""

from __future__ import annotations

import copy
from typing import Any

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.environment import EXTERNAL_SERVICES
from tierkeeper.models.rollout import AppRollout, Color
from tierkeeper.models.units import canonical_quantity, duration_seconds
from tierkeeper.render.common import (
    COLOR,
    Component,
    Manifest,
    labels,
    metadata,
    secret_env,
    selector,
    value_env,
)
from tierkeeper.render.postgres import URI_KEY
from tierkeeper.render.redis import URL_KEY as REDIS_URL_KEY

CACHE_TTL_SESSION_SECONDS = 3600
CACHE_TTL_CONFIG_SECONDS = 86400


def app_env(env: ResolvedEnvironment) -> list[dict[str, Any]]:
    """Injected variables, then the user's `app.env`; a user variable of the same name wins."""
    spec = env.spec
    injected = [
        value_env("TIERKEEPER_TIER", spec.tier.value),
        value_env("TIERKEEPER_ENVIRONMENT", env.name),
    ]
    if spec.postgres.enabled:
        pool = spec.postgres.pool
        injected += [
            secret_env("DATABASE_URL", env.names.postgres_credentials, URI_KEY),
            value_env("DATABASE_POOL_MAX", pool.max_connections),
            value_env("DATABASE_POOL_MAX_LIFETIME_SECONDS", duration_seconds(pool.max_lifetime)),
            value_env("DATABASE_POOL_MAX_IDLE_SECONDS", duration_seconds(pool.max_idle)),
        ]
    if spec.redis.enabled:
        injected += [
            secret_env("REDIS_URL", env.names.redis_credentials, REDIS_URL_KEY),
            value_env("CACHE_TTL_SESSION_SECONDS", CACHE_TTL_SESSION_SECONDS),
            value_env("CACHE_TTL_CONFIG_SECONDS", CACHE_TTL_CONFIG_SECONDS),
        ]
    injected += [
        secret_env(EXTERNAL_SERVICES[key], service.secret_ref.name, service.secret_ref.key)
        for key, service in sorted(spec.external.items())
    ]
    by_name = {var["name"]: var for var in injected}
    by_name.update({var["name"]: copy.deepcopy(var) for var in spec.app.env})
    return list(by_name.values())


def _probes(env: ResolvedEnvironment) -> dict[str, Any]:
    check = env.spec.app.health_check
    if check is None:
        return {}
    probe = {
        "httpGet": {"path": check.path, "port": "http"},
        "periodSeconds": check.interval_seconds,
        "timeoutSeconds": check.timeout_seconds,
        "failureThreshold": check.failure_threshold,
    }
    return {"readinessProbe": probe, "livenessProbe": probe}


def _resources(resources: dict[str, Any]) -> dict[str, Any]:
    """The container's resources with their quantities as the API server stores them
    (1024Mi as 1Gi, 0.5 as 500m): a Deployment holds what we apply only if it equals what
    we send (apply/children.holds). What is no quantity goes as written, for the API
    server to refuse."""
    written = copy.deepcopy(resources)
    for part in ("requests", "limits"):
        if isinstance(quantities := written.get(part), dict):
            written[part] = {name: _stored(value) for name, value in quantities.items()}
    return written


def _stored(value: Any) -> Any:
    try:
        return canonical_quantity(str(value))
    except ValueError:
        return value


def _deployment(
    env: ResolvedEnvironment, name: str, image: str, replicas: int, color: Color | None
) -> Manifest:
    spec = env.spec
    color_labels = {COLOR: color.value} if color else {}
    pod_selector = {**selector(env, Component.APP), **color_labels}
    container: dict[str, Any] = {
        "name": "app",
        "image": image,
        "ports": [{"name": "http", "containerPort": spec.app.port}],
        "env": app_env(env),
        **_probes(env),
    }
    if spec.app.resources:
        container["resources"] = _resources(spec.app.resources)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(env, name, Component.APP, color_labels),
        "spec": {
            "replicas": 0 if spec.suspend else replicas,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": spec.strategy.blue_green.progress_deadline_seconds,
            # Never fewer ready pods than asked for while an image rolls.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "selector": {"matchLabels": pod_selector},
            "template": {
                "metadata": {"labels": {**labels(env, Component.APP), **color_labels}},
                "spec": {"containers": [container]},
            },
        },
    }


# The Deployments follow the rollout, not the Environment's strategy: while it changes
# strategy, the shape that serves stays until the new one is available.


def render_rolling_deployment(env: ResolvedEnvironment, rollout: AppRollout) -> Manifest | None:
    if rollout.image is None:
        return None
    names = env.names
    return _deployment(env, names.rolling_deployment, rollout.image, env.spec.app.replicas, None)


def render_color_deployment(
    env: ResolvedEnvironment, rollout: AppRollout, color: Color
) -> Manifest | None:
    wanted = rollout.colors.get(color)
    if wanted is None:
        return None
    name = env.names.color_deployment(color.value)
    return _deployment(env, name, wanted.image, wanted.replicas, color)


def _service(env: ResolvedEnvironment, name: str, color: Color | None) -> Manifest:
    color_selector = {COLOR: color.value} if color else {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(env, name, Component.APP),
        "spec": {
            "selector": {**selector(env, Component.APP), **color_selector},
            "ports": [{"name": "http", "port": env.spec.app.port, "targetPort": "http"}],
        },
    }


def render_active_service(env: ResolvedEnvironment, rollout: AppRollout) -> Manifest:
    """Exists before the first Release so its DNS name is stable."""
    color = rollout.active if rollout.serves_colors(env) else None
    return _service(env, env.names.app_service, color)


def render_preview_service(env: ResolvedEnvironment, rollout: AppRollout) -> Manifest | None:
    if not env.blue_green:
        return None
    return _service(env, env.names.preview_service, rollout.active.other)
