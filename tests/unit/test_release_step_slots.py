"""Bounded Release steps: a health gate that waits holds no slot, so it holds back no
other Release's rollback. Two Releases on the in-memory API (`release_rig.py`), stepped by
a `Coalescer` with one slot, as the operator steps them (each step's wait re-arms a timer;
a probe's answer asks for a step); the gate probes a server that never answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.release_rig import FakeGate, ReleaseRig
from tests.unit.test_blue_green import (
    BLUE,
    GREEN,
    blue_green_spec,
    live_on_blue,
    promoted_on_green,
    ready,
)
from tierkeeper.config import OperatorConfig
from tierkeeper.handlers.coalesce import Coalescer
from tierkeeper.models import Phase
from tierkeeper.reconcile.release import blue_green
from tierkeeper.reconcile.release.health_gate import HealthChecks

# Probes time out long after the test's bound on the rollback: one that held a slot while
# it waits would hold the other Release's rollback past it.
CHECK = {"intervalSeconds": 1, "timeoutSeconds": 60, "failureThreshold": 100}
ROLLBACK_WITHIN = 5.0


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A health URL template whose server takes connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        yield f"http://127.0.0.1:{port}/{{namespace}}/{{service}}{{path}}"


def checked_spec() -> dict[str, Any]:
    spec = blue_green_spec()
    spec["app"]["healthCheck"] = CHECK
    return spec


def test_a_waiting_gate_does_not_hold_back_another_releases_rollback_when_the_slots_are_full(
    monkeypatch: pytest.MonkeyPatch, silent_url: str
) -> None:
    gating, rolling_back = (
        ReleaseRig(checked_spec(), "shop:1"),
        ReleaseRig(checked_spec(), "shop:1"),
    )
    with monkeypatch.context() as setup:
        # Brought to where the test starts with gates that pass at once.
        setup.setattr(blue_green, "check_health", FakeGate())
        promoted_on_green(rolling_back)
        live_on_blue(gating)
        gating.change_spec(image="shop:2")
        gating.step()
        ready(gating, GREEN)
        gating.step()
    assert gating.status.phase is Phase.VERIFYING and gating.status.switched_at is None
    assert rolling_back.serving() == "green"
    gating.config = OperatorConfig(health_url_template=silent_url)
    rigs = {"gating": gating, "rolling-back": rolling_back}

    async def run() -> float:
        loop = asyncio.get_running_loop()
        rolled_back = asyncio.Event()

        async def step(key: str, _: bool) -> None:
            wait = await rigs[key].step_now()
            if rolling_back.serving() == "blue":
                rolled_back.set()
            if wait is not None:
                loop.call_later(wait, steps.request, key, converge=False)

        steps = Coalescer(step, concurrency=1)
        gating.health_checks = HealthChecks(lambda _: steps.request("gating", converge=False))
        steps.request("gating", converge=False)
        await asyncio.sleep(0.5)  # the gate's probe is out, unanswered
        rolling_back.annotate_rollback()
        asked = loop.time()
        steps.request("rolling-back", converge=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rolled_back.wait(), ROLLBACK_WITHIN)
        took = loop.time() - asked
        await gating.health_checks.stop()
        await steps.stop()
        return took

    took = asyncio.run(run())
    assert rolling_back.serving() == "blue", f"no rollback within {ROLLBACK_WITHIN}s"
    assert rolling_back.status.phase is Phase.ROLLED_BACK
    assert took < ROLLBACK_WITHIN
    assert gating.status.phase is Phase.VERIFYING, "the gate still waits for its answer"
    assert gating.serving() == BLUE.value
