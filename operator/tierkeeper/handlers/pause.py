"""Whether kopf has paused the operator: with peering, another replica of higher priority
is the one that acts.

kopf then stops its own watches and daemons, but not the operator's
(`handlers/watches.py`), whose changes ask for reconciles and Release steps, nor its
timers. Those must not act, or a replica that stepped down would still write. kopf keeps
that switch to itself and hands it to its orchestrator as it starts; this hands it to us
as well (the kopf version is pinned in pyproject.toml for this reason).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kopf._cogs.aiokits.aiotoggles import ToggleSet
from kopf._core.reactor import orchestration

# How often `follow` looks at the switch: kopf tells no one when it flips, and the set of
# toggles behind it changes shape as peering starts. A takeover waits this much longer.
FOLLOW_SECONDS = 0.5


class Pause:
    """Whether this replica must not act: another one holds the peering, or kopf has not
    yet decided which one does."""

    def __init__(self, *, peering: bool, toggles: ToggleSet | None = None) -> None:
        self._toggles = toggles
        self._peering = peering

    def is_on(self) -> bool:
        toggles = self._toggles
        # Until kopf's orchestrator starts, no one has decided that this replica acts.
        if toggles is None:
            return True
        # With peering, the orchestrator's first toggle is "the peering CRD is missing";
        # the peering's own, on from the start, comes when the CRD is found: until then the
        # set reads off while nothing has been decided.
        if self._peering and len(toggles) < 2:
            return True
        return toggles.is_on()

    async def follow(self, act: Callable[[], None], every: float = FOLLOW_SECONDS) -> None:
        """Call `act` each time this replica becomes the one that acts, the first included."""
        acting = False
        while True:
            now = not self.is_on()
            if now and not acting:
                act()
            acting = now
            await asyncio.sleep(every)

    @classmethod
    def capture(cls, *, peering: bool) -> Pause:
        """Call before `kopf.run`: its orchestrator, started by it, shows us the switch."""
        pause = cls(peering=peering)
        original = orchestration.orchestrator

        async def orchestrator(*, operator_paused: ToggleSet, **kwargs: Any) -> None:
            pause._toggles = operator_paused
            await original(operator_paused=operator_paused, **kwargs)

        orchestration.orchestrator = orchestrator
        return pause
