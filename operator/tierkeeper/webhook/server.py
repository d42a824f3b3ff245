"""The HTTP edge of the hook: `POST /github` for GitHub's deliveries, `POST /deploy` for
the generic call, `GET /healthz` for probes.

Every answer is JSON `{outcome, message}` and counted by event and outcome. A delivery
passes, in order: the sender's rate, the body's size and read time, its signature, the
replay check, its parsing, the matching, the writes. What each refusal answers:

| outcome             | status | when                                                      |
|---------------------|--------|-----------------------------------------------------------|
| rate_limited        | 429    | the sender (address) is over its rate                     |
| too_large           | 413    | the body is over the limit                                |
| timeout             | 408    | the body did not arrive in time                           |
| missing_signature   | 401    | no X-Hub-Signature-256 header                             |
| malformed           | 400    | the body is not JSON, or not what its event carries       |
| no_secret           | 401    | no secret for the repository it names, and no default     |
| bad_signature       | 401    | the signature does not match                              |
| missing_delivery    | 400    | a GitHub delivery without X-GitHub-Delivery               |
| stale               | 409    | a generic call dated outside the window                   |
| replayed            | 409    | a delivery already seen                                   |
| unknown_repository  | 404    | no Environment deploys the repository                     |
| forbidden           | 503    | RBAC refuses the hook a read or a write                   |
| rejected            | 422    | the API server refuses the new Release spec               |
| api_error           | 502    | the API server failed otherwise                           |

Well-formed deliveries that deploy nothing (another event, a failed run, another branch)
answer 202 with the reason; a deploy answers 200 with the Releases it wrote.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from tierkeeper.apply.client import Object
from tierkeeper.apply.errors import ApiError, Forbidden, Invalid
from tierkeeper.webhook import metrics
from tierkeeper.webhook.events import (
    GENERIC,
    BadPayload,
    Change,
    Skip,
    parse_generic,
    parse_github,
    repository_of,
)
from tierkeeper.webhook.follow import Followers, ReleaseWatch
from tierkeeper.webhook.guard import (
    SIGNATURE_HEADER,
    RateLimit,
    ReplayCache,
    signature_matches,
    within_window,
)
from tierkeeper.webhook.matching import Target, plan
from tierkeeper.webhook.secrets import SecretStore

log = logging.getLogger("tierkeeper.webhook")

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"


class Cluster(ReleaseWatch, Protocol):
    async def environments(self) -> list[Object]: ...
    async def releases(self) -> list[Object]: ...
    async def deploy(self, target: Target, change: Change) -> None: ...


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    read_timeout: float = 10.0
    # How long delivery IDs are remembered (and at most how many): GitHub's "Redeliver"
    # sends the same ID again, and is refused within this time.
    replay_memory: float = 24 * 3600.0
    replay_entries: int = 100_000
    # How far the generic call's timestamp may be from now.
    clock_window: float = 300.0
    per_minute: float = 120.0
    burst: float = 60.0
    trust_forwarded_for: bool = False


class Refused(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True)
class Answer:
    status: int
    outcome: str
    message: str
    releases: tuple[str, ...] = ()


@dataclass
class Hook:
    cluster: Cluster
    secrets: SecretStore
    limits: Limits = field(default_factory=Limits)
    wall_clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.replays = ReplayCache(self.limits.replay_memory, self.limits.replay_entries)
        self.rates = RateLimit(self.limits.per_minute / 60, self.limits.burst)
        self.followers = Followers(self.cluster, self.monotonic)

    async def close(self) -> None:
        await self.followers.close()

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._no_traces], client_max_size=self.limits.max_body_bytes
        )
        app.router.add_post("/github", self.github)
        app.router.add_post("/deploy", self.generic)
        app.router.add_get("/healthz", healthz)
        return app

    async def github(self, request: web.Request) -> web.Response:
        event = request.headers.get(EVENT_HEADER, "")
        return await self._deliver(request, event, self._github)

    async def generic(self, request: web.Request) -> web.Response:
        return await self._deliver(request, GENERIC, self._generic)

    async def _deliver(
        self,
        request: web.Request,
        event: str,
        handle: Callable[[web.Request, bytes, Any, float], Awaitable[Answer]],
    ) -> web.Response:
        started = self.monotonic()
        try:
            self._admit(request)
            body = await self._body(request)
            signature = request.headers.get(SIGNATURE_HEADER)
            if not signature:
                raise Refused(401, "missing_signature", f"no {SIGNATURE_HEADER} header")
            payload = _json(body)
            secret = self.secrets.secret_for(repository_of(payload))
            if secret is None:
                raise Refused(401, "no_secret", "no secret for this repository, and no default")
            if not signature_matches(secret, body, signature):
                raise Refused(401, "bad_signature", "the signature does not match the body")
            answer = await handle(request, body, payload, started)
        except Refused as refusal:
            answer = Answer(refusal.status, refusal.outcome, refusal.message)
        metrics.count(event, answer.outcome)
        log.info(
            "%s delivery %s: %s %s",
            metrics.event_label(event),
            _printable(request.headers.get(DELIVERY_HEADER, "-")),
            answer.status,
            answer.outcome,
        )
        body_out: dict[str, Any] = {"outcome": answer.outcome, "message": answer.message}
        if answer.releases:
            body_out["releases"] = list(answer.releases)
        return web.json_response(body_out, status=answer.status)

    def _admit(self, request: web.Request) -> None:
        source = request.remote or "unknown"
        if self.limits.trust_forwarded_for:
            forwarded = request.headers.get("X-Forwarded-For", "")
            source = forwarded.split(",")[0].strip()[:64] or source
        if not self.rates.allow(source, self.monotonic()):
            raise Refused(429, "rate_limited", "too many deliveries from this sender")

    async def _body(self, request: web.Request) -> bytes:
        limit = self.limits.max_body_bytes
        too_large = Refused(413, "too_large", f"the body is over {limit} bytes")
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.read_timeout):
                while chunk := await request.content.read(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    chunks.append(chunk)
        except TimeoutError:
            raise Refused(
                408, "timeout", f"the body did not arrive within {self.limits.read_timeout}s"
            ) from None
        return b"".join(chunks)

    def _first_time(self, delivery: str) -> None:
        if not self.replays.first_time(delivery, self.monotonic()):
            raise Refused(409, "replayed", f"delivery {delivery} was already received")

    async def _github(
        self, request: web.Request, body: bytes, payload: Any, started: float
    ) -> Answer:
        delivery = request.headers.get(DELIVERY_HEADER, "")
        if not delivery or len(delivery) > 128:
            raise Refused(400, "missing_delivery", f"no usable {DELIVERY_HEADER} header")
        self._first_time(delivery)
        event = request.headers.get(EVENT_HEADER, "")
        try:
            parsed = parse_github(event, delivery, payload)
        except BadPayload as error:
            raise Refused(400, "malformed", str(error)) from None
        if isinstance(parsed, Skip):
            return Answer(202, parsed.outcome, parsed.message)
        return await self._apply(parsed, started)

    async def _generic(
        self, request: web.Request, body: bytes, payload: Any, started: float
    ) -> Answer:
        # The call's own identity is its signed body, which includes its date.
        delivery = hashlib.sha256(body).hexdigest()[:32]
        try:
            change, timestamp = parse_generic(delivery, payload)
        except BadPayload as error:
            raise Refused(400, "malformed", str(error)) from None
        if not within_window(timestamp, self.wall_clock(), self.limits.clock_window):
            raise Refused(
                409, "stale", f"timestamp is not within {self.limits.clock_window:.0f}s of now"
            )
        self._first_time(delivery)
        return await self._apply(change, started)

    async def _apply(self, change: Change, started: float) -> Answer:
        try:
            found = plan(change, await self.cluster.environments(), await self.cluster.releases())
            if not found.repository_known:
                raise Refused(
                    404,
                    "unknown_repository",
                    f"no Environment deploys repository {change.repository}",
                )
            if not found.targets:
                why = "; ".join(found.passed_over) or "no Environment deploys that branch"
                return Answer(
                    202, "nothing_to_deploy", f"{change.repository} {change.branch}: {why}"
                )
            for target in found.targets:
                await self.cluster.deploy(target, change)
                self.followers.follow(target, change.event, started)
        except Forbidden as error:
            raise Refused(
                503,
                "forbidden",
                f"the hook's ServiceAccount is not allowed this ({error.message}): "
                "grant it the rules of manifests/webhook",
            ) from None
        except Invalid as error:
            raise Refused(422, "rejected", f"the API server refused it: {error.message}") from None
        except ApiError as error:
            raise Refused(502, "api_error", f"the API server failed: {error.message}") from None
        metrics.SPEC_UPDATE_SECONDS.labels(metrics.event_label(change.event)).observe(
            self.monotonic() - started
        )
        written = tuple(f"{t.namespace}/{t.release}" for t in found.targets)
        return Answer(200, "deployed", f"{change.repository} {change.branch}", written)

    @web.middleware
    async def _no_traces(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Whatever goes wrong, the sender gets a status and a sentence, never a trace."""
        try:
            return await handler(request)
        except web.HTTPException as error:
            metrics.count("other", f"http_{error.status}")
            return web.json_response(
                {"outcome": f"http_{error.status}", "message": error.reason}, status=error.status
            )
        except Exception as error:
            metrics.count("other", "internal_error")
            log.error("internal error on %s: %s", request.path, type(error).__name__)
            return web.json_response(
                {"outcome": "internal_error", "message": "internal error"}, status=500
            )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"outcome": "ok", "message": "ok"})


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "malformed", "the body is not JSON") from None


def _printable(value: str) -> str:
    """A header value fit for a log line: printable, short."""
    return "".join(c for c in value[:64] if c.isprintable())
