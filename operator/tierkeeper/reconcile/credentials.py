"""The password Secrets (PostgreSQL's, Redis's): created once with a fresh password, never
rewritten.

Not plain children: server-side apply would write the rendered password over the live one
on every converge, and the database volume opens only with the first (and every running
app holds the password it started with).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from tierkeeper.apply.children import NamesTaken, Owner, held_elsewhere, owned
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import Conflict
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import RETAINED_FROM, LiveChildren
from tierkeeper.render.common import Manifest
from tierkeeper.render.postgres import render_credentials_secret
from tierkeeper.render.redis import render_redis_secret

SecretRenderer = Callable[[ResolvedEnvironment, str], Manifest | None]


def credential_secrets(env: ResolvedEnvironment) -> list[tuple[str, SecretRenderer]]:
    """(name, renderer) of each password Secret the Environment needs."""
    wanted: list[tuple[str, SecretRenderer]] = []
    if env.spec.postgres.enabled:
        wanted.append((env.names.postgres_credentials, render_credentials_secret))
    if env.spec.redis.enabled:
        wanted.append((env.names.redis_credentials, render_redis_secret))
    return wanted


async def ensure_credentials(
    kube: ApiClient, env: ResolvedEnvironment, owner: Owner, live: LiveChildren
) -> None:
    """Create each password Secret once, with a fresh password; never rewrite one.

    A Secret retained from an earlier Environment of the same name is adopted with its
    password, so the retained volume still opens. An Environment created before Redis
    had a password gains its Secret here, on its next reconcile.
    """
    for name, render in credential_secrets(env):
        # A Secret the watches know is ours, unless it was retained (and is to be adopted).
        known = live.get(("Secret", name))
        if known is None or known.retained:
            await _ensure_secret(kube, env, owner, name, render)


async def _ensure_secret(
    kube: ApiClient, env: ResolvedEnvironment, owner: Owner, name: str, render: SecretRenderer
) -> None:
    secret = render(env, secrets.token_urlsafe(24))
    if secret is None:
        return
    try:
        await kube.create(owned(secret, owner))
        return
    except Conflict:
        pass  # it exists: retained, ours already, or another's
    existing = await kube.get("v1", "Secret", env.namespace, name)
    if held := held_elsewhere(existing, owner):
        raise NamesTaken([held], met_by_write=True)
    labels = existing["metadata"].get("labels") or {}
    if RETAINED_FROM in labels:
        await kube.merge_patch(
            "v1",
            "Secret",
            env.namespace,
            name,
            {"metadata": {"ownerReferences": [owner.reference()], "labels": {RETAINED_FROM: None}}},
        )
