"""Signatures, the replay cache, the rate limit, the generic call's window and the secret
store of the deploy hook."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from tierkeeper.webhook.guard import (
    RateLimit,
    ReplayCache,
    sign,
    signature_matches,
    within_window,
)
from tierkeeper.webhook.secrets import SecretStore, key_for

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"


def test_signature_is_githubs_published_example() -> None:
    # GitHub's documentation ("Validating webhook deliveries") gives this secret, payload
    # and signature as a test vector.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(SECRET, BODY) == expected
    assert signature_matches(SECRET, BODY, expected)


def test_signature_refuses_another_body_secret_algorithm_or_case() -> None:
    good = sign(SECRET, BODY)
    assert not signature_matches(SECRET, BODY + b" ", good)
    assert not signature_matches(b"other", BODY, good)
    assert not signature_matches(SECRET, BODY, good.removeprefix("sha256="))
    sha1 = "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()
    assert not signature_matches(SECRET, BODY, sha1)
    assert not signature_matches(SECRET, BODY, good.upper())
    assert not signature_matches(SECRET, BODY, "")


def test_replay_cache_refuses_a_second_delivery_within_the_window_only() -> None:
    cache = ReplayCache(window=60, size=10)
    assert cache.first_time("a", now=0)
    assert not cache.first_time("a", now=59)
    assert cache.first_time("a", now=121)


def test_replay_cache_stays_bounded_forgetting_the_oldest() -> None:
    cache = ReplayCache(window=3600, size=3)
    for n in range(100):
        assert cache.first_time(str(n), now=n)
    assert len(cache._seen) == 3
    assert not cache.first_time("99", now=100)
    assert cache.first_time("0", now=100)


def test_rate_limit_allows_a_burst_then_the_rate_per_source() -> None:
    limit = RateLimit(per_second=1, burst=3, sources=2)
    assert [limit.allow("a", now=0) for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b", now=0), "another sender has its own bucket"
    assert not limit.allow("a", now=0.5)
    assert limit.allow("a", now=1.6)
    limit.allow("c", now=2)
    assert len(limit._buckets) == 2


def test_generic_window_is_symmetric() -> None:
    assert within_window(1000, now=1200, window=300)
    assert within_window(1200, now=1000, window=300)
    assert not within_window(1000, now=1301, window=300)


def test_secret_store_prefers_the_repositorys_own_key(tmp_path: Path) -> None:
    (tmp_path / "default").write_text("shared\n")
    (tmp_path / key_for("Acme/Shop")).write_text("own")
    store = SecretStore(tmp_path)
    assert key_for("Acme/Shop") == "acme.shop"
    assert store.secret_for("acme/shop") == b"own"
    assert store.secret_for("acme/other") == b"shared"
    assert store.secret_for(None) == b"shared"
    assert store.secret_for("../default") == b"shared"


def test_secret_store_without_a_default_knows_only_its_repositories(tmp_path: Path) -> None:
    (tmp_path / "acme.shop").write_text("own")
    (tmp_path / "..data").mkdir()
    store = SecretStore(tmp_path)
    assert store.secret_for("acme/other") is None
    assert store.secret_for(".../data") is None
    assert store.secret_for("acme/shop") == b"own"
