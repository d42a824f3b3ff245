"""Which Releases a change deploys, and to which image: the Environments whose
`deploy.repository` and branch (explicit, or the tier's) are the change's, each through the
Release bound to it. Pure: it works on the objects as listed from the API server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tierkeeper.models.resolved import InvalidSpec, resolve_document
from tierkeeper.webhook.events import Change

Object = Mapping[str, Any]

_NOT_IN_TAG = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Target:
    """One Release to move to `image`."""

    namespace: str
    environment: str
    release: str
    release_uid: str
    image: str


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    # Some Environment deploys the repository (whatever the branch): an event of a
    # repository nobody deploys is a misconfigured hook, not a push to another branch.
    repository_known: bool
    # "namespace/environment: why", for Environments of the repository left alone.
    passed_over: tuple[str, ...]


def image_for(template: str, change: Change) -> str | None:
    """`deploy.imageTemplate` filled in; None when it needs the commit and there is none."""
    if change.commit is None and ("{sha}" in template or "{shortSha}" in template):
        return None
    commit = change.commit or ""
    return (
        template.replace("{sha}", commit)
        .replace("{shortSha}", commit[:7])
        .replace("{branch}", _NOT_IN_TAG.sub("-", change.branch))
    )


def bound_release(releases: Iterable[Object], namespace: str, environment: str) -> Object | None:
    """The oldest Release naming the Environment binds it, as the operator decides
    (handlers/state.py): creation time, then the one already deploying, then the name."""
    naming = [
        r
        for r in releases
        if r["metadata"].get("namespace") == namespace
        and (r.get("spec") or {}).get("environment") == environment
    ]
    naming.sort(
        key=lambda r: (
            r["metadata"].get("creationTimestamp") or "",
            "rollout" not in (r.get("status") or {}),
            r["metadata"]["name"],
        )
    )
    return naming[0] if naming else None


def plan(change: Change, environments: Iterable[Object], releases: Iterable[Object]) -> Plan:
    releases = list(releases)
    targets: list[Target] = []
    passed_over: list[str] = []
    known = False
    for env in environments:
        meta, spec = env["metadata"], env.get("spec") or {}
        deploy = spec.get("deploy") or {}
        repository = deploy.get("repository")
        if not isinstance(repository, str) or repository.lower() != change.repository.lower():
            continue
        known = True
        namespace, name = meta["namespace"], meta["name"]
        where = f"{namespace}/{name}"
        try:
            branch = resolve_document(spec, name=name, namespace=namespace).spec.branch
        except InvalidSpec:
            passed_over.append(f"{where}: its spec is invalid")
            continue
        if branch != change.branch:
            continue
        if change.before_ci and deploy.get("waitForCI", True):
            passed_over.append(f"{where}: waits for CI")
            continue
        template = deploy.get("imageTemplate")
        image = change.image or (image_for(template, change) if template else None)
        if image is None:
            passed_over.append(f"{where}: no image (set deploy.imageTemplate)")
            continue
        release = bound_release(releases, namespace, name)
        if release is None:
            passed_over.append(f"{where}: no Release deploys it yet")
            continue
        targets.append(
            Target(
                namespace=namespace,
                environment=name,
                release=release["metadata"]["name"],
                release_uid=release["metadata"].get("uid", ""),
                image=image,
            )
        )
    return Plan(tuple(targets), known, tuple(passed_over))
