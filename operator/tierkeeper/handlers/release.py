"""kopf wiring for Releases: an index of them and one daemon per Release that steps its rollout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import kopf

from tierkeeper import GROUP, VERSION, metrics
from tierkeeper.apply.errors import NotFound
from tierkeeper.handlers.state import EnvKey, state_of
from tierkeeper.reconcile.release import ReleaseRecord, step_release

logger = logging.getLogger(__name__)

# Longest sleep between steps: a lost wake-up costs at most this much.
IDLE_SECONDS = 300.0
ERROR_BACKOFF_SECONDS = 5.0


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
) -> dict[EnvKey, ReleaseRecord]:
    record = ReleaseRecord(
        namespace=namespace or "",
        name=name,
        uid=uid,
        generation=int(meta.get("generation", 0)),
        created=str(meta.get("creationTimestamp", "")),
        spec=dict(spec),
        status=dict(status),
        annotations=dict(annotations),
    )
    return {(record.namespace, str(spec.get("environment", ""))): record}


@kopf.on.event(GROUP, VERSION, "releases")
async def release_changed(
    namespace: str | None, name: str, spec: kopf.Spec, memo: kopf.Memo, **kwargs: Any
) -> None:
    state = state_of(memo, kwargs)
    state.poke((namespace or "", name)).set()
    state.environments.request((namespace or "", str(spec.get("environment", ""))), full=False)


@kopf.daemon(GROUP, VERSION, "releases", cancellation_timeout=5.0)
async def release_daemon(
    namespace: str | None,
    name: str,
    spec: kopf.Spec,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """Step the rollout whenever something it waits for changes, or its timer is due."""
    state = state_of(memo, kwargs)
    key = (namespace or "", name)
    poke = state.poke(key)
    await state.children.synced.wait()
    while not stopped:
        poke.clear()
        env_key = (key[0], str(spec.get("environment", "")))
        record = state.release(env_key, name)
        # Not in the index yet (the daemon can start before it is): look again soon.
        wait: float | None = ERROR_BACKOFF_SECONDS
        if record is not None:
            env_key = (key[0], str(record.spec.get("environment", "")))
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
                        state.memory,
                        state.rollouts,
                        datetime.now(UTC).replace(microsecond=0),
                    )
            except NotFound as gone:
                # Deleted while the step ran: kopf is about to stop this daemon.
                logger.info("step of Release %s/%s: %s", *key, gone)
                wait = ERROR_BACKOFF_SECONDS
            except Exception:
                logger.exception("step of Release %s/%s failed; retrying", *key)
                wait = ERROR_BACKOFF_SECONDS
        if wait == 0:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poke.wait(), timeout=min(wait or IDLE_SECONDS, IDLE_SECONDS))
    state.pokes.pop(key, None)
    metrics.forget_release(*key)
