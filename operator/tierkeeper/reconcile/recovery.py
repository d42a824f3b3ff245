"""postgres.bootstrap.recovery: the source Environment is read for where its backups are,
and a bootstrap that could not apply is refused before anything is written.

The source must be in the same namespace (its credentials Secrets are referenced from
the new database's pods) and have an object store; the two databases must share a major
version (a data directory runs only on its own). A bootstrap applies only when the
database is created: adding or changing it on a live database is refused; removing it
is allowed once the builtin database is up (the restore is done, the source is not
needed), and at any time from a CloudNativePG Cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tierkeeper import API_VERSION
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.models import InvalidSpec, ResolvedEnvironment, resolve_document
from tierkeeper.models.child import LiveChildren
from tierkeeper.reconcile import CHANGE_NOT_ALLOWED
from tierkeeper.render.postgres import CNPG_API_VERSION
from tierkeeper.render.recovery import BOOTSTRAP_ANNOTATION, bootstrap_annotation, recovery
from tierkeeper.status.conditions import Observation, observe

RECOVERY_SOURCE_NOT_FOUND = "RecoverySourceNotFound"
RECOVERY_SOURCE_HAS_NO_STORE = "RecoverySourceHasNoStore"
RECOVERY_VERSION_MISMATCH = "RecoveryVersionMismatch"
RECOVERY_REFUSALS = frozenset(
    {RECOVERY_SOURCE_NOT_FOUND, RECOVERY_SOURCE_HAS_NO_STORE, RECOVERY_VERSION_MISMATCH}
)


async def with_recovery_source(
    kube: ApiClient, env: ResolvedEnvironment, defaults: Mapping[str, Any]
) -> tuple[ResolvedEnvironment, Observation | None]:
    """`env` with its recovery source read (one request), or the refusal saying why it
    cannot start from it. Without postgres.bootstrap, `env` as it is."""
    wanted = recovery(env)
    if wanted is None:
        return env, None
    name = wanted.source
    where = f"postgres.bootstrap.recovery.from {name}"
    if name == env.name:
        return env, _refuse(
            RECOVERY_SOURCE_NOT_FOUND,
            f"{where} is this Environment itself: name another Environment of namespace "
            f"{env.namespace} whose backups the database starts from",
        )
    try:
        body = await kube.get(API_VERSION, "Environment", env.namespace, name)
    except NotFound:
        return env, _refuse(
            RECOVERY_SOURCE_NOT_FOUND,
            f"{where}: no Environment {name} in namespace {env.namespace}; nothing was "
            "written. Name an Environment of this namespace that has "
            "postgres.backup.objectStore, or create it; if this database was restored "
            "already, remove postgres.bootstrap",
        )
    try:
        source = resolve_document(
            body.get("spec") or {}, name=name, namespace=env.namespace, defaults=defaults
        )
    except InvalidSpec as error:
        return env, _refuse(
            RECOVERY_SOURCE_HAS_NO_STORE,
            f"{where}: its spec is invalid ({error.reason}), so where its backups are is "
            "not known; nothing was written. Fix that Environment first",
        )
    backup = source.spec.postgres.backup
    if not (source.spec.postgres.enabled and backup.enabled and backup.object_store):
        return env, _refuse(
            RECOVERY_SOURCE_HAS_NO_STORE,
            f"{where}: Environment {name} backs up to no object store, so there are no "
            "base backups and WAL to start from; nothing was written. Set "
            f"postgres.backup.objectStore on {name} and wait for its first base backup",
        )
    if source.spec.postgres.version != env.spec.postgres.version:
        return env, _refuse(
            RECOVERY_VERSION_MISMATCH,
            f"{where}: its database is PostgreSQL {source.spec.postgres.version}, this one "
            f"{env.spec.postgres.version}, and a data directory runs only on its own major "
            f"version; nothing was written. Set postgres.version "
            f'"{source.spec.postgres.version}"',
        )
    return dataclasses.replace(env, recovery_source=source), None


async def bootstrap_change(
    kube: ApiClient, env: ResolvedEnvironment, live: LiveChildren
) -> Observation | None:
    """The refusal of a postgres.bootstrap change on a live database. One request (the
    database object, which records the bootstrap it was made with) when the spec has a
    bootstrap, or has none while the builtin database is not up; none otherwise."""
    if not env.spec.postgres.enabled:
        return None
    if bootstrap_annotation(env) is None:
        # Without one, the only refusal is a builtin restore cut short; CloudNativePG reads
        # its bootstrap only when it creates the cluster.
        if env.cloudnative_pg:
            return None
        database = live.get(("StatefulSet", env.names.postgres))
        if database is None or database.ready:
            return None
    api_version, kind = (
        (CNPG_API_VERSION, "Cluster") if env.cloudnative_pg else ("apps/v1", "StatefulSet")
    )
    try:
        body = await kube.get(api_version, kind, env.namespace, env.names.postgres)
    except NotFound:
        return None
    made_with = (body.get("metadata", {}).get("annotations") or {}).get(BOOTSTRAP_ANNOTATION)
    wanted = bootstrap_annotation(env)
    if made_with == wanted:
        return None
    if wanted is None:
        message = (
            f"postgres.bootstrap ({made_with}) cannot be removed while the database is "
            "not up: its restore may be under way, and without it the database would "
            "start empty. Remove it once the database is ready"
        )
    else:
        message = (
            f"postgres.bootstrap ({wanted}) applies only when the database is created, and "
            f"{kind} {env.names.postgres} holds one already"
            + (f" (made with {made_with})" if made_with else "")
            + ". To start from those backups, create a new Environment with it "
            "(`tierkeeper restore ENV --to-time T --into NEW`); or set postgres.bootstrap "
            "back"
        )
    return observe("Ready", False, CHANGE_NOT_ALLOWED, message)


def _refuse(reason: str, message: str) -> Observation:
    return observe("Ready", False, reason, message)
