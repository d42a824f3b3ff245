"""What every child manifest shares: labels, metadata, the Manifest type."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tierkeeper.models import ResolvedEnvironment

Manifest = dict[str, Any]

MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
COLOR = "tierkeeper.dev/color"
TIER = "tierkeeper.dev/tier"


class Component(StrEnum):
    APP = "app"
    POSTGRES = "postgres"
    REDIS = "redis"
    BACKUP = "backup"
    DRILL = "drill"
    OFFSITE = "offsite"


def selector(env: ResolvedEnvironment, component: Component) -> dict[str, str]:
    """Labels that select one component's pods; stable for the Environment's life."""
    return {INSTANCE: env.names.instance_label, COMPONENT: component.value}


def labels(env: ResolvedEnvironment, component: Component) -> dict[str, str]:
    """Labels every child of `component` carries."""
    return {MANAGED_BY: "tierkeeper", TIER: env.spec.tier.value, **selector(env, component)}


def metadata(
    env: ResolvedEnvironment,
    name: str,
    component: Component,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": env.namespace,
        "labels": {**labels(env, component), **(extra_labels or {})},
    }


def cronjob(
    env: ResolvedEnvironment,
    name: str,
    component: Component,
    *,
    schedule: str,
    suspend: bool,
    starting_deadline_seconds: int,
    job_template: dict[str, Any],
) -> Manifest:
    """A CronJob on `schedule` (UTC) whose runs never overlap: a long run delays the next
    rather than racing it. The last successful Job is kept, and three failed ones (their
    pods' logs say why)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(env, name, component),
        "spec": {
            "schedule": schedule,
            "timeZone": "UTC",
            "suspend": suspend,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": starting_deadline_seconds,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": job_template,
        },
    }


def value_env(name: str, value: object) -> dict[str, Any]:
    """An EnvVar with a literal value."""
    return {"name": name, "value": str(value)}


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    """An EnvVar read from a key of a Secret."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def claim_template(env: ResolvedEnvironment, component: Component, storage: str) -> dict[str, Any]:
    """A volumeClaimTemplate whose PVCs carry our labels, so deletion can find them.

    Written as the API server keeps it, with the defaults it fills in (apiVersion, kind,
    volumeMode, status.phase) and `storage` in its form (volume_size): the templates are
    one atomic field, and the live one holds what we apply only if it equals what we
    send, so that a converge over an unchanged StatefulSet sends nothing
    (apply/children.holds). A server that fills in more only costs that apply again."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "labels": labels(env, component)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage}},
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Pending"},
    }


def claim_retention(env: ResolvedEnvironment) -> dict[str, str]:
    """StatefulSet PVCs follow the Environment's deletionPolicy when the set is deleted."""
    return {"whenDeleted": env.spec.deletion_policy.value, "whenScaled": "Retain"}


def data_service(env: ResolvedEnvironment, component: Component, name: str, port: int) -> Manifest:
    """The Service in front of a data component's pods; the port is named after the component."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(env, name, component),
        "spec": {
            "selector": selector(env, component),
            "ports": [{"name": component.value, "port": port, "targetPort": component.value}],
        },
    }
