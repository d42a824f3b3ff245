"""Operator settings, read once from the environment (TIERKEEPER_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tierkeeper.models.site import Site

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
            ),
        )
