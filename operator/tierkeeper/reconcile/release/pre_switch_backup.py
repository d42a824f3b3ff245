"""The base backup before a blue-green rollout deploys its new image: asked for, looked at.

It is taken before the idle colour gets the new image, not just before the switch: the new
image's pods reach the live database as soon as they start (a schema migration at start is
common), and the backup must hold the data as the serving image left it.

The Job's (or CloudNativePG Backup's) name comes from the image and the attempt recorded
in the Release status, so an operator restarted mid-backup looks at the same one, and
creates it if the status was saved but the create was not. `blue_green.py` makes the
transitions; this module only asks and reads.
"""

from __future__ import annotations

from typing import Any

from tierkeeper.apply.children import Owner, owned
from tierkeeper.apply.errors import Conflict, NotFound
from tierkeeper.models.status import BackupOutcome, PreSwitchBackup
from tierkeeper.reconcile.release.step import ReleaseStep
from tierkeeper.render.postgres import CNPG_API_VERSION
from tierkeeper.render.preswitch import pre_switch_backup_wanted, render_pre_switch_backup

__all__ = ["ask", "create", "look", "wanted"]


def wanted(step: ReleaseStep) -> bool:
    return pre_switch_backup_wanted(step.env)


def _api_version(record: PreSwitchBackup) -> str:
    return "batch/v1" if record.kind == "Job" else CNPG_API_VERSION


def ask(step: ReleaseStep, image: str) -> PreSwitchBackup:
    """A new backup for `image` (the next attempt if the last one was of the same image),
    to be saved in status before `create` makes it."""
    last = step.status.pre_switch_backup
    attempt = last.attempt + 1 if last is not None and last.image == image else 1
    return PreSwitchBackup(
        image=image,
        attempt=attempt,
        kind="Backup" if step.env.cloudnative_pg else "Job",
        name=step.env.names.pre_switch_backup(image, attempt),
        outcome=BackupOutcome.RUNNING,
        started_at=step.now,
    )


async def create(step: ReleaseStep, record: PreSwitchBackup) -> str | None:
    """The Job or Backup of `record`, owned by the Environment (one that exists is kept);
    why it cannot be made, if its kind is not served (CloudNativePG not installed)."""
    manifest = render_pre_switch_backup(step.env, record.name)
    if manifest is None:
        return None
    owner = Owner(step.env_record.name, step.env_record.uid)
    try:
        await step.kube.create(owned(manifest, owner))
    except Conflict:
        pass  # AlreadyExists: created by this step before the operator restarted.
    except NotFound:
        return (
            f"the API server does not serve {record.kind} {_api_version(record)}: "
            "install CloudNativePG, or set postgres.provider: builtin"
        )
    return None


async def look(step: ReleaseStep, record: PreSwitchBackup) -> PreSwitchBackup:
    """`record` as its Job or Backup has it now; a missing one is created."""
    try:
        body = await step.kube.get(
            _api_version(record), record.kind, step.env.namespace, record.name
        )
    except NotFound:
        refused = await create(step, record)
        if refused is None:
            return record
        return _finished(step, record, BackupOutcome.FAILED, refused)
    status = body.get("status") or {}
    outcome, message = (_job if record.kind == "Job" else _cnpg_backup)(step, record, status)
    if outcome is BackupOutcome.RUNNING:
        return record
    return _finished(step, record, outcome, message)


def _finished(
    step: ReleaseStep, record: PreSwitchBackup, outcome: BackupOutcome, message: str
) -> PreSwitchBackup:
    return record.model_copy(
        update={"outcome": outcome, "message": message, "finished_at": step.now}
    )


def _job(
    step: ReleaseStep, record: PreSwitchBackup, status: dict[str, Any]
) -> tuple[BackupOutcome, str]:
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if (conditions.get("Complete") or {}).get("status") == "True":
        return BackupOutcome.SUCCEEDED, f"Job {record.name} completed"
    failed = conditions.get("Failed") or {}
    if failed.get("status") == "True":
        why = ": ".join(str(failed[k]) for k in ("reason", "message") if failed.get(k))
        return BackupOutcome.FAILED, (
            f"Job {record.name} failed ({why or 'no reason given'}); its log: kubectl -n "
            f"{step.env.namespace} logs job/{record.name}"
        )
    return BackupOutcome.RUNNING, ""


def _cnpg_backup(
    step: ReleaseStep, record: PreSwitchBackup, status: dict[str, Any]
) -> tuple[BackupOutcome, str]:
    phase = status.get("phase")
    if phase == "completed":
        return BackupOutcome.SUCCEEDED, f"Backup {record.name} completed"
    if phase == "failed":
        return BackupOutcome.FAILED, (
            f"Backup {record.name} failed ({status.get('error') or 'no reason given'}); see "
            f"kubectl -n {step.env.namespace} describe backup.postgresql.cnpg.io {record.name}"
        )
    return BackupOutcome.RUNNING, ""
