"""Whether kopf has paused the operator: with peering, another replica of higher priority
is the one that acts.

kopf then stops its own watches and daemons, but not the operator's: its watches of
children (`handlers/children.py`), whose events ask for reconciles, and the timers of
Release steps. Those must stop asking too, or a replica that stepped down would still
write. kopf keeps that switch to itself and hands it
to its orchestrator as it starts; this hands it to us as well (the kopf version is pinned
in pyproject.toml for this reason).
"""

from __future__ import annotations

from typing import Any

from kopf._cogs.aiokits.aiotoggles import ToggleSet
from kopf._core.reactor import orchestration


class Pause:
    """Whether another replica holds the peering: this one then writes nothing."""

    def __init__(self) -> None:
        self._toggles: ToggleSet | None = None

    def is_on(self) -> bool:
        return self._toggles is not None and self._toggles.is_on()

    @classmethod
    def capture(cls) -> Pause:
        """Call before `kopf.run`: its orchestrator, started by it, shows us the switch."""
        pause = cls()
        original = orchestration.orchestrator

        async def orchestrator(*, operator_paused: ToggleSet, **kwargs: Any) -> None:
            pause._toggles = operator_paused
            await original(operator_paused=operator_paused, **kwargs)

        orchestration.orchestrator = orchestrator
        return pause
