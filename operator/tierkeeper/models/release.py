"""The Release resource: the desired image of one Environment."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from tierkeeper.models.base import Model

ROLLBACK_ANNOTATION = "tierkeeper.dev/rollback"
# Stops a rollout in progress: traffic stays where it is, the new pods go.
ABORT_ANNOTATION = "tierkeeper.dev/abort"
# Tries a failed, aborted or rolled-back image again.
RETRY_ANNOTATION = "tierkeeper.dev/retry"


class Promotion(StrEnum):
    AUTO = "Auto"
    MANUAL = "Manual"


class Source(Model):
    """Where the image came from; `branch` is checked against the Environment's branch."""

    branch: str | None = Field(
        None,
        max_length=255,
        pattern=r"^[^\s]+$",
        description="Git branch the image was built from.",
    )
    commit: str | None = Field(
        None, max_length=64, pattern=r"^[0-9a-fA-F]{4,64}$", description="Git commit."
    )
    url: str | None = Field(
        None, max_length=2048, pattern=r"^https?://\S+$", description="Link to the change."
    )


class ReleaseSpec(Model):
    """Desired version of one Environment: changing `image` starts a rollout."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.image.size() > 0 && !self.image.matches('\\\\s')",
                    "message": "image must be a non-empty image reference without whitespace",
                },
            ]
        }
    )

    environment: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Name of the Environment (same namespace) this Release deploys to.",
    )
    image: str = Field(
        min_length=1,
        max_length=512,
        description="Container image, by tag or digest (e.g. ghcr.io/acme/shop:1.4.2).",
    )
    source: Source | None = Field(None, description="Optional provenance of the image.")
    promotion: Promotion = Field(
        Promotion.AUTO,
        description="Auto switches traffic after the health gate; Manual waits for `promote`.",
    )
    promote: bool = Field(
        False, description="Set true to promote a Manual release that is awaiting promotion."
    )
