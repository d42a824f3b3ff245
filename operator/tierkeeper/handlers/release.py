"""Wiring for Releases: the changes that ask for steps, and the steps of their rollouts.

A step (`step_release`) runs whenever something a Release waits for changes (the Release,
its Environment, a child) or the time it asked for has come. Steps are requests merged
per Release with a timer for the next, not a kopf daemon per Release, which would hold
its frames and its own copy of the Release's body for the Release's whole life.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tierkeeper import metrics
from tierkeeper.apply.errors import NotFound
from tierkeeper.handlers.coalesce import CONCURRENCY
from tierkeeper.handlers.resource_cache import ResourceEvent
from tierkeeper.handlers.state import OperatorState
from tierkeeper.reconcile.records import ObjectKey
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


def release_changed(state: OperatorState, event: ResourceEvent) -> None:
    """A step of the Release, and a status-only look of its Environment (which reports the
    Release it is bound to). What the first listing files waits for `OperatorState.act`."""
    if event.deleted:
        state.forget_release(event.key)
        metrics.forget_release(*event.key)
    elif event.news:
        state.wake_release(event.key)
    if event.news:
        state.environments.request(event.environment, converge=False)


async def run_step(state: OperatorState, key: ObjectKey) -> None:
    """One step of a Release's rollout, and a timer for the next."""
    await state.watches.synced.wait()
    env_key = state.resources.environment_of(key)
    # Deleted, or another replica acts (when this one acts again, every Release steps).
    if env_key is None or state.paused:
        return
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
