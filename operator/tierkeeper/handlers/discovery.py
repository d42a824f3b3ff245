"""Making kopf serve a CRD installed while the operator runs.

kopf looks up a group's resources in API discovery each time one of the group's CRDs
changes, and at no other time. Discovery lags a new CRD by a moment (seconds on a busy
API server), so the lookup at the CRD's last change can miss it, and kopf then never
watches its objects: an HA Environment would never see its CloudNativePG Cluster become
Ready. This asks kopf to look again until what it serves matches what exists.

kopf has no public way to ask for that; this module and `pause.py` are the only ones that
reach into its internals (the kopf version is pinned in pyproject.toml for this reason).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

import kopf
from kopf._cogs.clients import scanning
from kopf._cogs.structs.references import Insights
from kopf._core.reactor.observation import revise_resources

logger = logging.getLogger(__name__)

# Seconds between lookups: about half a minute in all, then the next CRD change retries.
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)


def new_insights() -> Insights:
    """Given to kopf at start, and through the memo to `Discovery`: both see the same."""
    return Insights()


@dataclass
class Discovery:
    """Makes kopf serve the kinds of a CRD installed (or removed) while it runs."""

    settings: kopf.OperatorSettings
    insights: Insights

    def serves(self, group: str, plural: str) -> bool:
        return any(r.group == group and r.plural == plural for r in self.insights.watched_resources)

    async def settle(self, group: str, plurals: Collection[str], *, present: bool) -> bool:
        """Look the group up again until kopf serves all of `plurals` (or none of them, when
        they are gone); False if discovery still disagrees after the backoff."""
        for delay in (0.0, *BACKOFF):
            await asyncio.sleep(delay)
            if all(self.serves(group, plural) == present for plural in plurals):
                return True
            await self._rescan(group)
        logger.warning(
            "API discovery still disagrees with the CRDs of %s after %.0f s; the next change "
            "of one of them looks again",
            group,
            sum(BACKOFF),
        )
        return False

    async def _rescan(self, group: str) -> None:
        resources = await scanning.scan_resources(
            groups={group}, settings=self.settings, logger=logger
        )
        async with self.insights.revised:
            revise_resources(
                resources=resources,
                insights=self.insights,
                registry=kopf.get_default_registry(),
                group=group,
            )
            await self.insights.backbone.fill(resources=resources)
            self.insights.revised.notify_all()
