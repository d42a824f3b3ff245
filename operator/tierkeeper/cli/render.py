"""`tierkeeper render FILE`: every child the Environments in FILE would get, offline."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tierkeeper.config import OperatorConfig
from tierkeeper.models import InvalidSpec, ReleaseSpec, resolve_document
from tierkeeper.models.rollout import AppRollout
from tierkeeper.reconcile.credentials import credential_secrets
from tierkeeper.render import render_children, wanted
from tierkeeper.render.common import Manifest

PASSWORD_PLACEHOLDER = "generated-once-by-the-operator"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("render", help="print the children of the Environments in FILE")
    parser.add_argument("file", type=Path, help="YAML with Environments (and Releases)")
    parser.set_defaults(func=run)


def render_documents(documents: Iterable[dict[str, Any]]) -> list[Manifest]:
    """Children of each Environment; a Release for it in the same documents sets the image.
    The operator's Environment defaults apply as they would in the cluster
    (TIERKEEPER_ENVIRONMENT_DEFAULTS)."""
    defaults = OperatorConfig.from_environment().site.environment_defaults
    documents = [d for d in documents if d]
    images = {
        (_namespace(d), ReleaseSpec.model_validate(d["spec"]).environment): d["spec"]["image"]
        for d in documents
        if d.get("kind") == "Release"
    }
    environments = {
        (_namespace(d), d["metadata"]["name"]): resolve_document(
            d["spec"], name=d["metadata"]["name"], namespace=_namespace(d), defaults=defaults
        )
        for d in documents
        if d.get("kind") == "Environment"
    }
    manifests: list[Manifest] = []
    for (namespace, name), env in environments.items():
        if (bootstrap := env.spec.postgres.bootstrap) is not None:
            # Its source's stores, when the source is among the documents too.
            source = environments.get((namespace, bootstrap.recovery.source))
            env = dataclasses.replace(env, recovery_source=source)
        image = images.get((namespace, name))
        rollout = AppRollout() if image is None else AppRollout.first(env, image)
        manifests += wanted(render_children(env, rollout))
        for _, render_secret in credential_secrets(env):
            secret = render_secret(env, PASSWORD_PLACEHOLDER)
            manifests += [secret] if secret else []
    return manifests


def _namespace(document: dict[str, Any]) -> str:
    namespace: str = document.get("metadata", {}).get("namespace", "default")
    return namespace


def run(args: argparse.Namespace) -> int:
    with args.file.open() as stream:
        documents = list(yaml.safe_load_all(stream))
    try:
        manifests = render_documents(documents)
    except (InvalidSpec, ValueError) as error:
        print(f"tierkeeper render: {args.file}: {error}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(manifests, sys.stdout, sort_keys=False, width=100)
    return 0
