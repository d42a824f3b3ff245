"""The write ledger: what the operator wrote decides whether a watch event is drift."""

from __future__ import annotations

from tierkeeper.models.child import ChildSummary
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.render import Child

KEY = ("team", "shop")
SERVICE = ChildSummary(kind="Service", name="shop", version="fields:abc")


def test_a_child_deleted_while_its_first_write_is_in_flight_has_drifted() -> None:
    ledger = WriteLedger()
    wanted = [Child("v1", "Service", "shop", {"kind": "Service"})]
    with ledger.expecting(KEY, wanted):
        assert ledger.drifted(KEY, SERVICE, deleted=True)
    assert not ledger.drifted(KEY, SERVICE, deleted=True), "nothing written, nothing wanted"


def test_a_child_deleted_because_it_is_unwanted_has_not_drifted() -> None:
    ledger = WriteLedger()
    with ledger.expecting(KEY, [Child("v1", "Service", "shop", None)]):
        assert not ledger.drifted(KEY, SERVICE, deleted=True)


def test_our_own_write_coming_back_has_not_drifted_but_an_edit_has() -> None:
    ledger = WriteLedger()
    ledger.record(KEY, [], {("Service", "shop"): "fields:abc"})
    assert not ledger.drifted(KEY, SERVICE, deleted=False)
    edited = ChildSummary(kind="Service", name="shop", version="fields:def")
    assert ledger.drifted(KEY, edited, deleted=False)
    assert ledger.drifted(KEY, SERVICE, deleted=True)


def test_a_child_written_by_two_writes_at_once_is_expected_until_both_end() -> None:
    ledger = WriteLedger()
    wanted = [Child("v1", "Service", "shop", {"kind": "Service"})]
    with ledger.expecting(KEY, wanted):
        with ledger.expecting(KEY, wanted):
            pass
        assert ledger.drifted(KEY, SERVICE, deleted=True)
    assert not ledger.drifted(KEY, SERVICE, deleted=True)


def test_a_child_the_write_deleted_is_no_longer_ours() -> None:
    ledger = WriteLedger()
    ledger.record(KEY, [], {("Service", "shop"): "fields:abc"})
    ledger.record(KEY, [Child("v1", "Service", "shop", None)], {})
    assert not ledger.drifted(KEY, SERVICE, deleted=True)


def test_our_write_coming_back_before_its_answer_has_not_drifted() -> None:
    ledger = WriteLedger()
    ledger.record(KEY, [], {("Service", "shop"): "fields:old"})
    wanted = [Child("v1", "Service", "shop", {"kind": "Service"})]
    with ledger.expecting(KEY, wanted):
        assert not ledger.drifted(KEY, SERVICE, deleted=False)
    assert ledger.drifted(KEY, SERVICE, deleted=False), "after the write, a change is drift"


def test_an_event_of_the_spec_being_written_asks_for_no_converge() -> None:
    ledger = WriteLedger()
    assert ledger.spec_changed(KEY, 1)
    with ledger.converging_to(KEY, 1):
        assert not ledger.spec_changed(KEY, 1), "kopf's finalizer, our own status write"
        assert ledger.spec_changed(KEY, 2), "a new spec meanwhile"
    assert ledger.spec_changed(KEY, 1), "the converge did not finish"
