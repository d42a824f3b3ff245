"""Statuses kept in the records of Environments and Releases share their repeated strings."""

from __future__ import annotations

import json

from tierkeeper.handlers.compact import compact

STATUS = json.dumps(
    {
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready", "message": "m" * 100},
        ],
        "observedGeneration": 3,
    }
)


def test_two_copies_of_a_status_are_equal_and_share_keys_and_short_values() -> None:
    first, second = compact(json.loads(STATUS)), compact(json.loads(STATUS))
    assert first == second == json.loads(STATUS)
    one, other = first["conditions"][0], second["conditions"][0]
    for key in one:
        (same,) = [k for k in other if k == key]
        assert same is key
    assert one["reason"] is other["reason"]
