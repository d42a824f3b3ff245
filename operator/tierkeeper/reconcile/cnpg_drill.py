"""The CloudNativePG drill's steps (render/cnpg_drill.py): the operator, not a CronJob,
drives it, since only a pod allowed to create Clusters could, which is worse.

A drill is due when `tierkeeper drill ENV` asked for it (the Environment's
`tierkeeper.dev/drill` annotation, a time later than the last result) or when the drill
schedule fired since the last result (or since the Environment was made). Each step reads
the result ConfigMap, the scratch Cluster and the check Job, and moves on by one write:

    no scratch Cluster, due  -> create it (started: now, on its annotation)
    scratch Cluster Ready    -> create the check Job
    a result newer than its start, the Job failed, or a deadline passed
                             -> write Failed if no result, delete the Job, then the Cluster

Invariants: the state lives on the cluster (the scratch Cluster's start annotation and
the result ConfigMap's finishedAt), so a restarted operator resumes where it stopped; a
drill that is not due writes nothing; the scratch Cluster is deleted whatever the
outcome, the Job before it (a Job left alone would be read as the next drill's).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tierkeeper.apply.children import Owner, owned
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.apply.errors import NotFound
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.units import next_fire
from tierkeeper.render.cnpg_drill import (
    CHECK_TIMEOUT_SECONDS,
    STARTED_ANNOTATION,
    render_check_job,
    render_scratch_cluster,
)
from tierkeeper.render.drill import RESTORE_TIMEOUT_SECONDS
from tierkeeper.render.postgres import CNPG_API_VERSION

logger = logging.getLogger(__name__)

# How often a drill under way is looked at: the scratch Cluster has no watch of ours.
STEP_SECONDS = 15.0
# The scratch Cluster must be Ready (restored and recovered) within the tier's RTO.
READY_TIMEOUT_SECONDS = RESTORE_TIMEOUT_SECONDS


@dataclass(frozen=True)
class DrillAsk:
    """What the Environment's own object says of its drills."""

    created: datetime
    requested: str | None = None


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def drill_due(
    env: ResolvedEnvironment, ask: DrillAsk, finished: datetime | None
) -> datetime | None:
    """When the next drill is due (maybe in the past), None if never: a request newer
    than the last result, else the schedule's first time after that result."""
    moments = []
    requested = parse_time(ask.requested)
    if requested is not None and (finished is None or requested > finished):
        moments.append(requested)
    drill = env.spec.postgres.backup.drill
    if drill.scheduled:
        moments.append(next_fire(drill.schedule, finished or ask.created))
    return min(moments, default=None)


async def _read(
    kube: ApiClient, api_version: str, kind: str, env: ResolvedEnvironment, name: str
) -> Object | None:
    try:
        return await kube.get(api_version, kind, env.namespace, name)
    except NotFound:
        return None


def _condition(body: Object, kind: str) -> dict[str, Any] | None:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def _true(body: Object, kind: str) -> bool:
    condition = _condition(body, kind)
    return condition is not None and condition.get("status") == "True"


def _not_ready(cluster: Object) -> str:
    """What CloudNativePG says of a Cluster that is not Ready, for the result."""
    status = cluster.get("status") or {}
    ready = _condition(cluster, "Ready") or {}
    said = ready.get("message") or status.get("phaseReason") or status.get("phase")
    return f" (CloudNativePG: {said})" if said else ""


async def drill_step(
    kube: ApiClient, env: ResolvedEnvironment, owner: Owner, ask: DrillAsk, now: datetime
) -> float | None:
    """One step of the Environment's drill; returns the seconds until the next one is
    wanted, None when no drill will ever be due (unscheduled and not asked for)."""
    names = env.names
    result = await _read(kube, "v1", "ConfigMap", env, names.drill_result)
    if result is None:
        # The converge makes it (render/drill.py); the drill writes into it.
        return STEP_SECONDS
    finished = parse_time((result.get("data") or {}).get("finishedAt"))
    cluster = await _read(kube, CNPG_API_VERSION, "Cluster", env, names.drill_cluster)
    if cluster is None or cluster["metadata"].get("deletionTimestamp"):
        due = drill_due(env, ask, finished)
        if due is None:
            return None
        if cluster is not None:
            # The last drill's scratch Cluster is still going away.
            return STEP_SECONDS
        if due > now:
            return (due - now).total_seconds()
        logger.info(
            "%s/%s: drill started, scratch Cluster %s", env.namespace, env.name, names.drill_cluster
        )
        await kube.create(owned(render_scratch_cluster(env, now.replace(microsecond=0)), owner))
        return STEP_SECONDS
    started = parse_time(cluster["metadata"].get("annotations", {}).get(STARTED_ANNOTATION)) or now
    if finished is not None and finished >= started:
        await _clean_up(kube, env)
        return 0.0
    job = await _read(kube, "batch/v1", "Job", env, names.drill_check)
    elapsed = (now - started).total_seconds()
    failure = None
    if job is None and _true(cluster, "Ready"):
        await kube.create(owned(render_check_job(env, started), owner))
        return STEP_SECONDS
    if job is None and elapsed > READY_TIMEOUT_SECONDS:
        failure = (
            f"the scratch Cluster {names.drill_cluster}, restored from the store, was not "
            f"Ready within {READY_TIMEOUT_SECONDS}s{_not_ready(cluster)}"
        )
    elif job is not None and _true(job, "Failed"):
        failure = (
            f"the check Job {names.drill_check} failed without writing a result (see its pod's log)"
        )
    elif elapsed > READY_TIMEOUT_SECONDS + CHECK_TIMEOUT_SECONDS:
        failure = (
            f"the check Job {names.drill_check} wrote no result within {CHECK_TIMEOUT_SECONDS}s"
        )
    if failure is None:
        return STEP_SECONDS
    await kube.merge_patch(
        "v1",
        "ConfigMap",
        env.namespace,
        names.drill_result,
        {
            "data": {
                "finishedAt": _stamp(now),
                "result": "Failed",
                "rtoSeconds": "",
                "message": failure,
            }
        },
    )
    await _clean_up(kube, env)
    return 0.0


def _stamp(moment: datetime) -> str:
    """As drill_result.py writes finishedAt."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _clean_up(kube: ApiClient, env: ResolvedEnvironment) -> None:
    """The Job, then the scratch Cluster (its volume and Secrets go with it)."""
    names = env.names
    for api_version, kind, name in (
        ("batch/v1", "Job", names.drill_check),
        (CNPG_API_VERSION, "Cluster", names.drill_cluster),
    ):
        with contextlib.suppress(NotFound):
            await kube.delete(api_version, kind, env.namespace, name)
    logger.info("%s/%s: drill over, scratch Cluster deleted", env.namespace, env.name)
