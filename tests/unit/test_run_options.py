"""Options of `tierkeeper run` that are more than a pass-through to kopf."""

from __future__ import annotations

import pytest

from tierkeeper.cli.run import priority


def test_automatic_priorities_differ_between_replicas_and_stay_put(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def auto(pod: str) -> int:
        monkeypatch.setenv("POD_ID", pod)
        return priority("auto")

    assert auto("tierkeeper-7d9f-abcde") != auto("tierkeeper-7d9f-fghij")
    assert auto("tierkeeper-7d9f-abcde") == auto("tierkeeper-7d9f-abcde") > 0
    assert priority("50") == 50
