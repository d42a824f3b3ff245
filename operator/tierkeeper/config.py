"""Operator settings, read once from the environment (TIERKEEPER_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tierkeeper.models.site import NO_DEFAULTS, Site, environment_defaults

DEFAULT_HEALTH_URL = "{scheme}://{service}.{namespace}.svc:{port}{path}"


@dataclass(frozen=True)
class OperatorConfig:
    """Operator-wide settings; one instance for the process's lifetime."""

    health_url_template: str = DEFAULT_HEALTH_URL
    health_scheme: str = "http"
    site: Site = field(default_factory=Site)

    @classmethod
    def from_environment(cls) -> OperatorConfig:
        return cls(
            health_url_template=os.environ.get("TIERKEEPER_HEALTH_URL", DEFAULT_HEALTH_URL),
            health_scheme=os.environ.get("TIERKEEPER_HEALTH_SCHEME", "http"),
            site=Site(
                ingress_namespace=os.environ.get("TIERKEEPER_INGRESS_NAMESPACE") or None,
                operator_namespace=os.environ.get("TIERKEEPER_OPERATOR_NAMESPACE") or None,
                route_host_template=os.environ.get("TIERKEEPER_ROUTE_HOST_TEMPLATE") or None,
                environment_defaults=_defaults(os.environ.get("TIERKEEPER_ENVIRONMENT_DEFAULTS")),
            ),
        )


def _defaults(path: str | None) -> Mapping[str, Any]:
    """The Environment defaults file (YAML, a part of an Environment's spec), checked: a
    file that cannot be honoured stops the operator at start-up, before it writes anything."""
    if not path:
        return NO_DEFAULTS
    document = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: Environment defaults must be a mapping (a part of a spec)")
    return environment_defaults(document)
