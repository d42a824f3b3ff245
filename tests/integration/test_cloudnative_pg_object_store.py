"""The CloudNativePG Cluster and ScheduledBackup rendered for an object store, and the
CronJob that copies it off-site, pass CloudNativePG's own CRDs (the pinned release) and
the API server, field by field (strict validation); the operator accepts an off-site
store on CloudNativePG and no credential of either store leaks."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s import Api, condition, eventually, is_true, server_dry_run
from tests.integration.test_cloudnative_pg import (  # noqa: F401 (fixture)
    ENV,
    NAMES,
    cloudnative_pg_crds,
    database_reason,
)
from tests.integration.test_controlplane import environment
from tests.integration.test_secrets import (  # noqa: F401 (fixture)
    SCANNED_KINDS,
    debug_operator,
    leaks,
    secret_doc,
    written,
)
from tests.unit.test_render_objectstore import OFFSITE, STORE
from tierkeeper.devcluster import Kubectl
from tierkeeper.models import resolve_document
from tierkeeper.render.objectstore import render_object_store_script
from tierkeeper.render.offsite import render_offsite_mirror
from tierkeeper.render.postgres import render_cnpg_cluster, render_cnpg_scheduled_backup

pytestmark = pytest.mark.integration


# Production on CloudNativePG, with a primary store and an off-site one.
SPEC = {
    "tier": "production",
    "postgres": {"backup": {"objectStore": STORE, "offsiteObjectStore": OFFSITE}},
}


def test_the_cluster_its_scheduled_backup_and_offsite_mirror_pass_the_real_crds(
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg_crds: Path,  # noqa: F811 (fixture)
) -> None:
    env = resolve_document(SPEC, name="shop", namespace=namespace)
    manifests = [
        render_cnpg_cluster(env),
        render_cnpg_scheduled_backup(env),
        render_object_store_script(env),
        render_offsite_mirror(env),
    ]
    assert all(m is not None for m in manifests)
    cluster.install_crds(cloudnative_pg_crds)
    result = server_dry_run(cluster, namespace, manifests)
    assert result.returncode == 0, result.stderr
    assert "cluster.postgresql.cnpg.io/shop-postgres serverside-applied" in result.stdout
    assert "cronjob.batch/shop-postgres-offsite serverside-applied" in result.stdout


def test_the_operator_accepts_an_offsite_store_on_cloudnative_pg_and_leaks_no_credential(
    api: Api,
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg_crds: Path,  # noqa: F811 (fixture)
    debug_operator: Any,  # noqa: F811 (fixture)
) -> None:
    operator, metrics_port = debug_operator
    values = {
        "primary access key id": "AK" + secrets.token_hex(8).upper(),
        "primary secret access key": secrets.token_urlsafe(30),
        "off-site access key id": "AK" + secrets.token_hex(8).upper(),
        "off-site secret access key": secrets.token_urlsafe(30),
    }
    for name, slot in (("s3-eu", "primary"), ("s3-us", "off-site")):
        data = {
            "id": values[f"{slot} access key id"],
            "secret": values[f"{slot} secret access key"],
        }
        api.apply(secret_doc(name, data), namespace)
    api.apply(secret_doc("s3-eu-ca", {"ca.pem": "-----BEGIN CERTIFICATE-----\n"}), namespace)
    cluster.install_crds(cloudnative_pg_crds)
    api.apply(environment(ENV, SPEC), namespace)
    # Accepted: the database waits for CloudNativePG, and nothing was refused (but
    # CloudNativePG's absence, if the operator saw the Environment before the CRDs).
    eventually(lambda: database_reason(api, namespace) == "Progressing", what="waits for CNPG")
    warnings = {
        e["reason"]
        for e in api.list("Event", namespace)
        if e["type"] == "Warning" and e["involvedObject"]["kind"] == "Environment"
    }
    assert warnings <= {"HAProviderMissing"}, warnings
    postgres = api.get("Cluster", namespace, NAMES.postgres)
    assert postgres is not None
    assert postgres["spec"]["backup"]["barmanObjectStore"]["destinationPath"] == (
        "s3://shop-backups/eu/shop"
    )
    mirror = eventually(
        lambda: api.get("CronJob", namespace, NAMES.offsite_mirror), what="off-site CronJob"
    )
    [container] = mirror["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    wired = {var["name"]: var.get("valueFrom", {}).get("secretKeyRef") for var in container["env"]}
    assert wired["BACKUP_OFFSITE_SECRET_ACCESS_KEY"] == {"name": "s3-us", "key": "secret"}
    script = api.get("ConfigMap", namespace, NAMES.object_store_script)
    assert script is not None and "mirror)" in script["data"]["object-store.sh"]
    backups = eventually(
        lambda: (
            is_true(api.get("Environment", namespace, ENV), "BackupsScheduled")
            and condition(api.get("Environment", namespace, ENV), "BackupsScheduled")
        ),
        what="BackupsScheduled",
    )
    assert backups["message"].endswith(f"off-site copy by CronJob {NAMES.offsite_mirror}")

    haystacks = written(
        api,
        namespace,
        operator,
        metrics_port,
        (*SCANNED_KINDS, "Cluster", "ScheduledBackup", "Job"),
    )
    assert f"CronJob {NAMES.offsite_mirror}" in haystacks
    # The scan would see a value were it there: each is in its Secret.
    in_secrets = {
        name: json.dumps(api.get("Secret", namespace, name)) for name in ("s3-eu", "s3-us")
    }
    assert {leak.split(" found in ")[0] for leak in leaks(in_secrets, values)} == set(values)
    assert leaks(haystacks, values) == []
