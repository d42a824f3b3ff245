"""The floor of convergence: the children the operator would write, written by a bare script.

No operator, no watch, no check, no status: each Environment is created, then its
children are rendered by the operator's own renderers, given the owner reference the
operator gives them, and written with one server-side apply each (each password Secret,
PostgreSQL's and Redis's: one create) through the operator's own client class, `ApiClient` (the same connection pool):
every Environment at once, and each one's children at once, as the operator's reconciles
run. Whatever the operator takes beyond this is its own cost: watches, reconcile logic,
reads, repeated writes, status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import Any

from bench.harness import create_or_get, patiently
from tierkeeper import API_VERSION
from tierkeeper.apply.children import Owner, owned
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.models import resolve_document
from tierkeeper.models.rollout import AppRollout
from tierkeeper.reconcile.credentials import credential_secrets
from tierkeeper.render import render_children, wanted


def environment(name: str, namespace: str, spec: Mapping[str, Any]) -> Object:
    return {
        "apiVersion": API_VERSION,
        "kind": "Environment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def release(name: str, namespace: str, image: str) -> Object:
    return {
        "apiVersion": API_VERSION,
        "kind": "Release",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"environment": name, "image": image},
    }


async def write_children(kube: ApiClient, body: Object) -> None:
    """Everything one Environment's first full reconcile writes, without a Release."""
    meta = body["metadata"]
    env = resolve_document(body["spec"], name=meta["name"], namespace=meta["namespace"])
    owner = Owner(meta["name"], meta["uid"])
    writes = [
        patiently(partial(kube.apply, owned(m, owner)), "apply")
        for m in wanted(render_children(env, AppRollout()))
    ]
    for _, render in credential_secrets(env):
        if (secret := render(env, "floor-password")) is not None:
            writes.append(create_or_get(kube, owned(secret, owner)))
    await asyncio.gather(*writes)


async def floor(
    creator: ApiClient, writer: ApiClient, namespace: str, names: list[str], spec: Mapping[str, Any]
) -> None:
    """Create the Environments (with `creator`, as a user would) and write their children
    (with `writer`, in place of the operator), all at once."""

    async def one(name: str) -> None:
        created = await create_or_get(creator, environment(name, namespace, spec))
        await write_children(writer, created)

    await asyncio.gather(*(one(name) for name in names))
