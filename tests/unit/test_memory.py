"""What the operator remembers of its own writes decides whether a watch event is drift."""

from __future__ import annotations

from tierkeeper.models.child import ChildSummary
from tierkeeper.reconcile.environment import Memory
from tierkeeper.render import Child

KEY = ("team", "shop")
SERVICE = ChildSummary(kind="Service", name="shop", version="fields:abc")


def test_a_child_deleted_while_its_first_write_is_in_flight_has_drifted() -> None:
    memory = Memory()
    wanted = [Child("v1", "Service", "shop", {"kind": "Service"})]
    with memory.expecting(KEY, wanted):
        assert memory.drifted(KEY, SERVICE, deleted=True)
    assert not memory.drifted(KEY, SERVICE, deleted=True), "nothing written, nothing wanted"


def test_a_child_deleted_because_it_is_unwanted_has_not_drifted() -> None:
    memory = Memory()
    with memory.expecting(KEY, [Child("v1", "Service", "shop", None)]):
        assert not memory.drifted(KEY, SERVICE, deleted=True)


def test_our_own_write_coming_back_has_not_drifted_but_an_edit_has() -> None:
    memory = Memory()
    memory.written[KEY] = {("Service", "shop"): "fields:abc"}
    assert not memory.drifted(KEY, SERVICE, deleted=False)
    edited = ChildSummary(kind="Service", name="shop", version="fields:def")
    assert memory.drifted(KEY, edited, deleted=False)
    assert memory.drifted(KEY, SERVICE, deleted=True)
