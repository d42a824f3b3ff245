"""Operator settings, read once from the environment (TIERKEEPER_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_HEALTH_URL = "{scheme}://{service}.{namespace}.svc:{port}{path}"


@dataclass(frozen=True)
class OperatorConfig:
    """Operator-wide settings; one instance for the process's lifetime."""

    health_url_template: str = DEFAULT_HEALTH_URL
    health_scheme: str = "http"

    @classmethod
    def from_environment(cls) -> OperatorConfig:
        return cls(
            health_url_template=os.environ.get("TIERKEEPER_HEALTH_URL", DEFAULT_HEALTH_URL),
            health_scheme=os.environ.get("TIERKEEPER_HEALTH_SCHEME", "http"),
        )
