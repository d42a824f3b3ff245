"""The status write of a reconcile: a change of the components alone may wait for Ready's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.unit.fake_api import FakeApi
from tierkeeper.models import EnvironmentStatus
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.reconcile.records import EnvRecord
from tierkeeper.reconcile.report import report
from tierkeeper.status.conditions import Observation, merge_conditions, observe
from tierkeeper.status.environment import components_only

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RECORD = EnvRecord("team", "shop", "uid-shop", 1, {}, {}, False)


def status(*observations: Observation) -> EnvironmentStatus:
    conditions = merge_conditions([], list(observations), now=NOW, generation=1)
    return EnvironmentStatus(observed_generation=1, conditions=conditions)


PROGRESSING = observe("Ready", False, "Progressing", "DatabaseReady: 0/1 ready")
BOTH_WAITING = status(
    PROGRESSING,
    observe("DatabaseReady", False, "Progressing", "0/1 ready"),
    observe("CacheReady", False, "Progressing", "0/1 ready"),
)
CACHE_READY = status(
    observe("Ready", False, "Progressing", "CacheReady: 0/1 ready"),
    observe("DatabaseReady", True, "Available", "1/1 ready"),
    observe("CacheReady", False, "Progressing", "0/1 ready"),
)
READY = status(
    observe("Ready", True, "Ready", "all components are ready"),
    observe("DatabaseReady", True, "Available", "1/1 ready"),
    observe("CacheReady", True, "Available", "1/1 ready"),
)


def test_a_change_of_the_components_alone_is_one_inside_a_transition_of_ready() -> None:
    assert components_only(BOTH_WAITING, CACHE_READY)
    assert not components_only(CACHE_READY, READY)
    degraded = status(*[PROGRESSING], observe("Degraded", True, "Progressing", "m"))
    assert not components_only(status(PROGRESSING), degraded)


def test_ready_from_creating_to_progressing_is_a_step_and_a_refusal_is_not() -> None:
    creating = status(observe("Ready", False, "Creating", "DatabaseReady: does not exist yet"))
    assert components_only(creating, status(PROGRESSING))
    refused = status(observe("Ready", False, "ChildRejected", "m"))
    assert not components_only(creating, refused)


def cluster() -> FakeApi:
    api = FakeApi()
    meta = {"name": "shop", "namespace": "team", "uid": "uid-shop"}
    api.put({"apiVersion": "tierkeeper.dev/v1alpha1", "kind": "Environment", "metadata": meta})
    return api


def test_a_held_change_is_not_written_and_the_next_change_of_ready_writes_it() -> None:
    api, ledger = cluster(), WriteLedger()
    asyncio.run(report(api.client(), RECORD, BOTH_WAITING, CACHE_READY, ledger, hold=True))
    assert api.calls == [] and ledger.held == {RECORD.key: True}
    asyncio.run(report(api.client(), RECORD, BOTH_WAITING, READY, ledger, hold=True))
    # A first Ready is told by the status alone: no Event.
    assert [c.verb for c in api.calls] == ["write_status"]
    assert RECORD.key not in ledger.held


def test_a_held_change_after_a_first_ready_settles_sooner_and_ready_again_is_an_event() -> None:
    api, ledger = cluster(), WriteLedger()
    was_ready = observe("Degraded", False, "AsExpected", "m")
    changing = status(PROGRESSING, was_ready, *BOTH_WAITING.conditions[1:])
    cache_ready = status(*CACHE_READY.conditions, was_ready)
    asyncio.run(report(api.client(), RECORD, changing, cache_ready, ledger, hold=True))
    assert ledger.held == {RECORD.key: False}
    asyncio.run(
        report(api.client(), RECORD, changing, status(*READY.conditions, was_ready), ledger)
    )
    assert [c.verb for c in api.calls] == ["write_status", "create"]


def test_without_hold_a_change_of_the_components_is_written() -> None:
    api, ledger = cluster(), WriteLedger()
    asyncio.run(report(api.client(), RECORD, BOTH_WAITING, CACHE_READY, ledger))
    assert [c.verb for c in api.calls] == ["write_status"]


def test_a_status_only_look_over_an_index_that_lags_our_write_writes_nothing() -> None:
    api, ledger = cluster(), WriteLedger()
    nothing = EnvironmentStatus()
    asyncio.run(report(api.client(), RECORD, nothing, BOTH_WAITING, ledger))
    later = status(
        observe("Ready", False, "Progressing", "DatabaseReady: 0/1 ready"),
        observe("DatabaseReady", False, "Progressing", "0/1 ready"),
    )
    # The index still shows no status: what is computed over it differs only in its times.
    asyncio.run(report(api.client(), RECORD, nothing, later, ledger, status_only=True))
    assert [c.verb for c in api.calls] == ["write_status"]
    # Once the index shows the write, a change is written.
    asyncio.run(report(api.client(), RECORD, BOTH_WAITING, READY, ledger, status_only=True))
    assert [c.verb for c in api.calls] == ["write_status", "write_status"]
