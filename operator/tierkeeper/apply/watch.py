"""List-then-watch of one kind in one namespace (or all), as a stream of changes.

Each listing is framed (`LISTING` ... `SYNCED`): a cache fed by the stream knows when it
holds everything, and after a gap (an expired resourceVersion, a lost connection) which of
the objects it holds were not listed again, i.e. were deleted meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import aiohttp

from tierkeeper.apply.client import ApiClient, Object, object_path
from tierkeeper.apply.errors import ApiError

logger = logging.getLogger(__name__)

# The API server ends each watch after this long (asked for), the client gives up a
# silent connection a little after: a stream that died without a word is noticed.
WATCH_SECONDS = 60
CLIENT_TIMEOUT_SECONDS = WATCH_SECONDS + 30
# Objects per page of a listing. The watches of every kind list at once at start-up, and
# the summaries kept from a page are allocated between its objects: pages of 500 left
# pymalloc's arenas holding the freed pages' blocks around the summaries for good.
PAGE = 100
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Change:
    type: Literal["listing", "upsert", "deleted", "synced"]
    body: Object


LISTING = Change("listing", {})
SYNCED = Change("synced", {})


class Expired(Exception):
    """The resourceVersion a watch resumed from is no longer in the API server's history."""


@dataclass
class _Cursor:
    """The resourceVersion the next watch resumes from."""

    version: str = ""


async def changes(
    kube: ApiClient, api_version: str, kind: str, namespace: str | None, selector: str
) -> AsyncIterator[Change]:
    """Every change of the selected objects, forever: a listing, then a watch resumed from
    where the last one ended; a new listing when that is too old or the watch failed."""
    path = object_path(api_version, kind, namespace)
    failures = 0
    while True:
        cursor = _Cursor()
        try:
            async for change in _listing(kube, path, selector, cursor):
                yield change
            while True:
                async for change in _watch(kube, path, selector, cursor):
                    yield change
                failures = 0
        except Expired:
            logger.info("watch of %s expired; listing again", path)
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
            failures += 1
            logger.error("watch of %s failed (%s); listing again in %.0f s", path, error, delay)
            await asyncio.sleep(delay)


async def _listing(
    kube: ApiClient, path: str, selector: str, cursor: _Cursor
) -> AsyncIterator[Change]:
    query = {"labelSelector": selector, "limit": str(PAGE)}
    yield LISTING
    while True:
        page = await kube.request("GET", path, query=query)
        meta = page.get("metadata", {})
        cursor.version = str(meta.get("resourceVersion", ""))
        for item in page.get("items") or []:
            yield Change("upsert", item)
        if not meta.get("continue"):
            break
        query = {**query, "continue": str(meta["continue"])}
    yield SYNCED


async def _watch(
    kube: ApiClient, path: str, selector: str, cursor: _Cursor
) -> AsyncIterator[Change]:
    """One watch request's changes; bookmarks only move the cursor."""
    query = {
        "watch": "true",
        "labelSelector": selector,
        "resourceVersion": cursor.version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(WATCH_SECONDS),
    }
    async for event in kube.stream(path, query, request_timeout=CLIENT_TIMEOUT_SECONDS):
        kind = event.get("type")
        body: Object = event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                raise Expired(body.get("message", ""))
            raise ApiError(int(body.get("code", 500)), body, f"watch {path}")
        cursor.version = str(body.get("metadata", {}).get("resourceVersion", cursor.version))
        if kind != "BOOKMARK":
            yield Change("deleted" if kind == "DELETED" else "upsert", body)
