"""PostgreSQL children: builtin StatefulSet, CloudNativePG Cluster, credentials Secret."""

from __future__ import annotations

from tests.unit.helpers import container, env_of, env_vars
from tierkeeper.render.postgres import (
    cnpg_schedule,
    render_cnpg_cluster,
    render_cnpg_scheduled_backup,
    render_credentials_secret,
    render_postgres_service,
    render_postgres_statefulset,
)


def test_builtin_statefulset_uses_the_set_storage_and_version() -> None:
    env = env_of({"tier": "staging", "postgres": {"version": "15"}})
    statefulset = render_postgres_statefulset(env)
    assert statefulset is not None
    assert statefulset["metadata"]["name"] == "shop-postgres"
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert container(statefulset)["image"] == "postgres:15"
    assert env_vars(statefulset)["POSTGRES_PASSWORD"] == {
        "secretKeyRef": {"name": "shop-postgres-credentials", "key": "password"}
    }
    service = render_postgres_service(env)
    assert service is not None and service["spec"]["ports"][0]["port"] == 5432
    assert render_cnpg_cluster(env) is None


def test_the_claim_template_is_rendered_as_the_api_server_keeps_it() -> None:
    # Its defaults written out and its size in the server's form (1.5Gi as 1536Mi): the
    # templates are one field, which holds what is applied only if it equals it.
    env = env_of({"tier": "staging", "postgres": {"storage": "1.5Gi"}})
    statefulset = render_postgres_statefulset(env)
    assert statefulset is not None
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "labels": claim["metadata"]["labels"]},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1536Mi"}},
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Pending"},
    }


def test_cloudnative_pg_replaces_the_statefulset_with_a_cluster() -> None:
    env = env_of({"tier": "production"})
    assert render_postgres_statefulset(env) is None
    assert render_postgres_service(env) is None
    cluster = render_cnpg_cluster(env)
    assert cluster is not None
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] == 2
    assert cluster["spec"]["storage"] == {"size": "20Gi"}
    assert cluster["spec"]["bootstrap"]["initdb"]["secret"] == {"name": "shop-postgres-credentials"}
    assert cluster["spec"]["backup"]["retentionPolicy"] == "30d"
    scheduled = render_cnpg_scheduled_backup(env)
    assert scheduled is not None
    assert scheduled["spec"]["schedule"] == "0 0 * * * *"
    assert scheduled["spec"]["cluster"] == {"name": "shop-postgres"}


def test_cnpg_schedule_has_a_seconds_field() -> None:
    assert cnpg_schedule("0 3 * * *") == "0 0 3 * * *"
    assert cnpg_schedule("@daily") == "0 0 0 * * *"


def test_credentials_secret_points_at_the_provider_service() -> None:
    builtin = render_credentials_secret(env_of({"tier": "staging"}), "s3cret")
    cnpg = render_credentials_secret(env_of({"tier": "production"}), "s3cret")
    assert builtin is not None and cnpg is not None
    assert builtin["type"] == "kubernetes.io/basic-auth"
    assert builtin["stringData"]["uri"] == "postgresql://app:s3cret@shop-postgres:5432/app"
    assert cnpg["stringData"]["host"] == "shop-postgres-rw"


def test_disabled_postgres_renders_nothing() -> None:
    env = env_of({"tier": "staging", "postgres": {"enabled": False}})
    assert render_postgres_statefulset(env) is None
    assert render_postgres_service(env) is None
    assert render_credentials_secret(env, "x") is None
