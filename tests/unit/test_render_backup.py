"""The builtin backup CronJob, its volume and its script."""

from __future__ import annotations

from tests.unit.helpers import container, env_of, env_vars
from tierkeeper.backup.dumps import backup_script
from tierkeeper.models.rollout import AppRollout
from tierkeeper.render import render_children
from tierkeeper.render.backup import (
    render_backup_cronjob,
    render_backups_pvc,
)


def test_cronjob_settings() -> None:
    env = env_of({"tier": "staging"})
    cronjob = render_backup_cronjob(env)
    assert cronjob is not None
    spec = cronjob["spec"]
    assert cronjob["metadata"]["name"] == "shop-postgres-backup"
    assert spec["schedule"] == "0 3 * * *"
    assert spec["timeZone"] == "UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 0 and job["activeDeadlineSeconds"] > 0
    variables = env_vars(cronjob)
    assert variables["RETENTION_DAYS"] == "14"
    assert variables["BACKUP_DIR"] == "/backups"
    volumes = job["template"]["spec"]["volumes"]
    assert volumes == [{"name": "backups", "persistentVolumeClaim": {"claimName": "shop-backups"}}]


def test_job_runs_the_packaged_script_from_its_command() -> None:
    cronjob = render_backup_cronjob(env_of({"tier": "development"}))
    assert cronjob is not None
    assert container(cronjob)["command"] == ["sh", "-c", backup_script(), "backup.sh"]


def test_script_configmap_of_earlier_versions_is_unwanted() -> None:
    children = render_children(env_of({"tier": "staging"}), AppRollout())
    (config,) = [c for c in children if c.name == "shop-backup-script"]
    assert config.kind == "ConfigMap" and config.manifest is None


def test_backups_volume() -> None:
    pvc = render_backups_pvc(env_of({"tier": "staging"}))
    assert pvc is not None
    assert pvc["metadata"]["name"] == "shop-backups"


def test_no_builtin_backups_with_cnpg_or_when_disabled() -> None:
    for spec in (
        {"tier": "production"},
        {"tier": "staging", "postgres": {"backup": {"enabled": False}}},
        {"tier": "staging", "postgres": {"enabled": False}},
    ):
        env = env_of(spec)
        assert render_backup_cronjob(env) is None
        assert render_backups_pvc(env) is None
