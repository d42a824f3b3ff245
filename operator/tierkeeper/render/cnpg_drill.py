"""The disaster-recovery drill of a CloudNativePG database that archives to an object
store, the CloudNativePG way: a scratch Cluster `E-drill` bootstrapped (`bootstrap.recovery`)
from the Environment's own store, then, once it is Ready, a check Job that runs the drill
checks (drill_checks.sh, shared with the builtin drill.sh) against it and writes the
result to the `E-drill` ConfigMap as the builtin drill does. reconcile/cnpg_drill.py
creates and deletes both; they are no converged children.

The scratch Cluster takes no backups and archives nothing (no `spec.backup`): a restored
copy must never write into the store of the database it came from. Its superuser
Secret is the check's login: pg_amcheck installs amcheck, which only a superuser may.
The check pod carries the drill component's labels, which the live database's policy does
not admit and the scratch Cluster's (render/network.py) does.
"""

from __future__ import annotations

from datetime import datetime

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.endpoints import POSTGRES_PORT
from tierkeeper.render.common import Component, Manifest, metadata, secret_env, value_env
from tierkeeper.render.drill import (
    CNPG_CHECK_SCRIPT_NAME,
    DRILL_MOUNT,
    RESTORE_TIMEOUT_SECONDS,
    drill_job_spec,
)
from tierkeeper.render.objectstore import database_image
from tierkeeper.render.postgres import CLOUDNATIVE_PG_IMAGE, CNPG_API_VERSION, DATABASE, USERNAME
from tierkeeper.render.recovery import cnpg_recovery_from

# On the Environment: a drill asked for at this time (RFC 3339), by `tierkeeper drill`.
REQUEST_ANNOTATION = "tierkeeper.dev/drill"
# On the scratch Cluster: when its drill began (RFC 3339, UTC). The drill's only state
# besides the result ConfigMap, so an operator that restarts resumes the drill.
STARTED_ANNOTATION = "tierkeeper.dev/drill-started"
# Seconds the checks may take once the scratch Cluster is Ready.
CHECK_TIMEOUT_SECONDS = RESTORE_TIMEOUT_SECONDS
# CloudNativePG's images run PostgreSQL as this user.
CNPG_POSTGRES_UID = 26


def render_scratch_cluster(env: ResolvedEnvironment, started: datetime) -> Manifest:
    """One instance, recovered to the end of the store's WAL. Its volume is as large as
    the live one's: the restored data needs that room, whatever the drill's size."""
    meta = metadata(env, env.names.drill_cluster, Component.DRILL)
    meta["annotations"] = {STARTED_ANNOTATION: started.isoformat()}
    return {
        "apiVersion": CNPG_API_VERSION,
        "kind": "Cluster",
        "metadata": meta,
        "spec": {
            "instances": 1,
            "imageName": database_image(env, CLOUDNATIVE_PG_IMAGE),
            "storage": {"size": env.spec.postgres.storage},
            "enableSuperuserAccess": True,
            **cnpg_recovery_from(env, None, {"database": DATABASE, "owner": USERNAME}),
        },
    }


def render_check_job(env: ResolvedEnvironment, started: datetime) -> Manifest:
    """The checks, run once (a failed check is a result to read, not a run to repeat),
    as the drill's ServiceAccount, which may write the result ConfigMap only."""
    names = env.names
    superuser = f"{names.drill_cluster}-superuser"
    container = {
        "name": "check",
        "image": database_image(env, CLOUDNATIVE_PG_IMAGE),
        "command": ["sh", f"{DRILL_MOUNT}/{CNPG_CHECK_SCRIPT_NAME}"],
        "env": [
            value_env("PGHOST", f"{names.drill_cluster}-rw"),
            value_env("PGPORT", POSTGRES_PORT),
            secret_env("PGUSER", superuser, "username"),
            secret_env("PGPASSWORD", superuser, "password"),
            value_env("PGSSLMODE", "require"),
            value_env("DRILL_STARTED_AT", int(started.timestamp())),
            value_env("DRILL_RESULT_CONFIGMAP", names.drill_result),
        ],
        "volumeMounts": [{"name": "drill-script", "mountPath": DRILL_MOUNT, "readOnly": True}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(env, names.drill_check, Component.DRILL),
        "spec": drill_job_spec(env, CHECK_TIMEOUT_SECONDS, CNPG_POSTGRES_UID, container, []),
    }
