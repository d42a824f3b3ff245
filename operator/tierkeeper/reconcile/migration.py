"""A live database moved from the builtin instance to CloudNativePG, losing no committed write.

The steps (status.databaseMigration.phase, one at most per converge, each checked against
the cluster, so that a restarted operator goes on where the last one stopped):

1. Cloning: the Cluster is created from a pg_basebackup of the builtin instance and
   follows it as a replica cluster (streaming), while the app keeps using the builtin one.
2. PausingWrites, once the Cluster reports Ready: the builtin instance restarts with
   `default_transaction_read_only`, so that no write lands there that the Cluster would not
   receive. The app's writes are refused (not lost) from here until it has restarted onto
   the Cluster; reads go on.
3. WaitingForCluster, once the builtin pod runs read-only: the Cluster is promoted (it
   stops following), and its Ready is awaited (about the promoted spec where the condition
   names a generation; where not, an unfinished promotion only prolongs the pause: the
   replica refuses writes too).
4. Switched: one write of the credentials Secret that DATABASE_URL comes from, then a
   rolling restart of the app's Deployments (a pod-template annotation with the Secret's
   revision; each keeps its Ready pods while it rolls). The builtin StatefulSet, its
   Service, claim and pg_hba ConfigMap are detached and labelled MIGRATED_FROM, for a
   person to delete.

Asked back to builtin before the switch, the move is given up: the Cluster, which no write
of the app's has reached, is deleted, and the builtin instance renders as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tierkeeper.apply.children import Owner
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.apply.errors import NotFound
from tierkeeper.apply.events import post_event
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import LiveChildren, summarize
from tierkeeper.models.names import label_value
from tierkeeper.models.status import DatabaseMigration, EnvironmentStatus, MigrationPhase
from tierkeeper.render.migration import READ_ONLY_SETTING, SERVING_BUILTIN
from tierkeeper.render.postgres import CNPG_API_VERSION
from tierkeeper.status.conditions import Observation, observe

DATABASE_MIGRATION = "DatabaseMigration"
# On the builtin instance's objects after the switch: the Environment they served.
MIGRATED_FROM = "tierkeeper.dev/migrated-from"

Phase = MigrationPhase


@dataclass(frozen=True)
class Migration:
    """The migration as this reconcile takes it: the phase it reached, the one before."""

    phase: Phase | None = None
    previous: Phase | None = None

    @property
    def switching(self) -> bool:
        return self.phase is Phase.SWITCHED and self.previous is not Phase.SWITCHED

    @property
    def cancelled(self) -> bool:
        """The spec no longer asks for the move, which has not switched yet: the Cluster,
        a copy no write of the app's has reached, is deleted, and the builtin instance
        takes writes again."""
        return self.phase is None and self.previous in SERVING_BUILTIN

    @property
    def builtin_serves(self) -> bool:
        """Under way, the app still on the builtin instance: a change of the Cluster or of
        the builtin StatefulSet may move it on."""
        return self.phase in SERVING_BUILTIN

    def held(self) -> Migration:
        """The migration as it was: this reconcile's writes were refused."""
        return Migration(self.previous, self.previous)

    def status(self, env: ResolvedEnvironment) -> DatabaseMigration | None:
        if self.phase is None:
            return None
        return DatabaseMigration(phase=self.phase, retained=self.retained(env))

    def retained(self, env: ResolvedEnvironment) -> list[str]:
        if self.phase is not Phase.SWITCHED:
            return []
        return [f"{kind}/{name}" for _, kind, name in retired(env)]

    def condition(self, env: ResolvedEnvironment) -> Observation | None:
        if self.phase is None:
            return None
        if self.phase is not Phase.SWITCHED:
            return observe(DATABASE_MIGRATION, False, self.phase.value, _STEPS[self.phase])
        kept = ", ".join(self.retained(env))
        return observe(
            DATABASE_MIGRATION,
            True,
            self.phase.value,
            f"DATABASE_URL names the CloudNativePG Cluster {env.names.postgres}; the builtin "
            f"instance is kept, read-only: {kept} (label {MIGRATED_FROM}="
            f"{label_value(env.name)}); delete them once the Cluster is trusted",
        )

    def without_retired(self, env: ResolvedEnvironment, live: LiveChildren) -> LiveChildren:
        """The children this Environment still has: once switched, the builtin instance's
        objects are no longer its own, even while the watches have not dropped them."""
        if self.phase is not Phase.SWITCHED:
            return live
        gone = {(kind, name) for _, kind, name in retired(env)}
        return {key: child for key, child in live.items() if key not in gone}


_STEPS = {
    Phase.CLONING: "the CloudNativePG Cluster copies the builtin instance and follows it; "
    "the app uses the builtin instance until the Cluster reports Ready",
    Phase.PAUSING_WRITES: "the builtin instance restarts read-only so that every write "
    "reaches the Cluster; the app's writes are refused until it runs on the Cluster",
    Phase.WAITING_FOR_CLUSTER: "the Cluster is promoted; DATABASE_URL moves to it once "
    "it reports Ready",
}


def retired(env: ResolvedEnvironment) -> list[tuple[str, str, str]]:
    """The builtin instance's objects, kept after the switch; the StatefulSet first, so
    that its claims are released before theirs are detached."""
    names = env.names
    return [
        ("apps/v1", "StatefulSet", names.postgres),
        ("v1", "Service", names.postgres),
        ("v1", "PersistentVolumeClaim", names.postgres_data),
        ("v1", "ConfigMap", names.postgres_replication_access),
    ]


def starting(
    env: ResolvedEnvironment,
    live: LiveChildren,
    recorded: DatabaseMigration | None,
    owner_uid: str,
    *,
    cnpg_installed: bool,
) -> Migration:
    """The migration as the last status left it, or a new one: the spec asks for
    CloudNativePG, which is installed, and the builtin instance of this Environment runs."""
    if recorded is not None:
        if recorded.phase in SERVING_BUILTIN and not (
            env.cloudnative_pg and env.spec.postgres.enabled
        ):
            # Asked back before the switch: the builtin instance still holds every write.
            return Migration(None, recorded.phase)
        if not env.spec.postgres.enabled:
            # A database turned off after the switch ends the move's record: turned on
            # again, a new Cluster starts empty instead of cloning the kept builtin instance.
            return Migration()
        return Migration(recorded.phase, recorded.phase)
    if not (cnpg_installed and env.cloudnative_pg and env.spec.postgres.enabled):
        return Migration()
    builtin = live.get(("StatefulSet", env.names.postgres))
    if builtin is None or builtin.controller_uid != owner_uid:
        return Migration()
    return Migration(Phase.CLONING)


def cluster_ready(cluster: Mapping[str, Any]) -> bool:
    """CloudNativePG says the Cluster is Ready, about its current spec when it says which."""
    summary = summarize("Cluster", cluster)
    return summary.observed_current and summary.ready >= summary.desired


def promoted(cluster: Mapping[str, Any]) -> bool:
    return not ((cluster.get("spec") or {}).get("replica") or {}).get("enabled", False)


def runs_read_only(statefulset: Mapping[str, Any]) -> bool:
    """Every pod of the builtin StatefulSet runs the read-only template, and is Ready."""
    spec, status = statefulset.get("spec") or {}, statefulset.get("status") or {}
    container = spec["template"]["spec"]["containers"][0]
    replicas = spec.get("replicas", 1)
    return (
        READ_ONLY_SETTING in (container.get("args") or [])
        and status.get("observedGeneration") == statefulset["metadata"].get("generation")
        and status.get("updateRevision") == status.get("currentRevision")
        and status.get("updatedReplicas", 0) == replicas
        and status.get("readyReplicas", 0) == replicas
    )


def next_phase(
    phase: Phase, cluster: Mapping[str, Any] | None, builtin: Mapping[str, Any] | None
) -> Phase:
    """One step at most, on what the Cluster and the builtin StatefulSet show."""
    if phase is Phase.CLONING and cluster is not None and cluster_ready(cluster):
        return Phase.PAUSING_WRITES
    if phase is Phase.PAUSING_WRITES and builtin is not None and runs_read_only(builtin):
        return Phase.WAITING_FOR_CLUSTER
    if (
        phase is Phase.WAITING_FOR_CLUSTER
        and cluster is not None
        and promoted(cluster)
        and cluster_ready(cluster)
    ):
        return Phase.SWITCHED
    return phase


async def _read(
    kube: ApiClient, api_version: str, kind: str, namespace: str, name: str
) -> Object | None:
    try:
        return await kube.get(api_version, kind, namespace, name)
    except NotFound:
        return None


async def migration_at(
    kube: ApiClient,
    env: ResolvedEnvironment,
    live: LiveChildren,
    previous: EnvironmentStatus,
    owner_uid: str,
    *,
    cnpg: bool,
    step: bool,
) -> Migration:
    """The migration as the last status left it, a step further when `step` (a converge)."""
    recorded = previous.database_migration
    migration = starting(env, live, recorded, owner_uid, cnpg_installed=cnpg)
    return await advance(kube, env, migration) if step else migration


async def advance(kube: ApiClient, env: ResolvedEnvironment, migration: Migration) -> Migration:
    """Read what the step under way waits for (one request) and take the next step."""
    phase = migration.phase
    if phase is None or phase is Phase.SWITCHED:
        return migration
    name, namespace = env.names.postgres, env.namespace
    cluster = builtin = None
    if phase is Phase.PAUSING_WRITES:
        builtin = await _read(kube, "apps/v1", "StatefulSet", namespace, name)
    else:
        cluster = await _read(kube, CNPG_API_VERSION, "Cluster", namespace, name)
    return Migration(next_phase(phase, cluster, builtin), phase)


async def announce(
    kube: ApiClient, env: ResolvedEnvironment, owner: Owner, migration: Migration
) -> None:
    """An Event for a step taken, or for the move given up."""
    involved = owner.involved(env.namespace)
    if migration.cancelled:
        message = (
            "postgres.provider is no longer cloudnative-pg: the move is given up before its "
            "switch, the Cluster deleted, and the builtin instance takes writes again"
        )
        await post_event(kube, involved, "Normal", "MigrationCancelled", message)
        return
    if migration.phase is None or migration.phase is migration.previous:
        return
    condition = migration.condition(env)
    message = condition.message if condition else ""
    await post_event(kube, involved, "Normal", migration.phase.value, message)
