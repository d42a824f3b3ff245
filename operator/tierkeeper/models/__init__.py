"""Pydantic models of the custom resources and their resolved form."""

from tierkeeper.models.environment import (
    DeletionPolicy,
    EnvironmentSpec,
    Persistence,
    PostgresProvider,
    StrategyType,
    Tier,
)
from tierkeeper.models.release import Promotion, ReleaseSpec
from tierkeeper.models.resolved import InvalidSpec, ResolvedEnvironment, resolve, resolve_document
from tierkeeper.models.status import Condition, EnvironmentStatus, Phase, ReleaseStatus

__all__ = [
    "Condition",
    "DeletionPolicy",
    "EnvironmentSpec",
    "EnvironmentStatus",
    "InvalidSpec",
    "Persistence",
    "Phase",
    "PostgresProvider",
    "Promotion",
    "ReleaseSpec",
    "ReleaseStatus",
    "ResolvedEnvironment",
    "StrategyType",
    "Tier",
    "resolve",
    "resolve_document",
]
