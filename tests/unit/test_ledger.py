"""The write ledger: what the operator wrote decides whether a watch event is drift."""

from __future__ import annotations

import asyncio

from tests.unit.fake_api import FakeApi
from tierkeeper.apply.children import Holder, Owner, names_taken
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


class Watched:
    """What the child watches see, by name: one Service of another Environment."""

    def follows(self, kind: str) -> bool:
        return kind == "Service"

    def holder(self, namespace: str, kind: str, name: str) -> Holder | None:
        if (namespace, kind, name) == ("team", "Service", "shop-redis"):
            return Holder("uid-shop-redis-env", ("shop-redis",))
        return None


def test_a_name_another_environment_holds_is_taken_without_a_request() -> None:
    ledger = WriteLedger(watched=Watched())
    api = FakeApi()
    owner = Owner("shop", "uid-shop")
    wanted = [("v1", "Service", "shop-redis"), ("v1", "Service", "shop")]
    taken = asyncio.run(names_taken(api.client(), "team", wanted, {}, owner, ledger))
    assert taken == ["Service shop-redis already belongs to Environment shop-redis"]
    assert api.calls == [], "the watches know, the API server is not asked"


def test_a_name_being_written_by_another_environment_is_taken() -> None:
    ledger = WriteLedger(watched=Watched())
    owner = Owner("shop", "uid-shop")
    other = [Child("v1", "Service", "shop-web", {"kind": "Service"})]
    with ledger.expecting(("team", "checkout"), other):
        assert ledger.held_by("team", "Service", "shop-web", owner) == "Environment checkout"
        assert ledger.held_by("team", "Service", "shop-web", Owner("checkout", "u")) is None
    assert ledger.held_by("team", "Service", "shop-web", owner) is None


def test_without_the_watches_a_name_is_looked_up() -> None:
    api = FakeApi()
    owner = Owner("shop", "uid-shop")
    wanted = [("v1", "Service", "shop-redis")]
    assert asyncio.run(names_taken(api.client(), "team", wanted, {}, owner, WriteLedger())) == []
    assert [c.verb for c in api.calls] == ["get"]


def test_a_written_child_the_watches_have_not_reported_is_unseen() -> None:
    ledger = WriteLedger(watched=Watched())
    ledger.record(KEY, [], {("Service", "shop"): "fields:abc", ("HTTPRoute", "shop"): "1"})
    assert ledger.unseen(KEY, {}) == ("Service", "shop")
    assert ledger.unseen(KEY, {("Service", "shop"): SERVICE}) is None, "no watch reports routes"
    assert WriteLedger().unseen(KEY, {}) is None, "nothing written"
