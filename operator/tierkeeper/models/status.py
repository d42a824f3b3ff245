"""Status of both kinds, following the Kubernetes API conventions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import Field
from pydantic.config import JsonDict

from tierkeeper.models.base import Model
from tierkeeper.models.endpoints import Endpoints
from tierkeeper.models.rollout import AppRollout

ConditionStatus = Literal["True", "False", "Unknown"]
# Status fields kopf writes; ours never touch them.
KOPF_FIELDS = {"kopf"}
KOPF_STATE: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}


class Condition(Model):
    """One observation of the resource's state (Kubernetes API conventions)."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="CamelCase reason for the last transition.",
    )
    message: str = Field("", max_length=32768, description="Human-readable details.")
    last_transition_time: datetime = Field(description="When the status last changed.")
    observed_generation: int | None = Field(
        None, ge=0, description="The .metadata.generation the condition was set for."
    )


CONDITIONS_SCHEMA: JsonDict = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


class MigrationPhase(StrEnum):
    """The steps of a database move from the builtin instance to CloudNativePG, in order."""

    CLONING = "Cloning"  # the Cluster copies the builtin instance and follows it as a replica
    PAUSING_WRITES = "PausingWrites"  # the builtin instance restarts read-only
    WAITING_FOR_CLUSTER = "WaitingForCluster"  # the Cluster is promoted; Ready is awaited
    SWITCHED = "Switched"  # DATABASE_URL names the Cluster; the builtin data is kept aside


class DatabaseMigration(Model):
    """A move of the database to another provider: where it is, and what it left behind."""

    phase: MigrationPhase = Field(
        description="Cloning, PausingWrites, WaitingForCluster, Switched."
    )
    retained: list[str] = Field(
        default_factory=list,
        description="The builtin instance's objects, kept (kind/name, in this namespace) "
        "for a person to delete once the new database is trusted.",
    )


class EnvironmentStatus(Model):
    """Observed state of an Environment."""

    observed_generation: int | None = Field(None, description="Last generation reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, AppReady, DatabaseReady, CacheReady, BackupsScheduled, Degraded; "
        "VolumesResized from the first change of a data volume's size.",
        json_schema_extra=CONDITIONS_SCHEMA,
    )
    active_color: str | None = Field(None, description="Colour receiving traffic (blue-green).")
    active_release: str | None = Field(None, description="Release bound to this Environment.")
    active_image: str | None = Field(None, description="Image receiving traffic.")
    endpoints: Endpoints | None = Field(None, description="Service DNS names.")
    estimated_monthly_cost_usd: float | None = Field(
        None, alias="estimatedMonthlyCostUSD", description="Estimated monthly cost in US dollars."
    )
    over_budget: bool | None = Field(None, description="Estimated cost exceeds spec.budget.")
    database_migration: DatabaseMigration | None = Field(
        None, description="The database's move from the builtin instance to CloudNativePG."
    )
    kopf: dict[str, object] | None = Field(
        None, description="Operator framework bookkeeping.", json_schema_extra=KOPF_STATE
    )


class Phase(StrEnum):
    """Where a Release's rollout is, for display; the machines read their own fields."""

    PENDING = "Pending"
    DEPLOYING = "Deploying"
    VERIFYING = "Verifying"
    AWAITING_PROMOTION = "AwaitingPromotion"
    PROMOTED = "Promoted"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"


class HistoryEntry(Model):
    """One rollout of this Release."""

    image: str = Field(max_length=512, description="Image rolled out.")
    color: str | None = Field(None, description="Colour it ran in (blue-green).")
    outcome: str = Field(max_length=64, description="Promoted, Failed or RolledBack.")
    started_at: datetime = Field(description="When the rollout started.")
    finished_at: datetime | None = Field(None, description="When it finished.")


class ReleaseStatus(Model):
    """Observed state of a Release."""

    observed_generation: int | None = Field(None, description="Last generation reconciled.")
    phase: Phase | None = Field(None, description="Rollout phase, for display.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing, Healthy.",
        json_schema_extra=CONDITIONS_SCHEMA,
    )
    active_color: str | None = Field(None, description="Colour receiving traffic.")
    preview_color: str | None = Field(None, description="Colour being rolled out.")
    active_image: str | None = Field(None, description="Image receiving traffic.")
    previous_image: str | None = Field(None, description="Image before this rollout.")
    standby_until: datetime | None = Field(
        None, description="Until when the previous colour is kept for instant rollback."
    )
    history: list[HistoryEntry] = Field(
        default_factory=list, max_length=10, description="The last 10 rollouts."
    )
    rollout: AppRollout | None = Field(
        None, description="The app's Deployments as this Release wants them (colours, images)."
    )
    target_image: str | None = Field(
        None, max_length=512, description="Image the current or last rollout brings."
    )
    step_started_at: datetime | None = Field(None, description="When the current step began.")
    switched_at: datetime | None = Field(
        None, description="When traffic was switched to the new colour (blue-green)."
    )
    refused_image: str | None = Field(
        None,
        max_length=512,
        description="Image rolled back from; not rolled out again until spec.image changes.",
    )
    kopf: dict[str, object] | None = Field(
        None, description="Operator framework bookkeeping.", json_schema_extra=KOPF_STATE
    )


S = TypeVar("S", bound=Model)


def parse_status(model: type[S], raw: Mapping[str, Any]) -> S:
    """A status as read from the cluster, without kopf's bookkeeping."""
    return model.model_validate({k: v for k, v in raw.items() if k not in KOPF_FIELDS})
