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


class BaseBackupRecord(Model):
    """A base backup in the primary store."""

    id: str | None = Field(None, max_length=128, description="The backup's ID (barman-cloud).")
    time: datetime = Field(description="When it finished.")


class ArchivedWal(Model):
    """A WAL segment in the primary store."""

    segment: str | None = Field(
        None, max_length=64, description="The segment's file name (builtin PostgreSQL)."
    )
    time: datetime = Field(description="When the store received it.")


class DrillRecord(Model):
    """The last restore drill (the `<environment>-drill` ConfigMap)."""

    finished_at: datetime = Field(description="When it finished.")
    result: Literal["Passed", "Failed"] = Field(description="Passed or Failed.")
    rto_seconds: float | None = Field(None, ge=0, description="Seconds the restore took.")
    message: str = Field("", max_length=1024, description="What it found.")


class BackupStatus(Model):
    """How recoverable the database is, as the primary store (or CloudNativePG) shows it.

    Written only when one of the figures changes: rpoSeconds is measured then, and
    the metrics carry the live age of the last archived WAL."""

    last_base_backup: BaseBackupRecord | None = Field(None, description="Newest base backup.")
    last_archived_wal: ArchivedWal | None = Field(None, description="Newest archived WAL.")
    first_recoverability_point: datetime | None = Field(
        None, description="The earliest time a restore can reach."
    )
    last_recoverability_point: datetime | None = Field(
        None, description="The latest time a restore can reach."
    )
    rpo_seconds: float | None = Field(
        None,
        ge=0,
        description="Seconds between the last archived WAL and this status's write: the "
        "data a lost volume would have taken with it then.",
    )
    last_drill: DrillRecord | None = Field(None, description="The last restore drill.")


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
        "VolumesResized from the first change of a data volume's size; WALArchiving and "
        "BaseBackup where backups go to an object store (not part of Ready).",
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
    backup: BackupStatus | None = Field(
        None, description="Backups in the object store and the last restore drill."
    )
    database_migration: DatabaseMigration | None = Field(
        None, description="The database's move from the builtin instance to CloudNativePG."
    )
    kopf: dict[str, object] | None = Field(
        None, description="Operator framework bookkeeping.", json_schema_extra=KOPF_STATE
    )


class Phase(StrEnum):
    """Where a Release's rollout is, for display; the machines read their own fields."""

    PENDING = "Pending"
    BACKING_UP = "BackingUp"
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


class BackupOutcome(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class PreSwitchBackup(Model):
    """The base backup a blue-green rollout takes before it deploys its new image."""

    image: str = Field(max_length=512, description="Image whose rollout waits for it.")
    attempt: int = Field(1, ge=1, description="Backups taken for this image so far.")
    kind: str = Field(max_length=64, description="Job, or a CloudNativePG Backup.")
    name: str = Field(max_length=253, description="The Job's or Backup's name.")
    outcome: BackupOutcome = Field(description="Running, Succeeded or Failed.")
    message: str = Field("", max_length=4096, description="Why it failed, or what it took.")
    started_at: datetime = Field(description="When it was asked for.")
    finished_at: datetime | None = Field(None, description="When it succeeded or failed.")


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
        None,
        description="When the active Service moved in the current rollout: to the new colour "
        "or back to the standby (blue-green), or to the new shape in a change of strategy; "
        "unset until that rollout's switch.",
    )
    refused_image: str | None = Field(
        None,
        max_length=512,
        description="Image rolled back from; not rolled out again until spec.image changes.",
    )
    pre_switch_backup: PreSwitchBackup | None = Field(
        None,
        description="The last base backup taken before a switch "
        "(strategy.blueGreen.backupBeforeSwitch).",
    )
    kopf: dict[str, object] | None = Field(
        None, description="Operator framework bookkeeping.", json_schema_extra=KOPF_STATE
    )


S = TypeVar("S", bound=Model)


def parse_status(model: type[S], raw: Mapping[str, Any]) -> S:
    """A status as read from the cluster, without kopf's bookkeeping."""
    return model.model_validate({k: v for k, v in raw.items() if k not in KOPF_FIELDS})
