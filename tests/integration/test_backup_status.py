"""status.backup, the WALArchiving and BaseBackup conditions and their metrics, from a
real S3 server (versitygw) that the operator lists and from the drill's ConfigMap.

kwok's pods run no PostgreSQL, so the store holds what barman-cloud writes (a base
backup's backup.info, a WAL segment) put there by the test: what the operator reads of it
is under test, not the archiving (tests/data does that on a real PostgreSQL).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.data.dataservers import ServerUnavailable
from tests.data.objectstore import BUCKET, S3Server, s3_server
from tests.data.test_store_listing import store_of
from tests.integration.k8s import Api, condition, eventually
from tests.integration.operator_process import OperatorProcess, Samples, scrape, total
from tests.integration.test_cloudnative_pg import cloudnative_pg_crds  # noqa: F401 (fixture)
from tests.unit.test_render_objectstore import STORE
from tierkeeper.devcluster import Kubectl
from tierkeeper.models.names import ChildNames
from tierkeeper.render.common import INSTANCE, MANAGED_BY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ENV = "shop"
PREFIX = "backups"
SEGMENT = "000000010000000000000007"
BACKUP_ID = "20261203T030000"


@pytest.fixture
def store(unavailable: Callable[[str], NoReturn]) -> Iterator[S3Server]:
    try:
        with s3_server("region-a") as server:
            yield server
    except ServerUnavailable as error:
        unavailable(str(error))


def environment(store: S3Server) -> dict[str, Any]:
    return {
        "apiVersion": "tierkeeper.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "spec": {
            "tier": "staging",
            "postgres": {
                "backup": {
                    "schedule": "0 * * * *",
                    "objectStore": store_of(store, PREFIX).model_dump(
                        by_alias=True, exclude_none=True
                    ),
                }
            },
        },
    }


def credentials(store: S3Server) -> dict[str, Any]:
    encode = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3"},
        "data": {"id": encode(store.access_key), "secret": encode(store.secret_key)},
    }


def put_backup_and_segment(store: S3Server, finished: datetime) -> None:
    """What object-store.sh's barman-cloud leaves after a base backup and an archived WAL."""
    client = store.client()
    folder = f"{PREFIX}/{ENV}"
    info = f"status=DONE\nend_time={finished.isoformat()}\ntimeline=1\n"
    client.put_object(Bucket=BUCKET, Key=f"{folder}/base/{BACKUP_ID}/backup.info", Body=info)
    client.put_object(
        Bucket=BUCKET, Key=f"{folder}/wals/{SEGMENT[:16]}/{SEGMENT}.gz", Body=b"segment"
    )


def drill_configmap() -> dict[str, Any]:
    """The drill's result, labelled like the Environment's children."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{ENV}-drill",
            "labels": {INSTANCE: ChildNames(ENV).instance_label, MANAGED_BY: "tierkeeper"},
        },
        "data": {
            "finishedAt": "2026-12-01T04:00:00Z",
            "result": "Failed",
            "rtoSeconds": "42.5",
            "message": "amcheck found a corrupt index",
        },
    }


def drill_metrics(operator: OperatorProcess) -> Samples | None:
    samples = scrape(operator.metrics_port)
    return samples if total(samples, "tierkeeper_drill_rto_seconds", environment=ENV) else None


def backup_status(api: Api, namespace: str) -> dict[str, Any]:
    env = api.get("Environment", namespace, ENV) or {}
    found: dict[str, Any] = (env.get("status") or {}).get("backup") or {}
    return found


def test_status_backup_conditions_and_metrics_follow_the_store_and_the_drill(
    api: Api, namespace: str, operator: OperatorProcess, store: S3Server
) -> None:
    finished = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    put_backup_and_segment(store, finished)
    api.apply(credentials(store), namespace)
    api.apply(environment(store), namespace)

    shown = eventually(
        lambda: (b := backup_status(api, namespace)).get("lastArchivedWal") and b,
        timeout=120,
        what="status.backup from the store",
    )
    assert shown["lastArchivedWal"]["segment"] == SEGMENT
    assert shown["lastBaseBackup"]["id"] == BACKUP_ID
    assert datetime.fromisoformat(shown["lastBaseBackup"]["time"]) == finished
    assert datetime.fromisoformat(shown["firstRecoverabilityPoint"]) == finished
    env = api.get("Environment", namespace, ENV)
    base = condition(env, "BaseBackup")
    assert base is not None and (base["status"], base["reason"]) == ("True", "BaseBackupTaken")
    archiving = condition(env, "WALArchiving")
    # kwok runs no database: the fresh segment is all WALArchiving judges.
    assert archiving is not None and archiving["status"] == "True"

    api.apply(drill_configmap(), namespace)
    drill = eventually(
        lambda: backup_status(api, namespace).get("lastDrill"), what="lastDrill from the ConfigMap"
    )
    assert (drill["result"], drill["rtoSeconds"]) == ("Failed", 42.5)

    samples = eventually(lambda: drill_metrics(operator), what="drill metrics")
    assert total(samples, "tierkeeper_drill_success", environment=ENV) == 0
    assert total(samples, "tierkeeper_postgres_base_backup_timestamp_seconds", environment=ENV) == (
        finished.timestamp()
    )
    assert total(samples, "tierkeeper_postgres_rpo_target_seconds", environment=ENV) == 900

    # The store goes away: the next look says so (looks are a minute apart).
    store.stop()
    unreachable = eventually(
        lambda: (
            (c := condition(api.get("Environment", namespace, ENV), "WALArchiving"))
            and c["reason"] == "StoreUnreachable"
            and c
        ),
        timeout=150,
        what="WALArchiving StoreUnreachable",
    )
    assert unreachable["status"] == "False"
    assert backup_status(api, namespace)["lastArchivedWal"]["segment"] == SEGMENT  # kept
    events = api.list("Event", namespace)
    assert any(e.get("reason") == "StoreUnreachable" for e in events)
    failing = eventually(
        lambda: (
            total(
                scrape(operator.metrics_port),
                "tierkeeper_postgres_wal_archive_failing",
                environment=ENV,
            )
            == 1
        ),
        what="archive failing metric",
    )
    assert failing
    seen = [operator.log.read_text(), str(events), str(api.get("Environment", namespace, ENV))]
    seen.append(str(scrape(operator.metrics_port)))
    assert not any(store.secret_key in text for text in seen)


def test_cloudnative_pg_backups_show_from_the_cluster_status(
    api: Api,
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg_crds: Path,  # noqa: F811 (fixture)
    operator: OperatorProcess,
) -> None:
    """No CloudNativePG operator runs: the test writes the Cluster's status as it would."""
    cluster.install_crds(cloudnative_pg_crds)
    api.apply(
        {
            "apiVersion": "tierkeeper.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": ENV},
            "spec": {"tier": "production", "postgres": {"backup": {"objectStore": STORE}}},
        },
        namespace,
    )
    name = ChildNames(ENV).postgres
    eventually(lambda: api.get("Cluster", namespace, name), what="CloudNativePG Cluster")
    since = "2026-11-24T12:00:00Z"
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    api.patch_status(
        "Cluster",
        namespace,
        name,
        {
            "status": {
                "instances": 2,
                "readyInstances": 2,
                "lastSuccessfulBackup": last.isoformat().replace("+00:00", "Z"),
                "firstRecoverabilityPoint": "2026-11-27T03:00:00Z",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "ClusterIsReady",
                        "message": "Cluster is Ready",
                        "lastTransitionTime": since,
                    },
                    {
                        "type": "ContinuousArchiving",
                        "status": "False",
                        "reason": "ContinuousArchivingFailing",
                        "message": "unexpected failure invoking barman-cloud-wal-archive",
                        "lastTransitionTime": since,
                    },
                ],
            }
        },
        manager="cloudnative-pg",
    )
    failing = eventually(
        lambda: (
            (c := condition(api.get("Environment", namespace, ENV), "WALArchiving"))
            and c["reason"] == "ArchivingFailing"
            and c
        ),
        what="WALArchiving from the Cluster",
    )
    assert failing["status"] == "False"
    env = api.get("Environment", namespace, ENV)
    base = condition(env, "BaseBackup")
    assert base is not None and (base["status"], base["reason"]) == ("True", "BaseBackupTaken")
    shown = backup_status(api, namespace)
    assert datetime.fromisoformat(shown["lastBaseBackup"]["time"]) == last
    assert shown["firstRecoverabilityPoint"] == "2026-11-27T03:00:00Z"
    assert any(e.get("reason") == "ArchivingFailing" for e in api.list("Event", namespace))
