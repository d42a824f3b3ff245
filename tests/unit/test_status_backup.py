"""status.backup and the WALArchiving and BaseBackup conditions, on a fake clock: the
figures of the primary store's listing (or the CloudNativePG Cluster's status) and of the
drill's ConfigMap, judged as they age; and the metrics of them and of the off-site copy's
CronJob."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY

from tests.unit.helpers import env_of
from tests.unit.test_render_objectstore import OFFSITE, STORE
from tierkeeper import metrics
from tierkeeper.backup.store_listing import (
    BaseBackupInfo,
    StoreListing,
    StoreReading,
    StoreUnreachable,
    newest_segment,
    parse_backup_info,
    server_prefix,
)
from tierkeeper.models import EnvironmentStatus
from tierkeeper.models.child import ChildSummary, summarize
from tierkeeper.models.rollout import AppRollout
from tierkeeper.status.backup import backup_figures, base_backup_due
from tierkeeper.status.conditions import find
from tierkeeper.status.environment import StatusInputs, backup_events, environment_status

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
# Staging archives WAL every 5 minutes (its tier's PITR) and backs up hourly here: WAL is
# stalled past 10 minutes, a base backup missed past 1.5 hours plus 10 minutes.
SPEC: dict[str, Any] = {
    "tier": "staging",
    "postgres": {"backup": {"objectStore": STORE, "schedule": "0 * * * *"}},
}


def children(database_ready: bool = True, *extra: ChildSummary) -> dict[tuple[str, str], Any]:
    ready = 1 if database_ready else 0
    listed = [
        ChildSummary("StatefulSet", "shop-postgres", "1", desired=1, ready=ready, updated=1),
        ChildSummary("StatefulSet", "shop-redis", "1", desired=1, ready=1, updated=1),
        ChildSummary("CronJob", "shop-postgres-backup", "1"),
        *extra,
    ]
    return {(c.kind, c.name): c for c in listed}


def listing(wal_at: datetime | None, backup_at: datetime | None) -> StoreListing:
    backup = BaseBackupInfo("20261203T110000", backup_at) if backup_at else None
    first = BaseBackupInfo("20261201T030000", T0 - timedelta(days=2)) if backup_at else None
    return StoreListing(
        first_backup=first,
        last_backup=backup,
        last_wal="000000010000000000000042" if wal_at else None,
        last_wal_time=wal_at,
    )


def look(
    store: StoreReading | None,
    now: datetime,
    previous: EnvironmentStatus | None = None,
    *,
    spec: dict[str, Any] = SPEC,
    live: dict[tuple[str, str], Any] | None = None,
) -> EnvironmentStatus:
    inputs = StatusInputs(
        live if live is not None else children(), None, AppRollout(), False, store=store
    )
    return environment_status(
        env_of(spec), inputs, previous or EnvironmentStatus(), now=now, generation=1
    )


def condition(status: EnvironmentStatus, type_: str) -> tuple[str, str]:
    found = find(status.conditions, type_)
    assert found is not None, type_
    return found.status, found.reason


def test_a_fresh_segment_and_backup_show_in_status_with_the_rpo_measured_at_the_write() -> None:
    status = look(listing(T0 - timedelta(seconds=40), T0 - timedelta(hours=1)), T0)
    backup = status.backup
    assert backup is not None
    assert backup.last_archived_wal is not None
    assert backup.last_archived_wal.segment == "000000010000000000000042"
    assert backup.last_base_backup is not None
    assert backup.last_base_backup.id == "20261203T110000"
    assert backup.first_recoverability_point == T0 - timedelta(days=2)
    assert backup.last_recoverability_point == T0 - timedelta(seconds=40)
    assert backup.rpo_seconds == 40
    assert condition(status, "WALArchiving") == ("True", "Archiving")
    assert condition(status, "BaseBackup") == ("True", "BaseBackupTaken")
    assert condition(status, "Ready") == ("True", "Ready")


def test_an_idle_look_with_the_same_figures_changes_nothing_to_write() -> None:
    reading = listing(T0 - timedelta(seconds=40), T0 - timedelta(hours=1))
    first = look(reading, T0)
    again = look(reading, T0 + timedelta(minutes=3), first)
    assert again == first  # the RPO is not re-measured as the segment ages


def test_a_segment_older_than_twice_archive_timeout_is_a_stall_but_ready_stays() -> None:
    reading = listing(T0, T0)
    fine = look(reading, T0 + timedelta(minutes=9))
    stalled = look(reading, T0 + timedelta(minutes=11), fine)
    assert condition(stalled, "WALArchiving") == ("False", "ArchivingStalled")
    found = find(stalled.conditions, "WALArchiving")
    assert found is not None and "archive-wal" in found.message and "11 min ago" in found.message
    assert condition(stalled, "Ready") == ("True", "Ready")
    assert backup_events(fine, stalled) == [("Warning", "ArchivingStalled", found.message)]
    assert backup_events(stalled, look(reading, T0 + timedelta(minutes=12), stalled)) == []


def test_a_stale_segment_of_a_database_that_is_down_is_not_a_stall() -> None:
    status = look(listing(T0, T0), T0 + timedelta(hours=1), live=children(database_ready=False))
    assert condition(status, "WALArchiving") == ("Unknown", "DatabaseNotReady")


def test_an_unreachable_store_keeps_the_figures_and_says_so_without_credentials() -> None:
    before = look(listing(T0, T0), T0)
    outage = look(StoreUnreachable("the store did not answer (ConnectTimeoutError)"), T0, before)
    assert condition(outage, "WALArchiving") == ("False", "StoreUnreachable")
    assert outage.backup == before.backup
    found = find(outage.conditions, "WALArchiving")
    assert found is not None
    assert "ConnectTimeoutError" in found.message and "Secret s3-eu" in found.message
    back = look(listing(T0 + timedelta(minutes=2), T0), T0 + timedelta(minutes=2), outage)
    assert condition(back, "WALArchiving") == ("True", "Archiving")
    assert backup_events(outage, back)[0][:2] == ("Normal", "Archiving")


def test_a_base_backup_older_than_its_schedule_allows_is_missed() -> None:
    reading = listing(T0, T0)
    on_time = look(reading, T0 + timedelta(minutes=99))
    assert condition(on_time, "BaseBackup") == ("True", "BaseBackupTaken")
    missed = look(reading, T0 + timedelta(minutes=101), on_time)
    assert condition(missed, "BaseBackup") == ("False", "BaseBackupMissed")
    found = find(missed.conditions, "BaseBackup")
    assert found is not None and "base-backup container" in found.message


def test_no_base_backup_is_awaited_for_one_allowance_then_missed() -> None:
    waiting = look(listing(T0, None), T0)
    assert condition(waiting, "BaseBackup") == ("Unknown", "WaitingForFirstBaseBackup")
    still = look(listing(T0, None), T0 + timedelta(minutes=99), waiting)
    assert condition(still, "BaseBackup") == ("Unknown", "WaitingForFirstBaseBackup")
    missed = look(listing(T0, None), T0 + timedelta(minutes=101), still)
    assert condition(missed, "BaseBackup") == ("False", "BaseBackupMissed")


def test_no_segment_at_all_while_the_database_is_up_turns_false_after_the_grace() -> None:
    waiting = look(listing(None, None), T0)
    assert condition(waiting, "WALArchiving") == ("Unknown", "WaitingForFirstSegment")
    missing = look(listing(None, None), T0 + timedelta(minutes=11), waiting)
    assert condition(missing, "WALArchiving") == ("False", "NoSegmentArchived")


def test_before_the_first_look_the_previous_backup_status_stands() -> None:
    before = look(listing(T0, T0), T0)
    assert look(None, T0 + timedelta(hours=5), before) == before


def test_without_an_object_store_there_are_no_backup_conditions() -> None:
    status = look(None, T0, spec={"tier": "staging"})
    assert status.backup is None
    assert find(status.conditions, "WALArchiving") is None
    assert find(status.conditions, "BaseBackup") is None


def drill_configmap(**data: str) -> ChildSummary:
    body = {"metadata": {"name": "shop-drill", "labels": {}}, "data": data}
    return summarize("ConfigMap", body)


def test_the_drill_configmap_is_the_last_drill_and_its_metrics() -> None:
    drill = drill_configmap(
        finishedAt="2026-12-02T04:00:00Z", result="Failed", rtoSeconds="81.5", message="x" * 5000
    )
    status = look(listing(T0, T0), T0, live=children(True, drill))
    assert status.backup is not None and status.backup.last_drill is not None
    last = status.backup.last_drill
    assert (last.result, last.rto_seconds) == ("Failed", 81.5)
    assert last.finished_at == datetime(2026, 12, 2, 4, tzinfo=UTC)
    assert len(last.message) == 1024  # the summary keeps no more
    figures = backup_figures(env_of(SPEC), status, children())
    assert figures is not None
    assert figures.drill_success is False and figures.drill_rto == 81.5
    assert figures.wal_archived == T0.timestamp() and figures.archive_failing is False
    assert figures.rpo_target == 900.0  # staging: three times its 5-minute archive_timeout


def test_a_configmap_of_another_shape_is_no_drill() -> None:
    other = drill_configmap(finishedAt="yesterday", result="Maybe")
    status = look(listing(T0, T0), T0, live=children(True, other))
    assert status.backup is not None and status.backup.last_drill is None
    assert summarize("ConfigMap", {"metadata": {"name": "x"}, "data": {"a": "b"}}).backup is None


def cluster(**status: Any) -> ChildSummary:
    body = {"metadata": {"name": "shop-postgres"}, "spec": {"instances": 2}, "status": status}
    return summarize("Cluster", body)


def test_cloudnative_pg_figures_come_from_the_cluster_status() -> None:
    spec = {"tier": "production", "postgres": {"backup": {"objectStore": STORE}}}
    failing = cluster(
        readyInstances=2,
        lastSuccessfulBackup="2026-12-03T11:30:00Z",
        firstRecoverabilityPoint="2026-11-26T11:00:00Z",
        conditions=[{"type": "ContinuousArchiving", "status": "False", "reason": "Failing"}],
    )
    status = look(None, T0, spec=spec, live={("Cluster", "shop-postgres"): failing})
    assert status.backup is not None and status.backup.last_base_backup is not None
    assert status.backup.last_base_backup.time == datetime(2026, 12, 3, 11, 30, tzinfo=UTC)
    assert status.backup.first_recoverability_point == datetime(2026, 11, 26, 11, tzinfo=UTC)
    assert condition(status, "WALArchiving") == ("False", "ArchivingFailing")
    assert condition(status, "BaseBackup") == ("True", "BaseBackupTaken")
    figures = backup_figures(env_of(spec), status, {("Cluster", "shop-postgres"): failing})
    assert figures is not None and figures.archive_failing is True
    assert figures.rpo_target == 300.0 and figures.base_backup_interval == 3600.0


def test_backup_metrics_are_exported_per_environment_and_forgotten_with_it() -> None:
    status = look(listing(T0, T0), T0)
    metrics.backups("team", "shop", backup_figures(env_of(SPEC), status, children()))
    labels = {"namespace": "team", "environment": "shop"}
    sample = REGISTRY.get_sample_value
    assert sample("tierkeeper_postgres_wal_archived_timestamp_seconds", labels) == T0.timestamp()
    assert sample("tierkeeper_postgres_wal_archive_failing", labels) == 0
    assert sample("tierkeeper_postgres_base_backup_interval_seconds", labels) == 3600
    assert sample("tierkeeper_postgres_rpo_target_seconds", labels) == 900
    assert sample("tierkeeper_drill_success", labels) is None  # no drill yet
    metrics.forget_environment("team", "shop")
    assert sample("tierkeeper_postgres_wal_archived_timestamp_seconds", labels) is None


def offsite_cronjob(**status: Any) -> ChildSummary:
    created = "2026-12-01T12:00:00Z"
    body = {
        "metadata": {"name": "shop-postgres-offsite", "creationTimestamp": created},
        "status": status,
    }
    return summarize("CronJob", body)


def offsite_series(live: dict[tuple[str, str], Any], spec: dict[str, Any]) -> dict[str, float]:
    """The off-site copy's series exported for shop after a look with `live` children."""
    status = look(None, T0, spec=spec, live=live)
    metrics.backups("team", "shop", backup_figures(env_of(spec), status, live))
    labels = {"namespace": "team", "environment": "shop"}
    names = (
        "tierkeeper_postgres_offsite_copy_last_success_timestamp_seconds",
        "tierkeeper_postgres_offsite_copy_interval_seconds",
        "tierkeeper_postgres_offsite_copy_scheduled_since_timestamp_seconds",
    )
    found = {name: REGISTRY.get_sample_value(name, labels) for name in names}
    metrics.forget_environment("team", "shop")
    return {name: value for name, value in found.items() if value is not None}


def cnpg_spec(tier: str, **backup: Any) -> dict[str, Any]:
    return {
        "tier": tier,
        "postgres": {"provider": "cloudnative-pg", "backup": {"objectStore": STORE, **backup}},
    }


CREATED = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


def test_the_offsite_copy_exports_its_cronjobs_last_success_creation_and_interval() -> None:
    spec = cnpg_spec("production", offsiteObjectStore=OFFSITE)
    copied = offsite_cronjob(lastSuccessfulTime="2026-12-03T11:59:00Z")
    live = {("Cluster", "shop-postgres"): cluster(), ("CronJob", copied.name): copied}
    # Production archives, and so copies, each minute.
    assert offsite_series(live, spec) == {
        "tierkeeper_postgres_offsite_copy_last_success_timestamp_seconds": (
            T0 - timedelta(minutes=1)
        ).timestamp(),
        "tierkeeper_postgres_offsite_copy_interval_seconds": 60,
        "tierkeeper_postgres_offsite_copy_scheduled_since_timestamp_seconds": CREATED,
    }


def test_an_offsite_copy_that_never_succeeded_exports_when_its_cronjob_was_created() -> None:
    # The never-succeeded alert counts from the CronJob's creation, which survives restarts
    # of the operator and of Prometheus.
    spec = cnpg_spec("staging", offsiteObjectStore=OFFSITE, pitr={"archiveTimeout": "5m"})
    never = offsite_cronjob(lastScheduleTime="2026-12-03T11:55:00Z")
    assert offsite_series({("CronJob", never.name): never}, spec) == {
        "tierkeeper_postgres_offsite_copy_interval_seconds": 300,
        "tierkeeper_postgres_offsite_copy_scheduled_since_timestamp_seconds": CREATED,
    }
    # Before the CronJob exists nothing is scheduled yet: the interval alone.
    assert offsite_series({}, spec) == {"tierkeeper_postgres_offsite_copy_interval_seconds": 300}


def test_an_environment_without_an_offsite_copy_exports_neither_figure() -> None:
    # A CronJob of the copy's name, left from an earlier spec, is not read either.
    leftover = offsite_cronjob(lastSuccessfulTime="2026-12-03T11:59:00Z")
    live = {("Cluster", "shop-postgres"): cluster(), ("CronJob", leftover.name): leftover}
    assert offsite_series(live, cnpg_spec("production")) == {}
    # builtin PostgreSQL archives into both stores itself: no copy to watch.
    builtin = {
        **SPEC,
        "postgres": {"backup": {"objectStore": STORE, "offsiteObjectStore": OFFSITE}},
    }
    assert offsite_series({**children(), ("CronJob", leftover.name): leftover}, builtin) == {}


def test_backup_info_and_segment_names_as_barman_cloud_writes_them() -> None:
    info = parse_backup_info(
        "20261203T110000", "status=DONE\nend_time=2026-12-03 11:00:05.123456+00:00\n"
    )
    assert info == BaseBackupInfo(
        "20261203T110000", datetime(2026, 12, 3, 11, 0, 5, 123456, tzinfo=UTC)
    )
    assert parse_backup_info("x", "status=STARTED\n") is None
    keys = [
        "eu/shop/wals/0000000100000000/000000010000000000000041.gz",
        "eu/shop/wals/0000000100000000/000000010000000000000042",
        "eu/shop/wals/0000000100000000/000000010000000000000042.00000028.backup",
        "eu/shop/wals/0000000100000000/00000002.history",
    ]
    assert newest_segment(keys) == keys[1]
    env = env_of(SPEC)
    assert env.spec.postgres.backup.object_store is not None
    assert server_prefix(env.spec.postgres.backup.object_store, "shop") == "eu/shop/shop/"


def test_cloudnative_pg_is_woken_when_its_newest_base_backup_grows_too_old() -> None:
    spec = {"tier": "production", "postgres": {"backup": {"objectStore": STORE}}}
    backed_up = cluster(readyInstances=2, lastSuccessfulBackup="2026-12-03T11:30:00Z")
    status = look(None, T0, spec=spec, live={("Cluster", "shop-postgres"): backed_up})
    # Hourly: 1.5 hours and 10 minutes after 11:30, one second late, from 12:00.
    assert base_backup_due(env_of(spec), status, now=T0) == 4201
    missed = look(
        None,
        T0 + timedelta(seconds=4201),
        status,
        spec=spec,
        live={("Cluster", "shop-postgres"): backed_up},
    )
    assert condition(missed, "BaseBackup") == ("False", "BaseBackupMissed")
    assert base_backup_due(env_of(spec), missed, now=T0) is None


def test_the_operator_loads_no_s3_client_until_a_store_is_read() -> None:
    """botocore's service models cost memory that an operator without stores must not pay."""
    code = (
        "import sys, tierkeeper.handlers.lifecycle, tierkeeper.handlers.environment; "
        "assert 'botocore' not in sys.modules, 'botocore imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
