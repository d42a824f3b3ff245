"""Operator-wide Environment defaults (TIERKEEPER_ENVIRONMENT_DEFAULTS): the object stores
and the database image a platform team sets once, over the tiers' defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tierkeeper.config import OperatorConfig
from tierkeeper.models import EnvironmentSpec, ResolvedEnvironment, resolve
from tierkeeper.models.site import environment_defaults
from tierkeeper.render.backup import render_backup_cronjob
from tierkeeper.render.postgres import render_cnpg_cluster, render_postgres_statefulset


def store(bucket: str, secret: str, path: str = "") -> dict[str, Any]:
    return {
        "bucket": bucket,
        **({"path": path} if path else {}),
        "credentials": {
            "accessKeyId": {"name": secret, "key": "id"},
            "secretAccessKey": {"name": secret, "key": "secret"},
        },
    }


SITE_STORE = store("platform-backups", "platform-s3", "clusters/eu")
DEFAULTS = environment_defaults(
    {
        "postgres": {
            "image": "registry.internal/postgres-barman:{version}",
            "backup": {"objectStore": SITE_STORE},
        }
    }
)


def env_of(spec: dict[str, Any], namespace: str = "team-a") -> ResolvedEnvironment:
    parsed = EnvironmentSpec.model_validate({"tier": "production", **spec})
    return resolve(parsed, name="shop", namespace=namespace, defaults=DEFAULTS)


def image_of(manifest: dict[str, Any] | None) -> str:
    assert manifest is not None
    image: str = manifest["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def test_a_defaulted_store_gets_a_folder_per_namespace() -> None:
    a, b = env_of({}, "team-a"), env_of({}, "team-b")
    store_a, store_b = a.spec.postgres.backup.object_store, b.spec.postgres.backup.object_store
    assert store_a is not None and store_b is not None
    assert store_a.destination == "s3://platform-backups/clusters/eu/team-a"
    assert store_b.destination == "s3://platform-backups/clusters/eu/team-b"
    assert a.spec.postgres.backup.pitr.enabled, "production's PITR is on once a store is there"


def test_an_environments_own_store_wins_whole() -> None:
    own = store("team-backups", "team-s3")
    env = env_of({"postgres": {"backup": {"objectStore": own}}})
    chosen = env.spec.postgres.backup.object_store
    assert chosen is not None
    assert chosen.destination == "s3://team-backups"
    assert chosen.credentials.access_key_id.name == "team-s3", "no default credentials mixed in"


BUILTIN = {"provider": "builtin", "instances": 1}


def test_the_default_image_runs_the_database_and_its_own_wins() -> None:
    env = env_of({"postgres": {"version": "15", **BUILTIN}})
    assert image_of(render_postgres_statefulset(env)) == "registry.internal/postgres-barman:15"
    own = env_of({"postgres": {"image": "mirror.local/pg:{version}-x", "version": "16", **BUILTIN}})
    assert image_of(render_postgres_statefulset(own)) == "mirror.local/pg:16-x"


def test_without_defaults_the_images_are_the_providers_own() -> None:
    plain = resolve(EnvironmentSpec(tier="development"), name="shop", namespace="team-a")
    assert image_of(render_postgres_statefulset(plain)) == "postgres:16"
    cronjob = render_backup_cronjob(plain)
    assert cronjob is not None
    job = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["image"] == "postgres:16"
    ha = EnvironmentSpec.model_validate(
        {"tier": "production", "postgres": {"provider": "cloudnative-pg", "instances": 3}}
    )
    cluster = render_cnpg_cluster(resolve(ha, name="shop", namespace="team-a"))
    assert cluster is not None
    assert cluster["spec"]["imageName"] == "ghcr.io/cloudnative-pg/postgresql:16"


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"branch": "main"}, "may set only"),
        ({"postgres": {"deletionPolicy": "Delete"}}, "not postgres.deletionPolicy"),
        ({"postgres": {"backup": {"objectStore": {"bucket": "x"}}}}, "credentials"),
    ],
)
def test_defaults_that_cannot_be_honoured_are_refused(document: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        environment_defaults(document)


def test_the_operator_reads_its_defaults_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "defaults.yaml"
    path.write_text("postgres:\n  image: registry.internal/pg:{version}\n")
    monkeypatch.setenv("TIERKEEPER_ENVIRONMENT_DEFAULTS", str(path))
    site = OperatorConfig.from_environment().site
    assert site.environment_defaults == {"postgres": {"image": "registry.internal/pg:{version}"}}


def test_the_shipped_defaults_file_is_valid_and_sets_nothing() -> None:
    manifest = Path(__file__).parents[2] / "manifests" / "base" / "environment-defaults.yaml"
    shipped = yaml.safe_load(yaml.safe_load(manifest.read_text())["data"]["environment.yaml"])
    assert environment_defaults(shipped) == {}
