"""Whether a replica may act, read off kopf's own pause switch: never before kopf has
decided, never while another replica holds the peering, and every time it takes over."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits.aiotoggles import ToggleSet

from tierkeeper.handlers.pause import Pause


def test_no_replica_acts_before_kopf_has_started() -> None:
    async def scenario() -> None:
        assert Pause(peering=False).is_on()
        assert Pause(peering=True).is_on()

    asyncio.run(scenario())


def test_a_standalone_operator_acts_once_kopf_has_started() -> None:
    async def scenario() -> None:
        toggles = ToggleSet(any)
        await toggles.make_toggle(False, name="peering CRD is missing")
        assert not Pause(peering=False, toggles=toggles).is_on()

    asyncio.run(scenario())


def test_a_peering_replica_waits_until_the_peering_says_it_leads() -> None:
    async def scenario() -> None:
        toggles = ToggleSet(any)
        await toggles.make_toggle(False, name="peering CRD is missing")
        pause = Pause(peering=True, toggles=toggles)
        # The orchestrator has started but not yet looked at the peering.
        assert pause.is_on()
        conflicts = await toggles.make_toggle(True, name="tierkeeper@team")
        assert pause.is_on()
        await conflicts.turn_to(False)
        assert not pause.is_on()

    asyncio.run(scenario())


def test_every_takeover_asks_for_a_look_at_everything_once() -> None:
    async def scenario() -> None:
        toggles = ToggleSet(any)
        await toggles.make_toggle(False, name="peering CRD is missing")
        conflicts = await toggles.make_toggle(True, name="tierkeeper@team")
        pause = Pause(peering=True, toggles=toggles)
        acted = asyncio.Queue[int]()
        follower = asyncio.create_task(pause.follow(lambda: acted.put_nowait(1), every=0.01))
        await conflicts.turn_to(False)  # leads
        await asyncio.wait_for(acted.get(), 5)
        await conflicts.turn_to(True)  # steps down
        await asyncio.sleep(0.05)
        await conflicts.turn_to(False)  # leads again
        await asyncio.wait_for(acted.get(), 5)
        follower.cancel()
        # Once per takeover: stepping down and staying in the lead asked for nothing.
        assert acted.empty()

    asyncio.run(scenario())
