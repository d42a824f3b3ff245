"""Operator start-up and shutdown: framework settings, the API connection, the reconciler."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import kopf

from tierkeeper import API_VERSION
from tierkeeper.apply.client import REQUEST_TIMEOUT_SECONDS, ApiClient
from tierkeeper.config import OperatorConfig
from tierkeeper.handlers.child_watches import SELECTOR, WATCHED, ChildCache
from tierkeeper.handlers.coalesce import Coalescer
from tierkeeper.handlers.discovery import Discovery
from tierkeeper.handlers.environment import child_changed, environment_changed, reconcile
from tierkeeper.handlers.heap import HeapTrim, malloc_trim
from tierkeeper.handlers.release import STEPS_AT_ONCE, release_changed, run_step
from tierkeeper.handlers.resource_cache import ResourceCache, ResourceEvent
from tierkeeper.handlers.state import OperatorState
from tierkeeper.handlers.watches import Watched, Watches
from tierkeeper.reconcile.cloudnative_pg import cloudnative_pg_installed
from tierkeeper.reconcile.release.health_gate import HealthChecks

# Objects per page of kopf's listings.
LIST_PAGE = 100


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # A dead watch stream must be noticed within a minute, not hang forever.
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 90
    settings.watching.connect_timeout = 10
    # kopf's own requests (peering, its Events) fail as ours do (apply/client.py).
    settings.networking.request_timeout = REQUEST_TIMEOUT_SECONDS
    settings.networking.connect_timeout = 10
    # kopf lists what it watches (CloudNativePG's objects) in pages: a thousand of them
    # need not be held as one response.
    settings.watching.chunk_size = LIST_PAGE
    settings.posting.level = 20
    # With --peering, a replica that dies without a goodbye (SIGKILL, a lost node) holds
    # its claim until its lifetime ends: a standby takes over within 20 s, not kopf's 60.
    settings.peering.lifetime = 20
    kube = await ApiClient.connect()
    state: OperatorState
    resources = ResourceCache(lambda event: resource_changed(state, event))
    children = ChildCache(lambda event: child_changed(state, event))
    watched = (
        Watched(API_VERSION, "Environment", "", resources),
        Watched(API_VERSION, "Release", "", resources),
        *(Watched(api, kind, SELECTOR, children) for api, kind in WATCHED),
    )
    heap = HeapTrim(malloc_trim())
    memo["heap"] = heap
    state = OperatorState(
        kube,
        OperatorConfig.from_environment(),
        Coalescer(lambda key, converge: reconcile(state, key, converge), on_idle=heap.work_done),
        Coalescer(
            lambda key, _: run_step(state, key), concurrency=STEPS_AT_ONCE, on_idle=heap.work_done
        ),
        HealthChecks(lambda key: state.wake_release(key)),
        resources,
        children,
        Watches(watched, tuple(memo.get("namespaces", ()))),
    )
    state.ledger.watched = children
    state.cnpg_installed = await cloudnative_pg_installed(kube)
    if (insights := memo.get("insights")) is not None:
        state.discovery = Discovery(settings, insights)
    state.pause = memo.get("pause")
    await state.watches.start()
    memo["state"] = state
    memo["acting"] = asyncio.create_task(acting(state))


def resource_changed(state: OperatorState, event: ResourceEvent) -> None:
    if event.kind == "Environment":
        environment_changed(state, event)
    else:
        release_changed(state, event)


async def acting(state: OperatorState) -> None:
    """Once everything is listed: every Environment looks and every Release steps, and
    again each time this replica takes over from another."""
    await state.watches.synced.wait()
    if state.pause is None:
        state.act()
    else:
        await state.pause.follow(state.act)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    state: OperatorState = memo["state"]
    acting_task: asyncio.Task[None] = memo["acting"]
    acting_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await acting_task
    for timer in [*state.timers.values(), *state.rechecks.values(), *state.settles.values()]:
        timer.cancel()
    await state.watches.stop()
    # Steps first: a step still running could start a probe.
    await state.release_steps.stop()
    await state.health_checks.stop()
    await state.environments.stop()
    memo["heap"].stop()
    await state.kube.close()
