"""Whether to believe a delivery: its HMAC signature, that it was not seen before, and that
its sender stays within its rate. Pure apart from the memory it keeps; time is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass, field

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends: `sha256=` and the hex HMAC-SHA256 of the body."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, body: bytes, header: str) -> bool:
    """Compared in constant time, so that timing tells nothing about the expected value."""
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


@dataclass
class ReplayCache:
    """Delivery IDs seen within `window` seconds, at most `size` of them: the oldest is
    forgotten first, so memory stays bounded whatever arrives."""

    window: float
    size: int
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def first_time(self, delivery: str, now: float) -> bool:
        """True and remembered if `delivery` was not seen within the window."""
        while self._seen and next(iter(self._seen.values())) <= now - self.window:
            self._seen.popitem(last=False)
        if delivery in self._seen:
            return False
        self._seen[delivery] = now
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


@dataclass
class RateLimit:
    """A token bucket per source: `burst` at once, refilled at `per_second`. At most
    `sources` buckets are kept; the least recently seen goes first."""

    per_second: float
    burst: float
    sources: int = 10_000
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def allow(self, source: str, now: float) -> bool:
        tokens, last = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.per_second)
        allowed = tokens >= 1
        self._buckets[source] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > self.sources:
            self._buckets.popitem(last=False)
        return allowed


def within_window(timestamp: float, now: float, window: float) -> bool:
    """A dated call is accepted only within `window` seconds of now, either way (clocks
    differ a little between CI and cluster)."""
    return abs(now - timestamp) <= window
