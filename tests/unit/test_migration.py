"""The move of a live database from the builtin instance to CloudNativePG, without I/O:
when it starts, the step each view of the cluster allows, and what each step renders."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.helpers import container, env_of
from tierkeeper.models.child import ChildSummary
from tierkeeper.models.status import DatabaseMigration, MigrationPhase
from tierkeeper.reconcile.migration import Migration, next_phase, retired, starting
from tierkeeper.render import Child, data_children
from tierkeeper.render.migration import READ_ONLY_SETTING

Phase = MigrationPhase
OWNER = "uid-shop"
BUILTIN = env_of({"tier": "staging", "postgres": {"provider": "builtin"}})
MOVED = env_of({"tier": "staging", "postgres": {"provider": "cloudnative-pg", "instances": 2}})
NAMES = MOVED.names
OURS = {
    ("StatefulSet", NAMES.postgres): ChildSummary(
        "StatefulSet", NAMES.postgres, "1", controller_uid=OWNER
    )
}


def cluster(
    *, replica: bool, generation: int = 2, ready_about: int | None = 2, ready: int = 2
) -> dict[str, Any]:
    condition: dict[str, Any] = {"type": "Ready", "status": "True"}
    if ready_about is not None:
        condition["observedGeneration"] = ready_about
    return {
        "metadata": {"name": NAMES.postgres, "generation": generation},
        "spec": {"instances": 2, "replica": {"enabled": replica, "source": "builtin"}},
        "status": {"readyInstances": ready, "conditions": [condition]},
    }


def builtin_statefulset(*, read_only: bool, rolled: bool = True) -> dict[str, Any]:
    args = ["postgres", "-c", "hba_file=/x"] + (["-c", READ_ONLY_SETTING] if read_only else [])
    return {
        "metadata": {"name": NAMES.postgres, "generation": 3},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"args": args}]}}},
        "status": {
            "observedGeneration": 3,
            "currentRevision": "a" if rolled else "b",
            "updateRevision": "a",
            "updatedReplicas": 1,
            "readyReplicas": 1,
        },
    }


def test_a_migration_starts_only_for_this_environments_builtin_instance_with_cloudnative_pg() -> (
    None
):
    assert starting(MOVED, OURS, None, OWNER, cnpg_installed=True).phase is Phase.CLONING
    assert starting(MOVED, OURS, None, OWNER, cnpg_installed=False).phase is None
    assert starting(BUILTIN, OURS, None, OWNER, cnpg_installed=True).phase is None
    assert starting(MOVED, {}, None, OWNER, cnpg_installed=True).phase is None
    assert starting(MOVED, OURS, None, "another", cnpg_installed=True).phase is None
    recorded = DatabaseMigration(phase=Phase.WAITING_FOR_CLUSTER)
    resumed = starting(MOVED, {}, recorded, OWNER, cnpg_installed=True)
    assert (resumed.phase, resumed.previous) == (Phase.WAITING_FOR_CLUSTER,) * 2


@pytest.mark.parametrize(
    ("phase", "cluster_body", "statefulset", "then"),
    [
        (Phase.CLONING, None, None, Phase.CLONING),
        (Phase.CLONING, cluster(replica=True, ready=1), None, Phase.CLONING),
        (Phase.CLONING, cluster(replica=True, ready_about=1), None, Phase.CLONING),
        (Phase.CLONING, cluster(replica=True), None, Phase.PAUSING_WRITES),
        (Phase.PAUSING_WRITES, None, builtin_statefulset(read_only=False), Phase.PAUSING_WRITES),
        (
            Phase.PAUSING_WRITES,
            None,
            builtin_statefulset(read_only=True, rolled=False),
            Phase.PAUSING_WRITES,
        ),
        (
            Phase.PAUSING_WRITES,
            None,
            builtin_statefulset(read_only=True),
            Phase.WAITING_FOR_CLUSTER,
        ),
        # Ready about the replica it was, before the promotion: not yet.
        (
            Phase.WAITING_FOR_CLUSTER,
            cluster(replica=False, generation=3, ready_about=2),
            None,
            Phase.WAITING_FOR_CLUSTER,
        ),
        (Phase.WAITING_FOR_CLUSTER, cluster(replica=True), None, Phase.WAITING_FOR_CLUSTER),
        (Phase.WAITING_FOR_CLUSTER, cluster(replica=False), None, Phase.SWITCHED),
        (Phase.SWITCHED, None, None, Phase.SWITCHED),
    ],
)
def test_each_step_waits_for_what_it_needs(
    phase: Phase,
    cluster_body: dict[str, Any] | None,
    statefulset: dict[str, Any] | None,
    then: Phase,
) -> None:
    assert next_phase(phase, cluster_body, statefulset) is then


def by_key(children: list[Child]) -> dict[tuple[str, str], Any]:
    return {(c.kind, c.name): c.manifest for c in children}


def test_the_builtin_instance_serves_until_the_switch_and_reads_only_from_the_pause() -> None:
    for phase in (Phase.CLONING, Phase.PAUSING_WRITES, Phase.WAITING_FOR_CLUSTER):
        children = by_key(data_children(MOVED, migration=phase))
        statefulset = children[("StatefulSet", NAMES.postgres)]
        args = container(statefulset)["args"]
        assert statefulset["spec"]["replicas"] == 1
        assert any(a.startswith("hba_file=") for a in args)
        assert (READ_ONLY_SETTING in args) is (phase is not Phase.CLONING)
        assert children[("Service", NAMES.postgres)] is not None
        assert children[("ConfigMap", NAMES.postgres_replication_access)] is not None
        spec = children[("Cluster", NAMES.postgres)]["spec"]
        assert spec["replica"]["enabled"] is (phase is not Phase.WAITING_FOR_CLUSTER)
    switched = by_key(data_children(MOVED, migration=Phase.SWITCHED))
    assert switched[("StatefulSet", NAMES.postgres)] is None
    assert switched[("ConfigMap", NAMES.postgres_replication_access)] is None
    assert switched[("Cluster", NAMES.postgres)]["spec"]["replica"]["enabled"] is False


def test_the_cluster_clones_the_builtin_service_with_the_password_by_reference() -> None:
    spec = by_key(data_children(MOVED, migration=Phase.CLONING))[("Cluster", NAMES.postgres)][
        "spec"
    ]
    assert spec["bootstrap"] == {
        "pg_basebackup": {
            "source": "builtin",
            "database": "app",
            "owner": "app",
            "secret": {"name": NAMES.postgres_credentials},
        }
    }
    (source,) = spec["externalClusters"]
    assert source["connectionParameters"]["host"] == NAMES.postgres
    assert source["password"] == {"name": NAMES.postgres_credentials, "key": "password"}
    assert "password" not in json.dumps(source["connectionParameters"])
    # Without a migration, the Cluster starts empty as before.
    plain = by_key(data_children(MOVED))[("Cluster", NAMES.postgres)]["spec"]
    assert "initdb" in plain["bootstrap"] and "externalClusters" not in plain


def test_once_switched_the_builtin_objects_are_no_longer_the_environments() -> None:
    kept = {(kind, name) for _, kind, name in retired(MOVED)}
    live = {**OURS, ("Service", "shop"): ChildSummary("Service", "shop", "1")}
    assert set(Migration(Phase.SWITCHED).without_retired(MOVED, live)) == {("Service", "shop")}
    assert Migration(Phase.WAITING_FOR_CLUSTER).without_retired(MOVED, live) == live
    status = Migration(Phase.SWITCHED).status(MOVED)
    assert status is not None
    assert {tuple(entry.split("/")) for entry in status.retained} == kept


@pytest.mark.parametrize("phase", [Phase.CLONING, Phase.PAUSING_WRITES, Phase.WAITING_FOR_CLUSTER])
def test_asked_back_to_builtin_before_the_switch_the_move_is_given_up(phase: Phase) -> None:
    given_up = starting(BUILTIN, OURS, DatabaseMigration(phase=phase), OWNER, cnpg_installed=True)
    assert given_up.cancelled and given_up.status(BUILTIN) is None
    # The builtin instance renders as it was before the move: writable, no replication.
    statefulset = by_key(data_children(BUILTIN, migration=given_up.phase))[
        ("StatefulSet", NAMES.postgres)
    ]
    assert "args" not in container(statefulset)


def test_after_the_switch_the_move_stays_made() -> None:
    switched = DatabaseMigration(phase=Phase.SWITCHED)
    kept = starting(BUILTIN, OURS, switched, OWNER, cnpg_installed=True)
    assert (kept.phase, kept.cancelled) == (Phase.SWITCHED, False)


def test_a_database_turned_off_after_the_switch_is_no_longer_cloned_from_builtin() -> None:
    off = env_of({"tier": "staging", "postgres": {"enabled": False, "provider": "cloudnative-pg"}})
    switched = DatabaseMigration(phase=Phase.SWITCHED)
    forgotten = starting(off, {}, switched, OWNER, cnpg_installed=True)
    assert forgotten.phase is None and not forgotten.cancelled


def test_a_refused_converge_keeps_the_step_it_was_at() -> None:
    step = Migration(Phase.SWITCHED, Phase.WAITING_FOR_CLUSTER)
    assert step.switching
    held = step.held()
    assert (held.phase, held.switching) == (Phase.WAITING_FOR_CLUSTER, False)
    condition = step.condition(MOVED)
    assert condition is not None and condition.true and NAMES.postgres_data in condition.message
    waiting = held.condition(MOVED)
    assert waiting is not None and not waiting.true and waiting.reason == "WaitingForCluster"
