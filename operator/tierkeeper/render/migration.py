"""The database's move from the builtin instance to a CloudNativePG Cluster, as manifests.

While it runs, the builtin StatefulSet and Service stay as they were, but for two settings:
a pg_hba.conf (from a ConfigMap) that lets the Cluster connect for replication with the
app's role (the official image makes it the superuser), and, once the Cluster has caught
up, `default_transaction_read_only` (the write pause). The Cluster is bootstrapped with
`pg_basebackup` from the builtin Service and follows it as a replica cluster until it is
promoted; it keeps that origin in its spec afterwards (a bootstrap is read only once).
The password comes from the credentials Secret, never from a manifest.
"""

from __future__ import annotations

import copy

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.environment import PostgresProvider
from tierkeeper.models.status import MigrationPhase
from tierkeeper.render.common import Component, Manifest, metadata

# The name of the builtin instance among the Cluster's externalClusters.
SOURCE = "builtin"
HBA_DIRECTORY = "/etc/tierkeeper/replication"
HBA_KEY = "pg_hba.conf"
# The official image's rules, and replication connections from the network. md5 also
# accepts a SCRAM password, whichever way the image stored it.
PG_HBA = """\
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
local replication all trust
host replication all 127.0.0.1/32 trust
host replication all ::1/128 trust
host all all all md5
host replication all all md5
"""
READ_ONLY_SETTING = "default_transaction_read_only=on"
SERVING_BUILTIN = frozenset(
    {MigrationPhase.CLONING, MigrationPhase.PAUSING_WRITES, MigrationPhase.WAITING_FOR_CLUSTER}
)
# The Cluster follows the builtin instance until it is promoted.
REPLICA = frozenset({MigrationPhase.CLONING, MigrationPhase.PAUSING_WRITES})
READ_ONLY = frozenset({MigrationPhase.PAUSING_WRITES, MigrationPhase.WAITING_FOR_CLUSTER})


def serving_builtin(migration: MigrationPhase | None) -> bool:
    """Whether the builtin instance still holds the data the app uses."""
    return migration in SERVING_BUILTIN


def builtin_source(
    env: ResolvedEnvironment, migration: MigrationPhase | None
) -> ResolvedEnvironment:
    """The Environment the builtin children render from: `env`, or while a move to
    CloudNativePG serves from the builtin instance, `env` as it was on builtin."""
    if not (env.cloudnative_pg and serving_builtin(migration)):
        return env
    postgres = env.spec.postgres.model_copy(
        update={"provider": PostgresProvider.BUILTIN, "instances": 1}
    )
    spec = env.spec.model_copy(update={"postgres": postgres})
    return ResolvedEnvironment(env.name, env.namespace, spec)


def render_replication_access(
    env: ResolvedEnvironment, migration: MigrationPhase | None
) -> Manifest | None:
    if not (env.spec.postgres.enabled and env.cloudnative_pg and serving_builtin(migration)):
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(env, env.names.postgres_replication_access, Component.POSTGRES),
        "data": {HBA_KEY: PG_HBA},
    }


def replicating(
    statefulset: Manifest | None, env: ResolvedEnvironment, migration: MigrationPhase | None
) -> Manifest | None:
    """The builtin StatefulSet, open to replication while the Cluster copies it, and
    read-only from the write pause on."""
    if statefulset is None or not (env.cloudnative_pg and serving_builtin(migration)):
        return statefulset
    result = copy.deepcopy(statefulset)
    pod = result["spec"]["template"]["spec"]
    container = pod["containers"][0]
    settings = [f"hba_file={HBA_DIRECTORY}/{HBA_KEY}"]
    if migration in READ_ONLY:
        settings.append(READ_ONLY_SETTING)
    args = container.get("args") or ["postgres"]
    container["args"] = [*args, *(part for s in settings for part in ("-c", s))]
    container["volumeMounts"] = [
        *container["volumeMounts"],
        {"name": "replication", "mountPath": HBA_DIRECTORY, "readOnly": True},
    ]
    access = {"name": env.names.postgres_replication_access}
    pod["volumes"] = [*pod.get("volumes", []), {"name": "replication", "configMap": access}]
    return result


def cloned_from_builtin(
    spec: Manifest, env: ResolvedEnvironment, migration: MigrationPhase | None
) -> None:
    """Give a Cluster's `spec` its origin in the builtin instance: pg_basebackup from its
    Service, following it as a replica cluster until the promotion. Changes `spec`."""
    if migration is None:
        return
    initdb = spec["bootstrap"]["initdb"]
    credentials = initdb["secret"]["name"]
    spec["bootstrap"] = {
        "pg_basebackup": {
            "source": SOURCE,
            "database": initdb["database"],
            "owner": initdb["owner"],
            "secret": {"name": credentials},
        }
    }
    spec["externalClusters"] = [
        {
            "name": SOURCE,
            "connectionParameters": {
                "host": env.names.postgres,
                "user": initdb["owner"],
                "dbname": "postgres",
            },
            # A basic-auth Secret (the credentials one is) keeps it under this key.
            "password": {"name": credentials, "key": "password"},
        }
    ]
    spec["replica"] = {"enabled": migration in REPLICA, "source": SOURCE}
