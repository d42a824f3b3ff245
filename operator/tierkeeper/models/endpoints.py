"""Where an Environment's services answer, inside the cluster and from outside: shown in
its status."""

from __future__ import annotations

from pydantic import Field

from tierkeeper.models.base import Model

POSTGRES_PORT = 5432
REDIS_PORT = 6379


class Endpoints(Model):
    """In-cluster DNS names of the Environment's services, and the URLs of its routes."""

    url: str | None = Field(None, description="Public URL of the app (its route's first host).")
    urls: list[str] | None = Field(None, description="Public URLs of every host of the route.")
    preview_url: str | None = Field(
        None, description="URL of the preview colour while a blue-green rollout is in flight."
    )
    app: str | None = Field(None, description="Active app Service.")
    preview: str | None = Field(None, description="Preview Service (blue-green).")
    postgres: str | None = Field(None, description="PostgreSQL Service.")
    redis: str | None = Field(None, description="Redis Service.")
