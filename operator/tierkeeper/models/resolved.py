"""`resolve()`: a user's Environment spec merged over its tier's defaults."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tierkeeper.models.endpoints import POSTGRES_PORT, REDIS_PORT, Endpoints
from tierkeeper.models.environment import (
    EXTERNAL_SERVICES,
    EnvironmentSpec,
    PostgresProvider,
    StrategyType,
)
from tierkeeper.models.names import ChildNames
from tierkeeper.models.tiers import TIER_DEFAULTS


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


def resolve_document(spec: Mapping[str, Any], *, name: str, namespace: str) -> ResolvedEnvironment:
    """`resolve()` of a spec as it comes from YAML or the API; every mistake is InvalidSpec."""
    try:
        parsed = EnvironmentSpec.model_validate(dict(spec))
    except ValidationError as error:
        raise InvalidSpec("InvalidSpec", str(error)) from error
    return resolve(parsed, name=name, namespace=namespace)


def resolve(spec: EnvironmentSpec, *, name: str, namespace: str) -> ResolvedEnvironment:
    """Tier defaults, then the explicit fields on top; explicit always wins, field by field."""
    explicit = explicit_fields(spec)
    merged = deep_merge(TIER_DEFAULTS[spec.tier], explicit)
    backup = merged["postgres"].setdefault("backup", {})
    explicit_backup = explicit.get("postgres", {}).get("backup", {})
    if backup.get("enabled") is False and "pitr" not in explicit_backup:
        # Turning backups off turns the tier's PITR off with them; asking for both is refused.
        backup["pitr"] = {"enabled": False}
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
    unknown = sorted(set(resolved.external) - set(EXTERNAL_SERVICES))
    if unknown:
        raise InvalidSpec(
            "UnknownExternalService",
            f"external service(s) {', '.join(unknown)} unknown; "
            f"known services are {', '.join(sorted(EXTERNAL_SERVICES))}",
        )
    return ResolvedEnvironment(name=name, namespace=namespace, spec=resolved)
