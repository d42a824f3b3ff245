"""`resolve()`: a user's Environment spec merged over its tier's defaults."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tierkeeper.models.backup import Backup
from tierkeeper.models.endpoints import POSTGRES_PORT, REDIS_PORT, Endpoints
from tierkeeper.models.environment import (
    EXTERNAL_SERVICES,
    EnvironmentSpec,
    PostgresProvider,
    StrategyType,
    Tier,
)
from tierkeeper.models.names import ChildNames
from tierkeeper.models.site import NO_DEFAULTS, defaults_for
from tierkeeper.models.tiers import TIER_DEFAULTS
from tierkeeper.models.units import duration_seconds


class InvalidSpec(ValueError):
    """A spec that admission should have refused, or that only makes sense after resolving."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ResolvedEnvironment:
    """An Environment with every setting decided: what renderers and handlers work from."""

    name: str
    namespace: str
    spec: EnvironmentSpec
    # The Environment that postgres.bootstrap.recovery starts from, as the reconcile read
    # it: where its backups are. None when there is no recovery, or before it is read.
    recovery_source: ResolvedEnvironment | None = None

    @property
    def names(self) -> ChildNames:
        return ChildNames(self.name)

    @property
    def blue_green(self) -> bool:
        return self.spec.strategy.type is StrategyType.BLUE_GREEN

    @property
    def cloudnative_pg(self) -> bool:
        return self.spec.postgres.provider is PostgresProvider.CLOUDNATIVE_PG

    @property
    def postgres_host(self) -> str:
        """The database's Service: ours, or the read-write one CloudNativePG makes."""
        names = self.names
        return names.postgres_cnpg_rw_service if self.cloudnative_pg else names.postgres

    @property
    def endpoints(self) -> Endpoints:
        """In-cluster addresses of the services this Environment has."""
        names, spec = self.names, self.spec
        domain = f"{self.namespace}.svc"
        port = spec.app.port
        return Endpoints(
            app=f"{names.app_service}.{domain}:{port}",
            preview=f"{names.preview_service}.{domain}:{port}" if self.blue_green else None,
            postgres=f"{self.postgres_host}.{domain}:{POSTGRES_PORT}"
            if spec.postgres.enabled
            else None,
            redis=f"{names.redis}.{domain}:{REDIS_PORT}" if spec.redis.enabled else None,
        )


def deep_merge(base: Any, override: Any) -> Any:
    """`override` over `base`, mapping by mapping; anything else in `override` replaces."""
    if isinstance(override, dict):
        merged = copy.deepcopy(base) if isinstance(base, dict) else {}
        for key, value in override.items():
            merged[key] = deep_merge(merged.get(key), value)
        return merged
    return copy.deepcopy(override)


def explicit_fields(spec: EnvironmentSpec) -> dict[str, Any]:
    """What the user wrote, in wire form, without any default."""
    return spec.model_dump(by_alias=True, exclude_unset=True, mode="json")


def resolve_document(
    spec: Mapping[str, Any],
    *,
    name: str,
    namespace: str,
    defaults: Mapping[str, Any] = NO_DEFAULTS,
) -> ResolvedEnvironment:
    """`resolve()` of a spec as it comes from YAML or the API; every mistake is InvalidSpec."""
    try:
        parsed = EnvironmentSpec.model_validate(dict(spec))
    except ValidationError as error:
        raise InvalidSpec("InvalidSpec", str(error)) from error
    return resolve(parsed, name=name, namespace=namespace, defaults=defaults)


def resolve(
    spec: EnvironmentSpec,
    *,
    name: str,
    namespace: str,
    defaults: Mapping[str, Any] = NO_DEFAULTS,
) -> ResolvedEnvironment:
    """Tier defaults, then the operator's `defaults` (models/site.py), then the explicit
    fields on top; explicit always wins, field by field."""
    explicit = explicit_fields(spec)
    site = defaults_for(defaults, explicit, namespace) if defaults else {}
    merged = deep_merge(deep_merge(TIER_DEFAULTS[spec.tier], site), explicit)
    backup = merged["postgres"].setdefault("backup", {})
    explicit_backup = explicit.get("postgres", {}).get("backup", {})
    if backup.get("enabled") is False and "pitr" not in explicit_backup:
        # Turning backups off turns the tier's PITR off with them; asking for both is refused.
        backup["pitr"] = {"enabled": False}
    if not backup.get("objectStore") and "enabled" not in explicit_backup.get("pitr", {}):
        # The tier's PITR needs a store to archive WAL into; without one it would be
        # a setting that does nothing, so only an explicit `enabled: true` asks for
        # it (and is refused below, with what to set).
        backup.setdefault("pitr", {})["enabled"] = False
    try:
        resolved = EnvironmentSpec.model_validate(merged)
    except ValidationError as error:
        raise InvalidSpec("InvalidSpec", str(error)) from error
    postgres = resolved.postgres
    if postgres.instances > 1 and postgres.provider is not PostgresProvider.CLOUDNATIVE_PG:
        raise InvalidSpec(
            "HARequiresCloudNativePG",
            "postgres.instances > 1 (HA) needs provider cloudnative-pg; "
            "set postgres.provider: cloudnative-pg or postgres.instances: 1",
        )
    if postgres.backup.pitr.enabled and not postgres.backup.enabled:
        raise InvalidSpec(
            "PITRRequiresBackups",
            "postgres.backup.pitr needs backups enabled; "
            "set postgres.backup.enabled: true or postgres.backup.pitr.enabled: false",
        )
    _check_object_store(postgres.backup, resolved.tier)
    unknown = sorted(set(resolved.external) - set(EXTERNAL_SERVICES))
    if unknown:
        raise InvalidSpec(
            "UnknownExternalService",
            f"external service(s) {', '.join(unknown)} unknown; "
            f"known services are {', '.join(sorted(EXTERNAL_SERVICES))}",
        )
    return ResolvedEnvironment(name=name, namespace=namespace, spec=resolved)


# Production's RPO is 15 minutes; archiving at least every 5 keeps it with margin.
PRODUCTION_MAX_ARCHIVE_TIMEOUT_S = 300


def _check_object_store(backup: Backup, tier: Tier) -> None:
    if backup.pitr.enabled and backup.object_store is None:
        raise InvalidSpec(
            "ObjectStoreRequired",
            "postgres.backup.pitr needs somewhere to archive WAL: set "
            "postgres.backup.objectStore (bucket and credentials Secret), or "
            "postgres.backup.pitr.enabled: false",
        )
    if backup.offsite_object_store is not None and backup.object_store is None:
        raise InvalidSpec(
            "ObjectStoreRequired",
            "postgres.backup.offsiteObjectStore is a second copy of "
            "postgres.backup.objectStore: set objectStore too",
        )
    timeout = duration_seconds(backup.pitr.archive_timeout)
    if not 1 <= timeout <= 3600:
        raise InvalidSpec(
            "InvalidArchiveTimeout",
            "postgres.backup.pitr.archiveTimeout must be between 1s and 1h",
        )
    if tier is Tier.PRODUCTION and timeout > PRODUCTION_MAX_ARCHIVE_TIMEOUT_S:
        raise InvalidSpec(
            "ArchiveTimeoutOverRPO",
            f"postgres.backup.pitr.archiveTimeout {backup.pitr.archive_timeout} would let "
            "production lose more than its 15-minute RPO allows with margin: set it to 5m "
            "or less",
        )
