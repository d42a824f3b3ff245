"""Which deletions keep data: read off the spec (kopf asks on every event), it must agree
with the resolved policy the reconcile acts on, for every tier and explicit setting."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helpers import env_of
from tierkeeper.models import DeletionPolicy
from tierkeeper.models.environment import Tier
from tierkeeper.reconcile.retention import keeps_data


@pytest.mark.parametrize("tier", [tier.value for tier in Tier])
@pytest.mark.parametrize("explicit", [None, "Retain", "Delete"])
def test_the_spec_read_agrees_with_the_resolved_deletion_policy(
    tier: str, explicit: str | None
) -> None:
    spec: dict[str, Any] = {"tier": tier}
    if explicit is not None:
        spec["deletionPolicy"] = explicit
    resolved = env_of(spec).spec.deletion_policy
    assert keeps_data(spec) == (resolved is DeletionPolicy.RETAIN)


def test_a_spec_of_no_known_tier_keeps_its_data() -> None:
    assert keeps_data({"tier": "experimental"})
    assert keeps_data({})
