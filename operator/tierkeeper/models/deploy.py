"""Deploy on push: which repository and branch feed the Environment, and its image."""

from __future__ import annotations

from pydantic import Field

from tierkeeper.models.base import Model

IMAGE_PLACEHOLDERS = ("sha", "shortSha", "branch")
IMAGE_TEMPLATE_PATTERN = r"^([^{}\s]|\{(" + "|".join(IMAGE_PLACEHOLDERS) + r")\})+$"


class Deploy(Model):
    """Deploy on push: which repository's pushes and builds update this Environment's Release
    (`tierkeeper webhook`)."""

    repository: str = Field(
        max_length=200,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9]*/[-._A-Za-z0-9]+$",
        description="Git repository, as owner/name (e.g. acme/shop), whose events deploy here.",
    )
    image_template: str | None = Field(
        None,
        max_length=512,
        pattern=IMAGE_TEMPLATE_PATTERN,
        description="Image of a commit, for events that carry no image (workflow_run, push): "
        "{sha}, {shortSha} (7 characters) and {branch} (characters other than "
        "letters, digits, '.', '_' and '-' become '-') are filled in, e.g. "
        "ghcr.io/acme/shop:sha-{sha}.",
    )
    wait_for_ci: bool = Field(
        True,
        alias="waitForCI",
        description="Deploy only once a workflow run succeeded (workflow_run), a package was "
        "published or CI called; false also deploys on a push, at once.",
    )
