"""Hypothesis strategies for Environment and Release documents, and the check every one must pass.

Documents are valid, almost valid (one value just out of range, a quantity or duration
that matches the schema's pattern but not its meaning) or hostile (wrong types, huge and
unicode strings, nulls, unknown fields, names at and past 253 characters). `outcome()` applies
one to the real API server and returns what happened; `problems()` lists what broke SPEC §5.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from kubernetes.dynamic.exceptions import DynamicApiError

from tests.integration.k8s import Api, condition
from tierkeeper.cli.render import render_documents
from tierkeeper.models import InvalidSpec, resolve_document

GROUP_VERSION = "tierkeeper.dev/v1alpha1"
# Ready=False reasons that refuse a spec outright: nothing may have been written for it.
REFUSALS = {
    "InvalidSpec",
    "HARequiresCloudNativePG",
    "ExternalSecretMissing",
    "ChildNameTaken",
    "ChangeNotAllowed",
    "RouteHostTaken",
}
CHILD_KINDS = (
    "Deployment",
    "StatefulSet",
    "Service",
    "ConfigMap",
    "CronJob",
    "Secret",
    "PersistentVolumeClaim",
    "NetworkPolicy",
    "Ingress",
)
TRACEBACK = "Traceback (most recent call last)"

# -- values ----------------------------------------------------------------------------

HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "null",
        "ünïcødé-名前",
        "💥",
        "a" * 300,
        "x" * 5000,
        "$(rm -rf /)",
        "line\nbreak",
        "\x00",
        "-1",
        "1e309",
        "NaN",
    ]
)
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    HOSTILE_STRINGS,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "bogus"]), st.integers(), max_size=2),
)
QUANTITIES = st.sampled_from(
    ["1Gi", "512Mi", "1.5Gi", "0", "0.1", "1", "-1Gi", "1GB", "Gi", "1e3", "999999999999Pi", "1k"]
)
DURATIONS = st.sampled_from(
    ["30s", "2h", "1h30m", "0s", "500ms", "99999999999d", "-1h", "2x", "h", "1d1d1d"]
)
SCHEDULES = st.sampled_from(
    ["0 * * * *", "@daily", "61 * * * *", "* * * * * *", "0 0 31 2 *", "@never", "*/0 * * * *"]
)


def pick(strategy: Any, mode: str) -> st.SearchStrategy[Any]:
    """A strategy per mode (a dict), or one strategy for every mode."""
    return strategy[mode] if isinstance(strategy, dict) else strategy


def maybe(valid: Any, near: Any) -> dict[str, st.SearchStrategy[Any]]:
    """A value for one field: valid documents draw only valid values, almost-valid ones a
    near miss now and then, hostile ones anything."""
    return {
        "valid": pick(valid, "valid"),
        "near": st.one_of(*[pick(valid, "near")] * 3, pick(near, "near")),
        "hostile": st.one_of(pick(valid, "hostile"), pick(near, "hostile"), HOSTILE),
    }


def optional_fields(**fields: Any) -> dict[str, st.SearchStrategy[Any]]:
    return {
        mode: st.fixed_dictionaries({}, optional={k: pick(v, mode) for k, v in fields.items()})
        for mode in MODES
    }


MODES = ("valid", "near", "hostile")


ints = st.integers
APP = optional_fields(
    port=maybe(ints(1, 65535), st.sampled_from([0, 65536, "8080"])),
    replicas=maybe(ints(0, 3), st.sampled_from([-1, 1001, 2.5, "2"])),
    env=maybe(
        st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["A", "FEATURE_FLAGS", "ünïcødé"])},
                optional={"value": st.one_of(HOSTILE_STRINGS, st.text(max_size=20))},
            ),
            max_size=2,
            unique_by=lambda var: var["name"],
        ),
        st.sampled_from(
            [
                [{"value": "no name"}],
                [{"name": "1BAD", "value": "x"}],
                [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
            ]
        ),
    ),
    resources=maybe(
        st.just({"limits": {"cpu": "500m", "memory": "256Mi"}}),
        st.sampled_from([{"limits": {"cpu": "lots"}}, {"requests": {"memory": "-1Gi"}}]),
    ),
    healthCheck=optional_fields(
        path=maybe(st.just("/health"), st.sampled_from(["health", "/a b", "/" + "p" * 1100])),
        intervalSeconds=maybe(ints(1, 60), st.sampled_from([0, 3601])),
        failureThreshold=maybe(ints(1, 5), st.just(0)),
        strict=maybe(st.booleans(), st.just("yes")),
    ),
    restartPolicy=optional_fields(maxRetries=maybe(ints(0, 10), st.just(-1))),
)
POSTGRES = optional_fields(
    enabled=maybe(st.booleans(), st.just("false")),
    version=maybe(st.sampled_from(["15", "16"]), st.sampled_from(["9", "160", "16.1"])),
    storage=maybe(st.just("1Gi"), QUANTITIES),
    instances=maybe(st.just(1), st.sampled_from([0, 2, 10])),
    provider=maybe(st.sampled_from(["builtin"]), st.sampled_from(["cloudnative-pg", "Builtin"])),
    pool=optional_fields(
        maxConnections=maybe(ints(1, 100), st.just(0)),
        maxLifetime=maybe(st.just("30m"), DURATIONS),
        maxIdle=maybe(st.just("10m"), DURATIONS),
    ),
    backup=optional_fields(
        enabled=maybe(st.booleans(), st.just(None)),
        schedule=maybe(st.just("0 3 * * *"), SCHEDULES),
        retentionDays=maybe(ints(1, 30), st.sampled_from([0, 3651])),
        pitr=optional_fields(enabled=st.booleans(), windowDays=maybe(ints(1, 7), st.just(0))),
    ),
)
REDIS = optional_fields(
    enabled=maybe(st.booleans(), st.just(1)),
    maxMemory=maybe(st.just("128Mi"), QUANTITIES),
    evictionPolicy=maybe(st.just("allkeys-lru"), st.sampled_from(["lru", "ALLKEYS-LRU"])),
    persistence=maybe(st.sampled_from(["none", "snapshot", "aof"]), st.just("always")),
)
SPEC = optional_fields(
    branch=maybe(st.just("main"), st.sampled_from(["feature/x", "has space", "b" * 256])),
    app=maybe(APP, st.just([])),
    strategy=optional_fields(
        type=maybe(st.sampled_from(["Rolling", "BlueGreen"]), st.just("Canary")),
        scaleDownDelaySeconds=maybe(ints(0, 3600), st.sampled_from([-1, 3601, "30s"])),
        blueGreen=optional_fields(
            rollbackWindow=maybe(st.just("2h"), DURATIONS),
            postPromotionSeconds=maybe(ints(0, 5), st.just(-5)),
            progressDeadlineSeconds=maybe(ints(10, 600), st.just(9)),
        ),
    ),
    postgres=maybe(POSTGRES, st.just("yes")),
    redis=REDIS,
    external=maybe(
        st.just({}),
        st.sampled_from(
            [
                {"sentry": {"secretRef": {"name": "absent", "key": "dsn"}}},
                {"sentry": {"secretRef": {"name": "Bad_Name", "key": "dsn"}}},
                {"sentry": {}},
            ]
        ),
    ),
    deletionPolicy=maybe(st.sampled_from(["Retain", "Delete"]), st.just("Keep")),
    budget=maybe(
        st.fixed_dictionaries({"monthlyUSD": st.floats(0, 100)}),
        st.sampled_from([{"monthlyUSD": -1}, {}, {"monthlyUSD": 1e7}]),
    ),
    suspend=maybe(st.booleans(), st.just("no")),
    bogusField=maybe(st.just("pruned"), HOSTILE),
)
TIERS = maybe(st.sampled_from(["development", "staging", "production"]), st.just("Production"))
DNS_LABEL = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
VALID_NAMES = st.one_of(
    DNS_LABEL,
    st.builds(lambda a, b: f"{a}.{b}", DNS_LABEL, DNS_LABEL),
    st.integers(54, 253).map(lambda n: "n" * n),
)
BAD_NAMES = st.one_of(
    st.sampled_from(["UPPER", "under_score", "ünï", "a" * 254, "-lead", "trail-", "a..b"]),
    HOSTILE_STRINGS.filter(lambda name: name.strip() != ""),  # a name is part of the URL
)
NAMES = {
    "valid": VALID_NAMES,
    "near": st.one_of(VALID_NAMES, VALID_NAMES, VALID_NAMES, BAD_NAMES),
    "hostile": st.one_of(VALID_NAMES, BAD_NAMES),
}
IMAGES = maybe(
    st.sampled_from(["shop:1", "ghcr.io/acme/shop:1.4.2", "shop@sha256:" + "a" * 64]),
    st.sampled_from(["", "has space:1", "UPPER/Case:1", "x" * 4000, "ünï:1", "shop@sha256:zz"]),
)


@st.composite
def documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    """An Environment, sometimes with a Release for it."""
    mode = draw(st.sampled_from(["valid", "valid", "near", "near", "hostile"]))
    name = draw(NAMES[mode])
    spec = {"tier": draw(TIERS[mode]), **draw(SPEC[mode])}
    if mode == "hostile" and draw(st.booleans()):
        del spec["tier"]
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": GROUP_VERSION,
            "kind": "Environment",
            "metadata": {"name": name},
            "spec": spec,
        }
    ]
    if draw(st.booleans()):
        release: dict[str, st.SearchStrategy[Any]] = optional_fields(
            source=optional_fields(branch=maybe(st.just("main"), st.just("other"))),
            promotion=maybe(st.sampled_from(["Auto", "Manual"]), st.just("auto")),
        )
        docs.append(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "Release",
                "metadata": {"name": name},
                "spec": {
                    "environment": name,
                    "image": draw(IMAGES[mode]),
                    **draw(release[mode]),
                },
            }
        )
    return docs


# -- the check ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the cluster and the operator made of one set of documents."""

    rejected: dict[str, str] = field(default_factory=dict)  # kind -> admission message
    reason: str | None = None  # the Environment's Ready reason, once it was reconciled
    problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if "Environment" in self.rejected:
            return "rejected"
        return f"refused:{self.reason}" if self.reason in REFUSALS else f"accepted:{self.reason}"


def apply(api: Api, doc: dict[str, Any], namespace: str) -> str | None:
    """None if the API server took `doc`, else its message (a 5xx is a problem, raised)."""
    try:
        api.apply(doc, namespace, manager="fuzz")
    except DynamicApiError as error:
        # Server-side apply of a value of the wrong type is a 500 upstream
        # (kubernetes/kubernetes#139253): a rejection all the same, with a message.
        typed = "failed to create typed patch object" in str(error.summary())
        if error.status >= 500 and not typed:
            raise AssertionError(f"API server error {error.status}: {error.summary()}") from error
        return str(error.summary())
    return None


def reconciled(api: Api, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        env = api.get("Environment", namespace, name)
        status = (env or {}).get("status") or {}
        current = env and status.get("observedGeneration") == env["metadata"]["generation"]
        if current and condition(env, "Ready") is not None:
            return env
        time.sleep(0.25)
    return None


def owned_by(api: Api, namespace: str, uid: str) -> set[tuple[str, str]]:
    return {
        (kind, item["metadata"]["name"])
        for kind in CHILD_KINDS
        for item in api.list(kind, namespace)
        if any(o.get("uid") == uid for o in item["metadata"].get("ownerReferences") or [])
    }


def expected_children(env_doc: dict[str, Any], namespace: str) -> set[tuple[str, str]] | None:
    """What the Environment alone must get (app Deployments depend on the Release), or None
    if the operator cannot resolve it."""
    placed = copy.deepcopy(env_doc)
    placed["metadata"]["namespace"] = namespace
    try:
        resolve_document(placed["spec"], name=placed["metadata"]["name"], namespace=namespace)
    except InvalidSpec:
        return None
    manifests = render_documents([placed])
    return {
        (m["kind"], m["metadata"]["name"])
        for m in manifests
        if m["apiVersion"] != "postgresql.cnpg.io/v1"
    }


def outcome(
    api: Api, docs: list[dict[str, Any]], namespace: str, log: Path, timeout: float = 60
) -> Outcome:
    """Apply `docs`, wait for the operator's verdict, and check it against SPEC §5."""
    seen = log.stat().st_size if log.exists() else 0
    result = Outcome()
    for doc in docs:
        if (message := apply(api, doc, namespace)) is not None:
            result.rejected[doc["kind"]] = message
            if not message.strip():
                result.problems.append(f"{doc['kind']} rejected without a message")
    if "Environment" in result.rejected:
        return result
    env_doc = docs[0]
    name = env_doc["metadata"]["name"]
    env = reconciled(api, namespace, name, timeout)
    if env is None:
        result.problems.append(f"Environment {name!r} never got a Ready condition")
        return result
    ready = condition(env, "Ready") or {}
    result.reason = ready.get("reason")
    if ready.get("status") == "False" and not ready.get("message"):
        result.problems.append(f"Ready=False ({result.reason}) without a message")
    children = owned_by(api, namespace, env["metadata"]["uid"])
    expected = expected_children(env_doc, namespace)
    if result.reason in REFUSALS:
        if children:
            result.problems.append(f"refused ({result.reason}) yet wrote {sorted(children)}")
    elif expected is None:
        result.problems.append(f"unresolvable spec not refused (reason {result.reason})")
    else:
        app = {"Deployment"}
        missing = {c for c in expected if c[0] not in app} - children
        if missing:
            result.problems.append(f"half-applied: missing {sorted(missing)}")
    text = log.read_text(errors="replace")[seen:] if log.exists() else ""
    if TRACEBACK in text:
        start = text.index(TRACEBACK)
        result.problems.append(
            "traceback in the operator log:\n" + text[start - 300 : start + 3000]
        )
    return result


def remove(api: Api, docs: list[dict[str, Any]], namespace: str) -> None:
    """Delete what `docs` created and wait until the Environment and the children garbage
    collection takes with it are gone: the next example may reuse the name, and would be
    refused (ChildNameTaken) while the old children linger."""
    name = docs[0]["metadata"]["name"]
    try:
        uid = ((api.get("Environment", namespace, name) or {}).get("metadata") or {}).get("uid")
    except DynamicApiError:
        uid = None  # a name the API server never accepted
    for doc in reversed(docs):
        try:
            api.delete(doc["kind"], namespace, doc["metadata"]["name"])
        except DynamicApiError:
            continue  # a name the API server never accepted
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            gone = api.get("Environment", namespace, name) is None
        except DynamicApiError:
            return
        if gone and not (uid and owned_by(api, namespace, uid)):
            return
        time.sleep(0.25)
    raise AssertionError(f"Environment {name!r} and its children were not deleted within 60s")
