"""The CloudNativePG drills' timers (reconcile/cnpg_drill.py): one per Environment that
has such a drill, set to when its drill is next due or, while one runs, to its next
step. An Environment's event only runs a step when its drill request changed or it has
no timer yet (a restarted operator: kopf lists every Environment); an idle drill reads
two objects when its timer fires and writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tierkeeper.apply.children import Owner
from tierkeeper.handlers.store_polls import resolved, task_later
from tierkeeper.reconcile.cnpg_drill import (
    STEP_SECONDS,
    DrillAsk,
    drill_step,
    parse_time,
)
from tierkeeper.reconcile.records import ObjectKey
from tierkeeper.render.cnpg_drill import REQUEST_ANNOTATION
from tierkeeper.render.drill import cnpg_drilled

if TYPE_CHECKING:
    from tierkeeper.handlers.state import OperatorState

logger = logging.getLogger(__name__)

# A far timer is set again after this long: the loop's clock need not hold a year.
LONGEST_WAIT_SECONDS = 86400.0


@dataclass
class Drills:
    """Each drilled Environment's timer and what its object asks."""

    asks: dict[ObjectKey, DrillAsk] = field(default_factory=dict)
    timers: dict[ObjectKey, asyncio.TimerHandle] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def forget(self, key: ObjectKey) -> None:
        if (timer := self.timers.pop(key, None)) is not None:
            timer.cancel()
        self.asks.pop(key, None)


def drill_event(state: OperatorState, key: ObjectKey, meta: Any) -> None:
    """After an event of the Environment: start its drill timer, or step now if the
    request changed."""
    drills = state.drills
    annotations = meta.get("annotations") or {}
    created = parse_time(meta.get("creationTimestamp")) or datetime.now(UTC)
    ask = DrillAsk(created=created, requested=annotations.get(REQUEST_ANNOTATION))
    if drills.asks.get(key) == ask and key in drills.timers:
        return
    drills.asks[key] = ask
    _schedule(state, key, 0.0)


def _schedule(state: OperatorState, key: ObjectKey, after: float) -> None:
    drills = state.drills
    if (timer := drills.timers.pop(key, None)) is not None:
        timer.cancel()
    wait = min(after, LONGEST_WAIT_SECONDS)
    task_later(drills.timers, drills.tasks, key, wait, lambda: _step(state, key))


async def _step(state: OperatorState, key: ObjectKey) -> None:
    drills = state.drills
    record = state.environment(key)
    env = resolved(state, record) if record is not None and not record.deleting else None
    ask = drills.asks.get(key)
    drilled = env is not None and state.cnpg_installed and cnpg_drilled(env)
    if record is None or env is None or ask is None or not drilled:
        drills.forget(key)
        return
    owner = Owner(record.name, record.uid)
    after: float | None = STEP_SECONDS
    try:
        # A standby replica (another one acts) only keeps its timer.
        if not state.paused:
            after = await drill_step(state.kube, env, owner, ask, datetime.now(UTC))
    except Exception:
        logger.exception("%s/%s: a step of the drill failed", *key)
    if after is None:
        drills.forget(key)
    elif key in drills.asks:
        _schedule(state, key, after)
