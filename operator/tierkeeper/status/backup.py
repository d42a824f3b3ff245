"""status.backup and the WALArchiving and BaseBackup conditions of an Environment whose
backups go to an object store.

The figures come from the primary store's listing (builtin PostgreSQL), or from the
CloudNativePG Cluster's status, and from the drill's ConfigMap. Neither condition is part
of Ready: the app serves while archiving stalls. The status changes only when a figure
does or a condition turns; the age of the figures is the metrics' business. The off-site
copy of a CloudNativePG database shows in the metrics only (`backup_figures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from tierkeeper.backup.store_listing import StoreListing, StoreReading, StoreUnreachable
from tierkeeper.metrics import BackupFigures, schedule_interval_seconds
from tierkeeper.models import EnvironmentStatus, ResolvedEnvironment
from tierkeeper.models.archiving import mirror_interval_seconds, mirrored
from tierkeeper.models.child import BackupFacts, ChildSummary, LiveChildren
from tierkeeper.models.environment import Tier
from tierkeeper.models.status import ArchivedWal, BackupStatus, BaseBackupRecord, DrillRecord
from tierkeeper.models.units import duration_seconds
from tierkeeper.status.conditions import Observation, find

WAL_ARCHIVING = "WALArchiving"
BASE_BACKUP = "BaseBackup"
BACKUP_CONDITIONS = (WAL_ARCHIVING, BASE_BACKUP)
# Reasons of a look that is not (yet) a fault: worth a Normal Event.
BACKUPS_ON_THE_WAY = frozenset(
    {
        "Archiving",
        "BaseBackupTaken",
        "WaitingForFirstSegment",
        "WaitingForFirstBaseBackup",
        "DatabaseNotReady",
        "WaitingForCloudNativePG",
    }
)
# The contract's production promise (SPEC: RPO <= 5 min in production); other tiers that
# archive get three times their archive_timeout, an upload's margin over the most a lost
# volume can take.
PRODUCTION_RPO_TARGET_S = 300.0
RPO_MARGIN = 3


def store_configured(env: ResolvedEnvironment) -> bool:
    postgres = env.spec.postgres
    return postgres.enabled and postgres.backup.enabled and postgres.backup.object_store is not None


def drill_configmap(env: ResolvedEnvironment) -> str:
    """The ConfigMap the drill writes its result into."""
    return env.names.drill_result


def rpo_target_seconds(env: ResolvedEnvironment) -> float | None:
    """The tier's RPO target, for an Environment that archives WAL continuously."""
    pitr = env.spec.postgres.backup.pitr
    if not (store_configured(env) and pitr.enabled):
        return None
    if env.spec.tier is Tier.PRODUCTION:
        return PRODUCTION_RPO_TARGET_S
    return RPO_MARGIN * float(duration_seconds(pitr.archive_timeout))


def stall_seconds(env: ResolvedEnvironment) -> float | None:
    """How old the newest archived segment may grow while the database is up: twice
    archive_timeout. None without PITR: WAL then leaves only as segments fill."""
    pitr = env.spec.postgres.backup.pitr
    return 2.0 * duration_seconds(pitr.archive_timeout) if pitr.enabled else None


def base_backup_allowance(env: ResolvedEnvironment) -> float:
    """How old the newest base backup may grow: the schedule's interval, plus half of it
    and ten minutes of grace (the BackupMissing alert's allowance)."""
    interval = schedule_interval_seconds(env.spec.postgres.backup.schedule)
    return 1.5 * interval + 600


def base_backup_due(
    env: ResolvedEnvironment, status: EnvironmentStatus, *, now: datetime
) -> float | None:
    """Seconds until BaseBackup turns False by age alone (None: it is False already, or
    not shown): from the newest base backup, or from when the first one was awaited."""
    shown = find(status.conditions, BASE_BACKUP)
    if shown is None or shown.status == "False":
        return None
    last = status.backup.last_base_backup if status.backup else None
    since = last.time if last else shown.last_transition_time
    deadline = since + timedelta(seconds=base_backup_allowance(env) + 1)
    return max(0.0, (deadline - now).total_seconds())


@dataclass(frozen=True)
class BackupInputs:
    """What the backup figures are taken from. `store` is the last look at the primary
    store (builtin PostgreSQL): None before the first one."""

    store: StoreReading | None = None
    database_up: bool = False


@dataclass(frozen=True)
class BackupView:
    status: BackupStatus | None
    conditions: list[Observation]


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _ago(now: datetime, then: datetime) -> str:
    seconds = int((now - then).total_seconds())
    return f"{seconds // 60} min ago" if seconds >= 120 else f"{seconds} s ago"


def _drill(children: LiveChildren, env: ResolvedEnvironment) -> DrillRecord | None:
    summary = children.get(("ConfigMap", drill_configmap(env)))
    facts = summary.backup if summary else None
    if facts is None or facts.finished_at is None:
        return None
    try:
        return DrillRecord.model_validate(
            {
                "finishedAt": facts.finished_at,
                "result": facts.result,
                "rtoSeconds": facts.rto_seconds or None,
                "message": facts.message or "",
            }
        )
    except ValidationError:
        # Not the drill's contract (another writer's ConfigMap of that name): no drill.
        return None


def _figures_builtin(
    listing: StoreListing, previous: BackupStatus | None, now: datetime
) -> BackupStatus:
    wal = (
        ArchivedWal(segment=listing.last_wal, time=listing.last_wal_time)
        if listing.last_wal_time
        else None
    )
    last = listing.last_backup
    was = previous or BackupStatus()
    same_wal = was.last_archived_wal == wal
    last_point = max(
        (t for t in (wal.time if wal else None, last.end_time if last else None) if t),
        default=None,
    )
    return BackupStatus(
        last_base_backup=BaseBackupRecord(id=last.id, time=last.end_time) if last else None,
        last_archived_wal=wal,
        first_recoverability_point=listing.first_backup.end_time if listing.first_backup else None,
        last_recoverability_point=last_point,
        # Measured when a new segment is seen, kept until the next one: status is not
        # rewritten as the segment ages.
        rpo_seconds=was.rpo_seconds
        if same_wal
        else (max(0.0, (now - wal.time).total_seconds()) if wal else None),
    )


def _archiving_builtin(
    env: ResolvedEnvironment,
    inputs: BackupInputs,
    figures: BackupStatus,
    previous: EnvironmentStatus,
    now: datetime,
) -> Observation:
    store = env.spec.postgres.backup.object_store
    where = store.destination if store else "the primary store"
    if isinstance(inputs.store, StoreUnreachable):
        secret = store.credentials.access_key_id.name if store else ""
        return Observation(
            WAL_ARCHIVING,
            "False",
            "StoreUnreachable",
            f"the operator cannot list {where}: {inputs.store}. PostgreSQL keeps the WAL it "
            f"cannot archive on its volume; check the store's endpoint, the bucket and the "
            f"credentials in Secret {secret}",
        )
    wal = figures.last_archived_wal
    limit = stall_seconds(env)
    if wal is None:
        if not inputs.database_up:
            return Observation(
                WAL_ARCHIVING, "Unknown", "DatabaseNotReady", "the database is not ready yet"
            )
        waited = find(previous.conditions, WAL_ARCHIVING)
        grace = timedelta(seconds=limit or 600)
        if waited is None or (
            waited.status != "False" and now - waited.last_transition_time < grace
        ):
            return Observation(
                WAL_ARCHIVING,
                "Unknown",
                "WaitingForFirstSegment",
                f"no WAL segment in {where} yet",
            )
        return Observation(
            WAL_ARCHIVING,
            "False",
            "NoSegmentArchived",
            f"no WAL segment has reached {where}: see the archive-wal errors in the log of "
            f"the postgres container of pod {env.names.postgres}-0, and check the store and "
            "its credentials",
        )
    said = f"segment {wal.segment} reached {where} at {wal.time.isoformat()}"
    if limit is not None and (now - wal.time).total_seconds() > limit:
        if not inputs.database_up:
            return Observation(
                WAL_ARCHIVING,
                "Unknown",
                "DatabaseNotReady",
                f"the database is not ready, so it writes no WAL; the last {said}",
            )
        return Observation(
            WAL_ARCHIVING,
            "False",
            "ArchivingStalled",
            f"the newest {said} ({_ago(now, wal.time)}), more than twice archiveTimeout "
            f"({env.spec.postgres.backup.pitr.archive_timeout}): see the archive-wal errors in "
            f"the log of the postgres container of pod {env.names.postgres}-0, and check the "
            "store and its credentials",
        )
    return Observation(WAL_ARCHIVING, "True", "Archiving", said)


def _base_backup(
    env: ResolvedEnvironment,
    last: datetime | None,
    backup_id: str | None,
    previous: EnvironmentStatus,
    now: datetime,
) -> Observation:
    allowance = base_backup_allowance(env)
    schedule = env.spec.postgres.backup.schedule
    where = "the log of the base-backup container of pod " + f"{env.names.postgres}-0"
    if env.cloudnative_pg:
        where = f"the Backups of Cluster {env.names.postgres} (kubectl get backups)"
    if last is None:
        waited = find(previous.conditions, BASE_BACKUP)
        if waited is None or (
            waited.status != "False"
            and (now - waited.last_transition_time).total_seconds() < allowance
        ):
            return Observation(
                BASE_BACKUP,
                "Unknown",
                "WaitingForFirstBaseBackup",
                f"no base backup yet; the schedule is {schedule} UTC",
            )
        return Observation(
            BASE_BACKUP,
            "False",
            "BaseBackupMissed",
            f"no base backup has been taken on schedule {schedule} UTC: see {where}",
        )
    named = f"base backup {backup_id}" if backup_id else "the last base backup"
    if (now - last).total_seconds() > allowance:
        return Observation(
            BASE_BACKUP,
            "False",
            "BaseBackupMissed",
            f"{named} finished {_ago(now, last)}, more than the schedule {schedule} UTC "
            f"allows: see {where}",
        )
    return Observation(
        BASE_BACKUP, "True", "BaseBackupTaken", f"{named} finished at {last.isoformat()}"
    )


def _cloudnative_pg(
    env: ResolvedEnvironment,
    cluster: ChildSummary | None,
    previous: EnvironmentStatus,
    now: datetime,
) -> tuple[BackupStatus, list[Observation]]:
    facts = (cluster.backup if cluster else None) or BackupFacts()
    last = _time(facts.last_backup)
    first = _time(facts.first_recoverability_point)
    figures = BackupStatus(
        last_base_backup=BaseBackupRecord(time=last) if last else None,
        first_recoverability_point=first,
    )
    archiving = facts.archiving
    if archiving is None:
        wal = Observation(
            WAL_ARCHIVING,
            "Unknown",
            "WaitingForCloudNativePG",
            f"Cluster {env.names.postgres} reports no ContinuousArchiving condition yet",
        )
    elif archiving == "True":
        wal = Observation(WAL_ARCHIVING, "True", "Archiving", "CloudNativePG archives WAL")
    else:
        wal = Observation(
            WAL_ARCHIVING,
            "False",
            "ArchivingFailing",
            f"Cluster {env.names.postgres} cannot archive WAL (its ContinuousArchiving "
            f"condition is False): kubectl describe cluster {env.names.postgres}",
        )
    return figures, [wal, _base_backup(env, last, None, previous, now)]


def backup_view(
    env: ResolvedEnvironment,
    children: LiveChildren,
    inputs: BackupInputs,
    previous: EnvironmentStatus,
    *,
    now: datetime,
) -> BackupView:
    drill = _drill(children, env)
    if not store_configured(env):
        status = BackupStatus(last_drill=drill) if drill else None
        return BackupView(status, [])
    before = previous.backup
    if env.cloudnative_pg:
        cluster = children.get(("Cluster", env.names.postgres))
        figures, conditions = _cloudnative_pg(env, cluster, previous, now)
    elif inputs.store is None:
        # Not looked at since the operator started: what the status said stands.
        kept = [
            Observation(c.type, c.status, c.reason, c.message)
            for c in previous.conditions
            if c.type in BACKUP_CONDITIONS
        ]
        figures = before or BackupStatus()
        return BackupView(figures.model_copy(update={"last_drill": drill}), kept)
    else:
        listing = inputs.store if isinstance(inputs.store, StoreListing) else None
        # An unreachable store: its last figures stand, and are judged as they age.
        figures = _figures_builtin(listing, before, now) if listing else before or BackupStatus()
        last = figures.last_base_backup
        conditions = [
            _archiving_builtin(env, inputs, figures, previous, now),
            _base_backup(
                env, last.time if last else None, last.id if last else None, previous, now
            ),
        ]
    return BackupView(figures.model_copy(update={"last_drill": drill}), conditions)


def backup_figures(
    env: ResolvedEnvironment, status: EnvironmentStatus, children: LiveChildren
) -> BackupFigures | None:
    """The metrics of status.backup, and of the off-site copy of a CloudNativePG database:
    its CronJob's lastSuccessfulTime, kept out of status (a copy succeeds every
    archiveTimeout, and an idle operator writes nothing), and its creation, which a copy
    that never succeeded is counted from. The age of each figure is
    Prometheus's to compute."""
    backup = status.backup
    if backup is None:
        return None
    mirror = children.get(("CronJob", env.names.offsite_mirror)) if mirrored(env) else None
    copied = _time(mirror.last_success if mirror else None)
    scheduled = _time(mirror.created if mirror else None)
    configured = store_configured(env)
    wal, base, drill = backup.last_archived_wal, backup.last_base_backup, backup.last_drill
    first = backup.first_recoverability_point
    archiving = find(status.conditions, WAL_ARCHIVING)
    return BackupFigures(
        wal_archived=wal.time.timestamp() if wal else None,
        archive_failing=archiving.status == "False" if archiving else None,
        base_backup=base.time.timestamp() if base else None,
        base_backup_interval=schedule_interval_seconds(env.spec.postgres.backup.schedule)
        if configured
        else None,
        rpo_target=rpo_target_seconds(env),
        first_recoverability=first.timestamp() if first else None,
        drill_success=drill.result == "Passed" if drill else None,
        drill_finished=drill.finished_at.timestamp() if drill else None,
        drill_rto=drill.rto_seconds if drill else None,
        offsite_copy=copied.timestamp() if copied else None,
        offsite_copy_interval=mirror_interval_seconds(env) if mirrored(env) else None,
        offsite_copy_scheduled_since=scheduled.timestamp() if scheduled else None,
    )
