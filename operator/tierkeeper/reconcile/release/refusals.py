"""Why a Release may not touch its Environment, and how that refusal is reported.

A refused Release writes its own status and an Event, and nothing else: not one child.
Its own faults come before its Environment's: a Release from the wrong branch hears so
even when another Release binds the Environment, since "change that Release's image
instead" would break the branch rule.
"""

from __future__ import annotations

from datetime import datetime

from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.events import post_event
from tierkeeper.models import Phase, ReleaseSpec, ReleaseStatus
from tierkeeper.models.status import parse_status
from tierkeeper.reconcile.environment import WRITES_NOTHING
from tierkeeper.reconcile.records import EnvRecord, ReleaseRecord
from tierkeeper.status.conditions import Observation, observe, raw_condition
from tierkeeper.status.release import release_conditions


def refusal_for(
    record: ReleaseRecord,
    spec: ReleaseSpec,
    env_record: EnvRecord | None,
    bound: str | None,
    branch: str | None,
) -> Observation | None:
    """Why this Release may not touch its Environment, if it may not. `branch`: the one the
    Environment deploys, its tier's default unless the spec names one."""
    if env_record is None:
        return observe(
            "Ready",
            False,
            "EnvironmentNotFound",
            f"Environment {spec.environment} does not exist in namespace {record.namespace}: "
            "create it, or fix spec.environment",
        )
    source = spec.source.branch if spec.source else None
    if branch and source and branch != source:
        return observe(
            "Ready",
            False,
            "BranchMismatch",
            f"Environment {spec.environment} deploys branch {branch}, "
            f"this Release comes from {source}",
        )
    if bound != record.name:
        return observe(
            "Ready",
            False,
            "EnvironmentAlreadyBound",
            f"Release {bound} already deploys Environment {spec.environment}; "
            "one Release per Environment: change that Release's image instead",
        )
    ready = raw_condition(env_record.status, "Ready")
    if ready is not None and ready.get("reason") in WRITES_NOTHING:
        return observe(
            "Ready",
            False,
            "EnvironmentRefused",
            f"Environment {spec.environment} is refused ({ready['reason']}: "
            f"{ready.get('message', '')}); the rollout starts once it is fixed",
        )
    return None


async def refuse(
    kube: ApiClient, record: ReleaseRecord, spec: ReleaseSpec, refusal: Observation, now: datetime
) -> None:
    """Ready=False with the reason, and a Warning Event the first time; nothing else touched."""
    previous = parse_status(ReleaseStatus, record.status)
    conditions = release_conditions(
        previous.conditions,
        previous,
        spec.image,
        refusal=refusal,
        healthy=None,
        now=now,
        generation=record.generation,
    )
    status = previous.model_copy(
        update={
            "conditions": conditions,
            "observed_generation": record.generation,
            "phase": previous.phase or Phase.PENDING,
        }
    )
    if status == previous:
        return
    await kube.write_status("Release", record.namespace, record.name, status, previous)
    await post_event(kube, record.involved, "Warning", refusal.reason, refusal.message)
