"""Shared helpers of the unit tests: build resolved Environments, find children."""

from __future__ import annotations

from typing import Any

from tierkeeper.models import EnvironmentSpec, ResolvedEnvironment, resolve
from tierkeeper.render.common import Manifest


def env_of(
    spec: dict[str, Any], name: str = "shop", namespace: str = "team"
) -> ResolvedEnvironment:
    return resolve(EnvironmentSpec.model_validate(spec), name=name, namespace=namespace)


def container(manifest: Manifest) -> dict[str, Any]:
    spec = manifest["spec"]
    pod = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]
    first: dict[str, Any] = pod["containers"][0]
    return first


def env_vars(manifest: Manifest) -> dict[str, Any]:
    return {
        var["name"]: var.get("value", var.get("valueFrom")) for var in container(manifest)["env"]
    }
