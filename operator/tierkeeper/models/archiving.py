"""What the resolved spec says of WAL archiving and the off-site copy: derivations the
renderers (what to run) and status (what to report, which alerts to arm) both read, so
that neither reaches into the other."""

from __future__ import annotations

import math

from tierkeeper.models.resolved import ResolvedEnvironment
from tierkeeper.models.units import duration_seconds


def archiving(env: ResolvedEnvironment) -> bool:
    """Builtin PostgreSQL archives WAL to the store (a base backup needs it, PITR or not)."""
    postgres = env.spec.postgres
    return (
        postgres.enabled
        and postgres.backup.enabled
        and postgres.backup.object_store is not None
        and not env.cloudnative_pg
    )


def cnpg_archiving(env: ResolvedEnvironment) -> bool:
    """A CloudNativePG Cluster archives WAL and base backups to the (primary) store."""
    postgres = env.spec.postgres
    return (
        postgres.enabled
        and env.cloudnative_pg
        and postgres.backup.enabled
        and postgres.backup.object_store is not None
    )


def mirrored(env: ResolvedEnvironment) -> bool:
    """A CloudNativePG Cluster archives to one store, and an off-site one is set: a CronJob
    copies the one into the other (render/offsite.py)."""
    return cnpg_archiving(env) and env.spec.postgres.backup.offsite_object_store is not None


def mirror_interval_seconds(env: ResolvedEnvironment) -> float:
    """Seconds between two copies: archive_timeout rounded up to whole minutes, at most an
    hour. The schedule and the OffsiteCopyMissing alert's allowance both come from it."""
    minutes = math.ceil(duration_seconds(env.spec.postgres.backup.pitr.archive_timeout) / 60)
    return 60.0 * min(minutes, 60)
