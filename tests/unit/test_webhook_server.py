"""The hook's HTTP edge on a real loopback server: every refusal has its status and
outcome, limits hold, and fuzzed requests never get a 500 nor log an error."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.unit.webhook_server import SECRET, serving
from tierkeeper.cli import main
from tierkeeper.webhook import metrics
from tierkeeper.webhook.guard import sign
from tierkeeper.webhook.server import Limits

LIMITS = Limits(max_body_bytes=4096, read_timeout=1.0, per_minute=6000, burst=1000)
PUSH = {"ref": "refs/heads/main", "after": "ab" * 20, "repository": {"full_name": "acme/shop"}}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("secrets"), LIMITS) as url:
        yield url


def deliver(
    base: str,
    body: bytes,
    *,
    event: str = "push",
    signature: str | None = "sign",
    delivery: str | None = None,
    path: str = "/github",
) -> httpx.Response:
    headers = {"X-GitHub-Event": event, "Content-Type": "application/json"}
    headers["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
    if signature == "sign":
        headers["X-Hub-Signature-256"] = sign(SECRET, body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return httpx.post(base + path, content=body, headers=headers, timeout=10)


def outcome(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["outcome"]


def counted(event: str, result: str) -> float:
    return metrics.DELIVERIES.labels(event, result)._value.get()


def test_each_refusal_has_its_status_and_is_counted(base: str) -> None:
    body = json.dumps(PUSH).encode()
    before = counted("push", "bad_signature")
    assert outcome(deliver(base, body, signature=None)) == (401, "missing_signature")
    assert outcome(deliver(base, body, signature=sign(b"wrong", body))) == (401, "bad_signature")
    assert counted("push", "bad_signature") == before + 1
    assert outcome(deliver(base, b"{not json", signature=sign(SECRET, b"{not json"))) == (
        400,
        "malformed",
    )
    assert outcome(deliver(base, b"x" * 5000)) == (413, "too_large")
    assert outcome(deliver(base, json.dumps({"ref": 1}).encode())) == (400, "malformed")
    # A valid signature reaches matching, where nobody deploys acme/shop.
    assert outcome(deliver(base, body, delivery="once")) == (404, "unknown_repository")
    assert outcome(deliver(base, body, delivery="once")) == (409, "replayed")


def test_quiet_answers_for_what_does_not_deploy(base: str) -> None:
    assert outcome(deliver(base, b"{}", event="star")) == (202, "ignored")
    assert outcome(deliver(base, b"{}", event="ping")) == (202, "ping")
    tag = json.dumps({**PUSH, "ref": "refs/tags/v1"}).encode()
    assert outcome(deliver(base, tag)) == (202, "not_a_branch")
    assert counted("other", "ignored") >= 1


def test_generic_call_is_dated_and_refused_twice_or_late(base: str) -> None:
    call = {
        "repository": "acme/shop",
        "branch": "main",
        "commit": "ab" * 20,
        "image": "r/shop:1",
        "timestamp": int(time.time()),
    }
    body = json.dumps(call).encode()
    assert outcome(deliver(base, body, path="/deploy")) == (404, "unknown_repository")
    assert outcome(deliver(base, body, path="/deploy")) == (409, "replayed")
    late = json.dumps({**call, "timestamp": int(time.time()) - 3600}).encode()
    assert outcome(deliver(base, late, path="/deploy")) == (409, "stale")
    extra = json.dumps({**call, "admin": True}).encode()
    assert outcome(deliver(base, extra, path="/deploy")) == (400, "malformed")


def test_a_slow_body_is_cut_with_408(base: str) -> None:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            b"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\n\r\n{"
        )
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 408"), answer


def test_a_sender_over_its_rate_gets_429(tmp_path: Path) -> None:
    # One token a minute: the burst is not refilled between the four deliveries, however
    # slowly a loaded machine sends them.
    with serving(tmp_path, Limits(per_minute=1, burst=2)) as url:
        statuses = [deliver(url, b"{}", event="star").status_code for _ in range(4)]
    assert statuses == [202, 202, 429, 429]


def test_unknown_paths_and_methods_answer_without_a_trace(base: str) -> None:
    assert httpx.get(base + "/github", timeout=5).status_code == 405
    missing = httpx.post(base + "/nope", content=b"{}", timeout=5)
    assert missing.status_code == 404 and missing.json()["outcome"] == "http_404"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
# Bodies shaped like the events, with fields replaced by anything.
shaped = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from(["completed", "published", "requested"]) | json_values,
        "ref": st.sampled_from(["refs/heads/main", "refs/tags/x"]) | json_values,
        "after": st.text(max_size=45) | json_values,
        "repository": st.fixed_dictionaries({"full_name": st.text(max_size=30)}) | json_values,
        "workflow_run": st.fixed_dictionaries(
            {"head_sha": st.text(max_size=45), "conclusion": st.just("success")},
            optional={"head_branch": json_values},
        )
        | json_values,
        "package": json_values,
        "branch": json_values,
        "commit": json_values,
        "image": json_values,
        "timestamp": st.integers() | json_values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(["/github", "/deploy"]),
    event=st.sampled_from(["workflow_run", "push", "package", "registry_package", "ping", "x"])
    | st.text(max_size=10).filter(lambda s: s.isascii() and s.isprintable() and s == s.strip()),
    body=st.binary(max_size=300) | shaped.map(lambda d: json.dumps(d).encode()),
    signed=st.booleans(),
    delivery=st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40),
)
# Found by the fuzzer: a NUL in the repository's name once answered 500.
@example(
    path="/github",
    event="push",
    body=json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "0/\u0000"}}).encode(),
    signed=True,
    delivery="0",
)
def test_fuzzed_deliveries_never_get_a_500_nor_log_an_error(
    base: str, path: str, event: str, body: bytes, signed: bool, delivery: str
) -> None:
    handler = _Errors()
    logging.getLogger().addHandler(handler)
    try:
        response = deliver(
            base,
            body,
            event=event,
            signature="sign" if signed else "sha256=" + "0" * 64,
            # Unique: hypothesis replays a failing example, which must not meet `replayed`.
            delivery=f"{delivery}-{uuid.uuid4()}",
            path=path,
        )
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code < 500, response.text
    assert set(response.json()) <= {"outcome", "message", "releases"}
    assert not handler.records, [r.getMessage() for r in handler.records]


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_help_names_the_endpoints_and_the_field_manager(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["webhook", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "POST /github" in text and "POST /deploy" in text and "tierkeeper-deploy" in text
