"""The status write of an Environment's reconcile, and the Events of its transitions."""

from __future__ import annotations

import hashlib
import json
import logging

from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.events import post_event
from tierkeeper.models import EnvironmentStatus
from tierkeeper.models.status import KOPF_FIELDS
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.reconcile.records import EnvRecord
from tierkeeper.status.environment import (
    backup_events,
    components_only,
    never_ready,
    ready_event,
    volumes_event,
)

logger = logging.getLogger(__name__)


def digest(status: EnvironmentStatus) -> str:
    body = status.model_dump(by_alias=True, mode="json", exclude=KOPF_FIELDS)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


async def report(
    kube: ApiClient,
    record: EnvRecord,
    previous: EnvironmentStatus,
    status: EnvironmentStatus,
    ledger: WriteLedger,
    *,
    status_only: bool = False,
    hold: bool = False,
) -> None:
    """Write status only when it changed; an Event for every change of Ready a person needs.

    A status-only look whose `previous` is still the status our last write replaced writes
    nothing: the index has not seen that write yet (a status computed over it would only
    restamp its conditions), and the write's own event asks for the next look.
    With `hold`, a change of the components alone (one StatefulSet Ready before the other)
    is not written now but kept in `ledger.held`: the change of Ready that usually follows
    within moments writes it, or else the caller's later look without `hold`."""
    if status_only and ledger.replaced.get(record.key) == digest(previous):
        logger.debug("%s/%s: status waits for the index to show our write", *record.key)
        return
    if status == previous:
        ledger.held.pop(record.key, None)
        return
    if hold and components_only(previous, status):
        logger.debug("%s/%s: a change of the components alone held", *record.key)
        ledger.held[record.key] = never_ready(previous)
        return
    ledger.held.pop(record.key, None)
    await kube.write_status("Environment", record.namespace, record.name, status, previous)
    ledger.replaced[record.key] = digest(previous)
    logger.debug("%s/%s: status written: %s", *record.key, _outline(status))
    events = [ready_event(previous, status), volumes_event(previous, status)]
    for event in [*events, *backup_events(previous, status)]:
        if event is not None:
            await post_event(kube, record.involved, *event)


def _outline(status: EnvironmentStatus) -> str:
    return ", ".join(f"{c.type}={c.status} {c.reason}" for c in status.conditions)
