"""The look at each Environment's primary object store, on a timer of its own.

Only Environments of builtin PostgreSQL with a store have one. A look asks for a status
reconcile only when what the status would say of the backups differs from what it says:
an idle operator writes nothing, however often it looks. CloudNativePG reports its
backups in its Cluster's status, whose changes reach the Environment by their own
watch; a timer only wakes it when its newest base backup grows too old.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import functools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tierkeeper.apply.errors import NotFound
from tierkeeper.backup.store_listing import (
    StoreCredentials,
    StoreListing,
    StoreReading,
    StoreUnreachable,
    read_store,
)
from tierkeeper.models import EnvironmentStatus, InvalidSpec, ResolvedEnvironment, resolve_document
from tierkeeper.models.base import SecretKeyRef
from tierkeeper.models.status import parse_status
from tierkeeper.reconcile.records import EnvRecord, ObjectKey
from tierkeeper.status.backup import (
    BACKUP_CONDITIONS,
    BackupInputs,
    backup_view,
    base_backup_due,
    store_configured,
)
from tierkeeper.status.conditions import find

if TYPE_CHECKING:
    from tierkeeper.handlers.state import OperatorState

logger = logging.getLogger(__name__)

# archive_timeout is 5 minutes in production: a look each minute sees a stall well
# within the 2 x archive_timeout the WALArchiving condition allows.
POLL_SECONDS = 60.0


@dataclass
class StorePolls:
    """Each polled Environment's timer and last reading."""

    readings: dict[ObjectKey, StoreReading] = field(default_factory=dict)
    timers: dict[ObjectKey, asyncio.TimerHandle] = field(default_factory=dict)
    # CloudNativePG: when BaseBackup turns False by age alone.
    due: dict[ObjectKey, asyncio.TimerHandle] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reading(self, key: ObjectKey) -> StoreReading | None:
        return self.readings.get(key)

    def forget(self, key: ObjectKey) -> None:
        for timers in (self.timers, self.due):
            if (timer := timers.pop(key, None)) is not None:
                timer.cancel()
        self.readings.pop(key, None)


def polled(env: ResolvedEnvironment) -> bool:
    backup = env.spec.postgres.backup
    return (
        env.spec.postgres.enabled
        and backup.enabled
        and backup.object_store is not None
        and not env.cloudnative_pg
    )


def keep_polling(state: OperatorState, record: EnvRecord) -> None:
    """After a reconcile: start the Environment's looks if it needs them, or stop them.
    A spec without a store is told apart without resolving it (most have none), unless
    the operator's Environment defaults may give it one."""
    polls = state.store_polls
    key = record.key
    backup = (record.spec.get("postgres") or {}).get("backup") or {}
    defaults = state.config.site.environment_defaults
    env = resolved(state, record) if backup.get("objectStore") or defaults else None
    if env is None or not store_configured(env):
        polls.forget(key)
    elif env.cloudnative_pg:
        status = parse_status(EnvironmentStatus, record.status)
        after = base_backup_due(env, status, now=datetime.now(UTC))
        if (timer := polls.due.pop(key, None)) is not None:
            timer.cancel()
        if after is not None:
            wake = functools.partial(state.environments.request, key, converge=False)
            loop = asyncio.get_running_loop()
            polls.due[key] = loop.call_later(after, wake, context=contextvars.Context())
    elif key not in polls.timers:
        _schedule(state, key, 1.0)


def resolved(state: OperatorState, record: EnvRecord) -> ResolvedEnvironment | None:
    try:
        return resolve_document(
            record.spec,
            name=record.name,
            namespace=record.namespace,
            defaults=state.config.site.environment_defaults,
        )
    except InvalidSpec:
        return None


def _schedule(state: OperatorState, key: ObjectKey, after: float) -> None:
    polls = state.store_polls
    task_later(polls.timers, polls.tasks, key, after, lambda: _look(state, key))


def task_later(
    timers: dict[ObjectKey, asyncio.TimerHandle],
    tasks: set[asyncio.Task[None]],
    key: ObjectKey,
    after: float,
    work: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    """`work()` as a task in `after` seconds, on a timer kept as `timers[key]`; the task
    is held in `tasks` until it ends (the loop keeps only weak references)."""

    def start() -> None:
        task = asyncio.get_running_loop().create_task(work())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop = asyncio.get_running_loop()
    timers[key] = loop.call_later(after, start, context=contextvars.Context())


async def _look(state: OperatorState, key: ObjectKey) -> None:
    polls = state.store_polls
    record = state.environment(key)
    env = resolved(state, record) if record is not None and not record.deleting else None
    if record is None or env is None or not polled(env):
        polls.forget(key)
        return
    try:
        # A standby replica (another one acts) neither reads nor asks for reconciles.
        if not state.paused:
            reading = await _read(state, env, polls.reading(key))
            polls.readings[key] = reading
            previous = parse_status(EnvironmentStatus, record.status)
            if _would_change(env, state, key, reading, previous):
                state.environments.request(key, converge=False)
    except Exception:
        logger.exception("%s/%s: the look at the object store failed", *key)
    finally:
        if key in polls.timers:
            _schedule(state, key, POLL_SECONDS)


async def _read(
    state: OperatorState, env: ResolvedEnvironment, before: StoreReading | None
) -> StoreReading:
    store = env.spec.postgres.backup.object_store
    assert store is not None
    refs = [store.credentials.access_key_id, store.credentials.secret_access_key]
    try:
        # Each Secret once, though the keys usually share one.
        secrets = {ref.name: await _secret(state, env.namespace, ref.name) for ref in refs}
        ca = None
        if store.ca_bundle is not None:
            ca = _value(await _secret(state, env.namespace, store.ca_bundle.name), store.ca_bundle)
        key_id, secret_key = (_value(secrets[ref.name], ref) for ref in refs)
        credentials = StoreCredentials(key_id, secret_key, ca)
    except StoreUnreachable as error:
        return error
    previous = before if isinstance(before, StoreListing) else None
    try:
        return await asyncio.to_thread(read_store, store, env.name, credentials, previous)
    except StoreUnreachable as error:
        return error


async def _secret(state: OperatorState, namespace: str, name: str) -> dict[str, Any]:
    try:
        return await state.kube.get("v1", "Secret", namespace, name)
    except NotFound:
        raise StoreUnreachable(f"Secret {name} does not exist") from None


def _value(secret: dict[str, Any], ref: SecretKeyRef) -> str:
    value = (secret.get("data") or {}).get(ref.key)
    if value is None:
        raise StoreUnreachable(f"Secret {ref.name} has no key {ref.key}")
    return base64.b64decode(value).decode()


def _would_change(
    env: ResolvedEnvironment,
    state: OperatorState,
    key: ObjectKey,
    reading: StoreReading,
    previous: EnvironmentStatus,
) -> bool:
    """Whether status.backup or a backup condition would say something new."""
    database = find(previous.conditions, "DatabaseReady")
    view = backup_view(
        env,
        state.live(key),
        BackupInputs(reading, database is not None and database.status == "True"),
        previous,
        now=datetime.now(UTC).replace(microsecond=0),
    )
    said = {
        (c.type, c.status, c.reason, c.message)
        for c in previous.conditions
        if c.type in BACKUP_CONDITIONS
    }
    says = {(c.type, c.status, c.reason, c.message) for c in view.conditions}
    return view.status != previous.backup or said != says
