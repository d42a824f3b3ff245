"""The off-site copy of a CloudNativePG database (postgres.backup.offsiteObjectStore).

CloudNativePG's `barmanObjectStore` archives WAL and takes base backups into one store,
the primary. A CronJob copies what the primary holds of the database into the off-site
store (object-store.sh `mirror`: rclone, then barman-cloud's retention there), so that a
restore works from the off-site copy alone once the primary's region is lost.

The pod runs in the project's database image (images/postgres), which holds rclone and
barman-cloud; not in postgres.image, which on CloudNativePG names the Cluster's own
image. The stores' credentials reach it as secretKeyRef environment variables only. Its
pods carry the `offsite` component's labels, which no NetworkPolicy admits to the
database: the copy reads and writes the stores, never the database.
"""

from __future__ import annotations

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.archiving import mirror_interval_seconds, mirrored
from tierkeeper.render.common import Component, Manifest, cronjob, labels
from tierkeeper.render.objectstore import (
    IMAGE_REPOSITORY,
    OBJECT_STORE_SCRIPT_NAME,
    POSTGRES_UID,
    SCRIPT_MOUNT,
    retention_env,
    store_env,
    store_mounts,
    store_volumes,
)

# A copy that runs longer is stopped; the next one carries on from what it left (an
# object is copied whole or not at all, and what is off-site already is skipped).
ACTIVE_DEADLINE_SECONDS = 6 * 3600
STARTING_DEADLINE_SECONDS = 300
# A failed copy is retried once at once, then by the next run of the schedule.
BACKOFF_LIMIT = 1


def mirror_schedule(env: ResolvedEnvironment) -> str:
    """Every archive_timeout (rounded up to whole minutes, at most hourly).

    A segment reaches the primary store within archive_timeout, and the off-site store
    with the next copy: the off-site copy lags the database by at most twice
    archive_timeout plus one copy's duration. That keeps the tier's RPO target when the
    primary's region is lost: production archives each minute, so it is copied each
    minute, inside its 5-minute target; the other tiers' target is three archive
    timeouts (status/backup.py). Copying less often (every 5 minutes, say) would let
    production lose 6 minutes and more.
    """
    minutes = int(mirror_interval_seconds(env)) // 60
    return "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"


def render_offsite_mirror(env: ResolvedEnvironment) -> Manifest | None:
    if not mirrored(env):
        return None
    pod_labels = labels(env, Component.OFFSITE)
    container = {
        "name": "mirror",
        "image": f"{IMAGE_REPOSITORY}:{env.spec.postgres.version}",
        "command": ["sh", f"{SCRIPT_MOUNT}/{OBJECT_STORE_SCRIPT_NAME}", "mirror"],
        "env": [*store_env(env), retention_env(env)],
        "volumeMounts": store_mounts(env),
    }
    return cronjob(
        env,
        env.names.offsite_mirror,
        Component.OFFSITE,
        schedule=mirror_schedule(env),
        suspend=False,
        starting_deadline_seconds=STARTING_DEADLINE_SECONDS,
        job_template={
            "metadata": {"labels": pod_labels},
            "spec": {
                "backoffLimit": BACKOFF_LIMIT,
                "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "restartPolicy": "Never",
                        # It talks to the stores only, never to the API server.
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": POSTGRES_UID,
                            "runAsGroup": POSTGRES_UID,
                        },
                        "containers": [container],
                        "volumes": store_volumes(env),
                    },
                },
            },
        },
    )
