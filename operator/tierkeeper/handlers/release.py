"""kopf wiring for Releases: an index of them, and the steps of their rollouts.

A step (`step_release`) runs whenever something a Release waits for changes (the Release,
its Environment, a child) or the time it asked for has come. Steps are requests merged
per Release with a timer for the next, not a kopf daemon per Release, which would hold
its frames and its own copy of the Release's body for the Release's whole life.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kopf

from tierkeeper import GROUP, VERSION, metrics
from tierkeeper.apply.errors import NotFound
from tierkeeper.handlers.coalesce import CONCURRENCY
from tierkeeper.handlers.compact import compact
from tierkeeper.handlers.state import OperatorState, state_of
from tierkeeper.models.release import ABORT_ANNOTATION, RETRY_ANNOTATION, ROLLBACK_ANNOTATION
from tierkeeper.reconcile.records import ObjectKey, ReleaseRecord
from tierkeeper.reconcile.release import step_release

logger = logging.getLogger(__name__)

# Longest wait between steps: a lost wake-up costs at most this much.
IDLE_SECONDS = 300.0
RETRY_SECONDS = 5.0
# Release steps running at once, as for reconciles (handlers/coalesce.py): a step waits on
# the API server and holds its resolved Environment and its writes meanwhile, and a
# thousand at once at start-up is a peak that stays in RSS. A health check waits outside
# any step (reconcile/release/health_gate.py), so no Release's gate holds a slot that
# another Release's rollback needs.
STEPS_AT_ONCE = CONCURRENCY


@kopf.index(GROUP, VERSION, "releases")
async def releases(
    namespace: str | None,
    name: str,
    uid: str,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    annotations: kopf.Annotations,
    **_: Any,
) -> dict[ObjectKey, ReleaseRecord]:
    record = ReleaseRecord(
        namespace=namespace or "",
        name=name,
        uid=uid,
        generation=int(meta.get("generation", 0)),
        created=str(meta.get("creationTimestamp", "")),
        spec=compact(spec),
        status=compact(status),
        rollback_requested=annotations.get(ROLLBACK_ANNOTATION) == "true",
        abort_requested=annotations.get(ABORT_ANNOTATION) == "true",
        retry_requested=annotations.get(RETRY_ANNOTATION) == "true",
    )
    return {(record.namespace, str(spec.get("environment", ""))): record}


@kopf.on.event(GROUP, VERSION, "releases")
async def release_changed(
    namespace: str | None,
    name: str,
    spec: kopf.Spec,
    type: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    state = state_of(memo, kwargs)
    key = (namespace or "", name)
    env_key = (key[0], str(spec.get("environment", "")))
    if type == "DELETED":
        state.forget_release(key)
        metrics.forget_release(*key)
    else:
        state.release_envs[key] = env_key[1]
        state.wake_release(key)
    state.environments.request(env_key, converge=False)


async def run_step(state: OperatorState, key: ObjectKey) -> None:
    """One step of a Release's rollout, and a timer for the next."""
    await state.child_watches.synced.wait()
    env_name = state.release_envs.get(key)
    # Deleted, or another replica acts (its resumed listing asks for steps again).
    if env_name is None or state.paused:
        return
    env_key = (key[0], env_name)
    record = state.release(env_key, key[1])
    if record is None:
        state.wake_release(key, after=RETRY_SECONDS)
        return
    bound = state.bound_release(env_key)
    try:
        with metrics.reconciling("Release"):
            wait = await step_release(
                state.kube,
                state.config,
                record,
                state.environment(env_key),
                bound.name if bound else None,
                state.live(env_key),
                state.ledger,
                state.health_checks,
                utc_now,
            )
    except NotFound as gone:
        # Deleted while the step ran: its deletion event forgets it.
        logger.info("step of Release %s/%s: %s", *key, gone)
        return
    after = IDLE_SECONDS if wait is None else min(wait, IDLE_SECONDS)
    logger.debug("step of Release %s/%s: the next in %.1f s or on a change", *key, after)
    state.wake_release(key, after=after)


def utc_now() -> datetime:
    """The clock of Release steps, to the second (status times have no finer resolution)."""
    return datetime.now(UTC).replace(microsecond=0)
