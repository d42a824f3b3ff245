"""The off-site copy of a CloudNativePG database: a CronJob running object-store.sh's mirror
in the project's database image, the stores' credentials by reference only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.helpers import env_of
from tests.unit.test_render_objectstore import OFFSITE, STORE, env_of_container
from tierkeeper.models.rollout import AppRollout
from tierkeeper.render import render_children
from tierkeeper.render.common import Manifest
from tierkeeper.render.offsite import render_offsite_mirror


def cnpg(tier: str = "production", **backup: Any) -> Any:
    return env_of(
        {
            "tier": tier,
            "postgres": {
                "provider": "cloudnative-pg",
                "backup": {"objectStore": STORE, "offsiteObjectStore": OFFSITE, **backup},
            },
        }
    )


def pod_spec(cronjob: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_a_cloudnative_pg_database_with_an_offsite_store_is_mirrored_by_a_cronjob() -> None:
    env = cnpg()
    children = {(c.kind, c.name): c.manifest for c in render_children(env, AppRollout())}
    cronjob = children[("CronJob", "shop-postgres-offsite")]
    assert cronjob is not None
    # Production archives each minute: the copy follows each minute, within its RPO.
    assert cronjob["spec"]["schedule"] == "*/1 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_spec(cronjob)
    [container] = pod["containers"]
    assert container["image"] == "ghcr.io/tierkeeper/postgres:16"
    assert container["command"] == ["sh", "/opt/tierkeeper/object-store/object-store.sh", "mirror"]
    # Both stores, as object-store.sh reads them, and the Cluster's own retention (30 days
    # in production), applied off-site too.
    assert {
        "BACKUP_SERVER_NAME": "shop",
        "BACKUP_PRIMARY_URL": "s3://shop-backups/eu/shop",
        "BACKUP_PRIMARY_ENDPOINT": "https://s3.eu.example.net",
        "BACKUP_PRIMARY_REGION": "eu-1",
        "BACKUP_PRIMARY_CA_BUNDLE": "/etc/tierkeeper/object-store-ca/primary.pem",
        "BACKUP_OFFSITE_URL": "s3://shop-backups-us",
        "BACKUP_RETENTION": "RECOVERY WINDOW OF 30 DAYS",
    }.items() <= env_of_container(container).items()
    cluster = children[("Cluster", "shop-postgres")]
    assert cluster is not None and cluster["spec"]["backup"]["retentionPolicy"] == "30d"
    # The script and the CA bundle it mounts are there; the pods reach no database.
    script = children[("ConfigMap", "shop-object-store")]
    assert script is not None
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["object-store-script"]["configMap"]["name"] == "shop-object-store"
    assert volumes["object-store-ca"]["projected"]["sources"] == [
        {"secret": {"name": "s3-eu-ca", "items": [{"key": "ca.pem", "path": "primary.pem"}]}}
    ]
    labels = cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "offsite"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False


def test_the_stores_credentials_are_secret_references_never_values_nor_arguments() -> None:
    cronjob = render_offsite_mirror(cnpg())
    assert cronjob is not None
    [container] = pod_spec(cronjob)["containers"]
    credentials = {
        var["name"]: var["valueFrom"]
        for var in container["env"]
        if var["name"].endswith(("ACCESS_KEY_ID", "SECRET_ACCESS_KEY"))
    }
    assert credentials == {
        "BACKUP_PRIMARY_ACCESS_KEY_ID": {"secretKeyRef": {"name": "s3-eu", "key": "id"}},
        "BACKUP_PRIMARY_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "s3-eu", "key": "secret"}},
        "BACKUP_OFFSITE_ACCESS_KEY_ID": {"secretKeyRef": {"name": "s3-us", "key": "id"}},
        "BACKUP_OFFSITE_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "s3-us", "key": "secret"}},
    }
    arguments = json.dumps(container["command"] + container.get("args", []))
    assert not any(name in arguments for name in ("s3-eu", "s3-us", "secret", "AWS", "RCLONE"))


@pytest.mark.parametrize(
    ("archive_timeout", "schedule"),
    [("1s", "*/1 * * * *"), ("5m", "*/5 * * * *"), ("7m30s", "*/8 * * * *"), ("1h", "0 * * * *")],
)
def test_the_copy_runs_every_archive_timeout(archive_timeout: str, schedule: str) -> None:
    cronjob = render_offsite_mirror(cnpg("staging", pitr={"archiveTimeout": archive_timeout}))
    assert cronjob is not None and cronjob["spec"]["schedule"] == schedule


@pytest.mark.parametrize(
    "spec",
    [
        # CloudNativePG with a primary store only.
        {"tier": "production", "postgres": {"backup": {"objectStore": STORE}}},
        # builtin PostgreSQL archives to both stores itself.
        {
            "tier": "staging",
            "postgres": {"backup": {"objectStore": STORE, "offsiteObjectStore": OFFSITE}},
        },
        # No backups, or no database.
        {
            "tier": "production",
            "postgres": {
                "backup": {"enabled": False, "objectStore": STORE, "offsiteObjectStore": OFFSITE}
            },
        },
        {
            "tier": "production",
            "postgres": {
                "enabled": False,
                "backup": {"objectStore": STORE, "offsiteObjectStore": OFFSITE},
            },
        },
    ],
)
def test_no_mirror_without_a_cloudnative_pg_database_that_has_an_offsite_store(
    spec: dict[str, Any],
) -> None:
    env = env_of(spec)
    assert render_offsite_mirror(env) is None
    children = {(c.kind, c.name): c.manifest for c in render_children(env, AppRollout())}
    assert children[("CronJob", "shop-postgres-offsite")] is None
