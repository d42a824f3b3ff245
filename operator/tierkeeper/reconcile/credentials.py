"""The database credentials Secret: created once with a fresh password, never rewritten.

Not a plain child: server-side apply would write the rendered password over the live one
on every converge, and the database volume opens only with the first.
"""

from __future__ import annotations

import secrets

from tierkeeper.apply.children import Owner, owned
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import RETAINED_FROM, LiveChildren
from tierkeeper.render.postgres import render_credentials_secret


async def ensure_credentials(
    kube: ApiClient, env: ResolvedEnvironment, owner: Owner, live: LiveChildren
) -> None:
    """Create the credentials Secret once, with a fresh password; never rewrite it.

    A Secret retained from an earlier Environment of the same name is adopted with its
    password, so the retained database volume still opens.
    """
    name = env.names.postgres_credentials
    known = live.get(("Secret", name))
    if not env.spec.postgres.enabled or (known is not None and not known.retained):
        return
    try:
        existing = await kube.get("v1", "Secret", env.namespace, name)
    except NotFound:
        secret = render_credentials_secret(env, secrets.token_urlsafe(24))
        if secret is not None:
            await kube.create(owned(secret, owner))
        return
    labels = existing["metadata"].get("labels") or {}
    if RETAINED_FROM in labels:
        await kube.merge_patch(
            "v1",
            "Secret",
            env.namespace,
            name,
            {"metadata": {"ownerReferences": [owner.reference()], "labels": {RETAINED_FROM: None}}},
        )
