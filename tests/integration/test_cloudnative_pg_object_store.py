"""The CloudNativePG Cluster and ScheduledBackup rendered for an object store pass
CloudNativePG's own CRDs (the pinned release), field by field (strict validation)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.k8s import server_dry_run
from tests.integration.test_cloudnative_pg import cloudnative_pg_crds  # noqa: F401 (fixture)
from tests.unit.test_render_objectstore import STORE
from tierkeeper.devcluster import Kubectl
from tierkeeper.models import resolve_document
from tierkeeper.render.postgres import render_cnpg_cluster, render_cnpg_scheduled_backup


def test_cluster_and_scheduled_backup_with_a_barman_object_store_pass_the_real_crds(
    namespace: str,
    cluster: Kubectl,
    cloudnative_pg_crds: Path,  # noqa: F811 (fixture)
) -> None:
    env = resolve_document(
        {"tier": "production", "postgres": {"backup": {"objectStore": STORE}}},
        name="shop",
        namespace=namespace,
    )
    manifests = [render_cnpg_cluster(env), render_cnpg_scheduled_backup(env)]
    assert all(m is not None for m in manifests)
    cluster.install_crds(cloudnative_pg_crds)
    result = server_dry_run(cluster, namespace, manifests)
    assert result.returncode == 0, result.stderr
    assert "cluster.postgresql.cnpg.io/shop-postgres serverside-applied" in result.stdout
