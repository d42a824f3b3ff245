"""Capture the samples of the Argo CD health checks and actions from real objects.

Starts a local control plane as the integration tests do (`make controlplane` builds
it), the operator for namespace `shop` with the health stand-in for its gates, and
drives Environments and Releases through their phases. Each phase's object is saved as
the API server serves it (what `kubectl get -o yaml` prints), seen through a watch so
that short phases are caught too, without what only describes this one cluster
(managedFields, uid, resourceVersion), into
integrations/argocd/tierkeeper.dev/<Kind>/testdata/<phase>.yaml. Then the actions'
expected outputs: each input object with the change its action must make, applied here
as a JSON merge patch (independently of the Lua).

    .venv/bin/python hack/capture-argocd-samples.py

The expected health of each sample (health_test.yaml) is written and reviewed by hand:
a re-capture that changes what a check reports shows up as a failing test.
"""

from __future__ import annotations

import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.k8s import Api, condition, eventually  # noqa: E402
from tests.integration.operator import HealthServer, OperatorProcess  # noqa: E402
from tierkeeper.config import DEFAULT_HEALTH_URL  # noqa: E402
from tierkeeper.devcluster import DevCluster, Toolchain  # noqa: E402

CUSTOMIZATIONS = ROOT / "integrations" / "argocd" / "tierkeeper.dev"
NAMESPACE = "shop"
ENV = "shop-production"
DEV = "shop-dev"
IMAGE = "ghcr.io/acme/shop:{}"
GROUP_VERSION = "tierkeeper.dev/v1alpha1"
APP_PORT = 8080  # the app's port in these Environments (the default)
# The one thing the local cluster changes: health gates call the stand-in, through URLs
# like http://127.0.0.1:<port>/<namespace>/<service><path>. In the samples they become
# the in-cluster URLs the operator calls by default.
STAND_IN_URL = re.compile(
    r"http://127\.0\.0\.1:\d+/(?P<namespace>[^/\s]+)/(?P<service>[^/\s]+)(?P<path>/\S*)"
)

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]


def environment(name: str, spec: Obj) -> Obj:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": spec,
    }


def release(name: str, env: str, version: str, **spec: Any) -> Obj:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Release",
        "metadata": {"name": name},
        "spec": {"environment": env, "image": IMAGE.format(version), **spec},
    }


PRODUCTION = environment(
    ENV,
    {
        "tier": "production",
        "branch": "main",
        "postgres": {"provider": "builtin", "instances": 1},
        "app": {"healthCheck": {"intervalSeconds": 1, "timeoutSeconds": 1}},
        "strategy": {"blueGreen": {"postPromotionSeconds": 3, "progressDeadlineSeconds": 120}},
    },
)
DEVELOPMENT = environment(
    DEV,
    {
        "tier": "development",
        "branch": "main",
        "app": {"replicas": 2},
        "strategy": {"blueGreen": {"progressDeadlineSeconds": 10}},
    },
)
# Refused by the operator, each for a reason only a person can fix.
REFUSED_ENVIRONMENTS = {
    # An external service the operator does not know: the schema cannot tell.
    "invalid-spec": environment(
        "shop-invalid",
        {
            "tier": "development",
            "branch": "main",
            "external": {"pagerduty": {"secretRef": {"name": "pagerduty", "key": "token"}}},
        },
    ),
    "ha-provider-missing": environment(
        "shop-ha",
        {
            "tier": "production",
            "branch": "main",
            "postgres": {"provider": "cloudnative-pg", "instances": 2},
        },
    ),
    "external-secret-missing": environment(
        "shop-secret",
        {
            "tier": "development",
            "branch": "main",
            "external": {"sentry": {"secretRef": {"name": "sentry", "key": "dsn"}}},
        },
    ),
}


def status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def current(obj: Obj) -> bool:
    """The status describes the latest spec."""
    return bool(status(obj).get("observedGeneration") == obj["metadata"].get("generation"))


def reason(obj: Obj, type_: str) -> str | None:
    found = condition(obj, type_)
    return found["reason"] if found else None


def true(obj: Obj, type_: str) -> bool:
    found = condition(obj, type_)
    return found is not None and found["status"] == "True"


def named(name: str, check: Predicate) -> Predicate:
    return lambda obj: obj["metadata"]["name"] == name and current(obj) and check(obj)


def phase(name: str, wanted: str, version: str, also: Predicate = lambda _: True) -> Predicate:
    return named(
        name,
        lambda obj: (
            status(obj).get("phase") == wanted
            and status(obj).get("targetImage") == IMAGE.format(version)
            and also(obj)
        ),
    )


ENVIRONMENT_PHASES: dict[str, Predicate] = {
    "creating": named(ENV, lambda o: reason(o, "Ready") == "Creating"),
    "progressing": named(
        ENV, lambda o: reason(o, "Ready") == "Progressing" and not true(o, "Degraded")
    ),
    "ready-no-release": named(
        ENV, lambda o: true(o, "Ready") and reason(o, "AppReady") == "NoRelease"
    ),
    "ready": named(
        ENV, lambda o: true(o, "Ready") and true(o, "AppReady") and not o["spec"].get("suspend")
    ),
    # Lost its database after it was Ready.
    "degraded": named(ENV, lambda o: true(o, "Degraded") and not true(o, "DatabaseReady")),
    "suspended": named(ENV, lambda o: true(o, "Ready") and o["spec"].get("suspend") is True),
    **{
        sample: named(doc["metadata"]["name"], lambda o: condition(o, "Ready") is not None)
        for sample, doc in REFUSED_ENVIRONMENTS.items()
    },
}
RELEASE_PHASES: dict[str, Predicate] = {
    "deploying": phase(ENV, "Deploying", "1.4.3"),
    "verifying": phase(ENV, "Verifying", "1.4.3", lambda o: not status(o).get("switchedAt")),
    "promoted": phase(ENV, "Promoted", "1.4.3", lambda o: true(o, "Ready")),
    "awaiting-promotion": phase(ENV, "AwaitingPromotion", "1.4.4"),
    "failed-health-gate": phase(ENV, "Failed", "1.4.5"),
    "rolled-back": phase(ENV, "RolledBack", "1.4.6"),
    "refused-environment-not-found": named(
        "orphan", lambda o: reason(o, "Ready") == "EnvironmentNotFound"
    ),
    "refused-already-bound": named(
        "second", lambda o: reason(o, "Ready") == "EnvironmentAlreadyBound"
    ),
    "refused-branch-mismatch": named(ENV, lambda o: reason(o, "Ready") == "BranchMismatch"),
    "promoted-rolling": phase(DEV, "Promoted", "2", lambda o: true(o, "Ready")),
    "failed-progress-deadline": phase(DEV, "Failed", "never-ready"),
}


class Recorder:
    """Watches one kind in the namespace and keeps, for each named predicate, the first
    version of an object that satisfies it."""

    def __init__(self, api: Api, kind: str, phases: dict[str, Predicate]) -> None:
        self.api, self.kind, self.phases = api, kind, phases
        self.seen: dict[str, Obj] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        while not self.stop.is_set():
            try:
                for event in self.api.resource(self.kind).watch(namespace=NAMESPACE, timeout=5):
                    self.match(event["object"].to_dict())
            except Exception as error:  # a dropped watch: look again
                print(f"watch of {self.kind}: {error}", file=sys.stderr, flush=True)
                time.sleep(0.5)

    def match(self, obj: Obj) -> None:
        for sample, matches in self.phases.items():
            if sample not in self.seen and matches(obj):
                self.seen[sample] = obj
                print(f"captured {self.kind} {sample}", flush=True)

    def wait(self, sample: str, timeout: float = 180) -> Obj:
        return eventually(lambda: self.seen.get(sample), timeout=timeout, what=sample)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def in_cluster_urls(value: Any) -> Any:
    if isinstance(value, str):
        return STAND_IN_URL.sub(
            lambda m: DEFAULT_HEALTH_URL.format(scheme="http", port=APP_PORT, **m.groupdict()),
            value,
        )
    if isinstance(value, dict):
        return {key: in_cluster_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [in_cluster_urls(item) for item in value]
    return value


def cleaned(obj: Obj) -> Obj:
    """The object without what only this cluster knows of it."""
    metadata = {
        key: value
        for key, value in obj["metadata"].items()
        if key not in ("managedFields", "uid", "resourceVersion")
    }
    cleaned: Obj = in_cluster_urls({**obj, "metadata": metadata})
    return cleaned


def write(path: Path, obj: Obj, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(obj, sort_keys=False, width=100)
    path.write_text(f"# {comment}\n{text}")
    print(f"wrote {path.relative_to(ROOT)}", flush=True)


def merged(obj: Obj, patch: Obj) -> Obj:
    """`obj` with a JSON merge patch (RFC 7386) applied."""
    result = dict(obj)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


# (kind, input sample, action, output sample, the patch the action must make)
ACTIONS: list[tuple[str, str, str, str, Obj]] = [
    ("Environment", "ready", "suspend", "ready-suspend", {"spec": {"suspend": True}}),
    ("Environment", "suspended", "resume", "suspended-resume", {"spec": {"suspend": False}}),
    (
        "Release",
        "awaiting-promotion",
        "promote",
        "awaiting-promotion-promote",
        {"spec": {"promote": True}},
    ),
    (
        "Release",
        "promoted",
        "rollback",
        "promoted-rollback",
        {"metadata": {"annotations": {"tierkeeper.dev/rollback": "true"}}},
    ),
    (
        "Release",
        "promoted-rolling",
        "rollback",
        "promoted-rolling-rollback",
        {"metadata": {"annotations": {"tierkeeper.dev/rollback": "true"}}},
    ),
    (
        "Release",
        "deploying",
        "abort",
        "deploying-abort",
        {"metadata": {"annotations": {"tierkeeper.dev/abort": "true"}}},
    ),
]


def write_action_outputs() -> None:
    for kind, sample, action, output, patch in ACTIONS:
        source = CUSTOMIZATIONS / kind / "testdata" / f"{sample}.yaml"
        obj = yaml.safe_load(source.read_text())
        write(
            CUSTOMIZATIONS / kind / "actions" / "testdata" / f"{output}.yaml",
            merged(obj, patch),
            f"testdata/{sample}.yaml after the {action} action",
        )


def drive(dev: DevCluster, api: Api, health: HealthServer, workdir: Path) -> dict[str, Obj]:
    """The scenario; returns the samples by '<Kind>/<phase>'."""
    kube = dev.kube
    kube.kubectl("create", "namespace", NAMESPACE)
    kube.kubectl("wait", "--for=create", "--timeout=60s", "-n", NAMESPACE, "serviceaccount/default")
    samples: dict[str, Obj] = {}

    # Before the operator runs: objects it has not seen yet.
    api.apply(PRODUCTION, NAMESPACE)
    api.apply(release("orphan", "nowhere", "1.4.2"), NAMESPACE)
    samples["Environment/no-status"] = api.get("Environment", NAMESPACE, ENV) or {}
    samples["Release/no-status"] = api.get("Release", NAMESPACE, "orphan") or {}
    for doc in REFUSED_ENVIRONMENTS.values():
        api.apply(doc, NAMESPACE)

    envs = Recorder(api, "Environment", ENVIRONMENT_PHASES)
    releases = Recorder(api, "Release", RELEASE_PHASES)
    operator = OperatorProcess(
        kubeconfig=dev.kubeconfig,
        namespace=NAMESPACE,
        log=workdir / "operator.log",
        extra_env={"TIERKEEPER_HEALTH_URL": health.template},
    )
    operator.start()
    try:
        envs.wait("ready-no-release")
        releases.wait("refused-environment-not-found")
        api.apply(release(ENV, ENV, "1.4.2"), NAMESPACE)
        envs.wait("ready")
        eventually(
            lambda: (
                (api.get("Release", NAMESPACE, ENV) or {}).get("status", {}).get("phase")
                == "Promoted"
            ),
            timeout=120,
            what="first release promoted",
        )
        api.apply(release(ENV, ENV, "1.4.3"), NAMESPACE)
        releases.wait("promoted")

        api.apply(release(ENV, ENV, "1.4.4", promotion="Manual"), NAMESPACE)
        releases.wait("awaiting-promotion")
        api.apply(release(ENV, ENV, "1.4.4", promotion="Manual", promote=True), NAMESPACE)
        # Promoted, not only switched: a rollout superseded during its post-promotion
        # checks leaves no entry in the history, and the samples would differ run to run.
        eventually(
            lambda: phase(ENV, "Promoted", "1.4.4")(api.get("Release", NAMESPACE, ENV) or {}),
            timeout=60,
            what="1.4.4 promoted",
        )

        health.codes[f"{ENV}-preview"] = 503
        api.apply(release(ENV, ENV, "1.4.5"), NAMESPACE)
        releases.wait("failed-health-gate")
        del health.codes[f"{ENV}-preview"]

        health.codes[ENV] = 500  # only post-promotion checks probe the active Service
        api.apply(release(ENV, ENV, "1.4.6"), NAMESPACE)
        releases.wait("rolled-back")
        del health.codes[ENV]

        api.apply(release("second", ENV, "1.4.9"), NAMESPACE)
        releases.wait("refused-already-bound")

        # The database pod goes away: Ready lost, Degraded until the StatefulSet is back.
        kube.kubectl("delete", "pod", "-n", NAMESPACE, f"{ENV}-postgres-0", "--wait=false")
        try:
            envs.wait("degraded", timeout=60)
        except AssertionError as missed:  # reported with the other phases never seen
            print(missed, file=sys.stderr)
        eventually(
            lambda: true(api.get("Environment", NAMESPACE, ENV) or {}, "Ready"),
            timeout=120,
            what="Ready again",
        )

        suspended = {**PRODUCTION, "spec": {**PRODUCTION["spec"], "suspend": True}}
        api.apply(suspended, NAMESPACE)
        envs.wait("suspended")

        api.apply(DEVELOPMENT, NAMESPACE)
        api.apply(release(DEV, DEV, "1"), NAMESPACE)
        eventually(
            lambda: status(api.get("Release", NAMESPACE, DEV) or {}).get("phase") == "Promoted",
            timeout=120,
            what="development first release",
        )
        api.apply(release(DEV, DEV, "2"), NAMESPACE)
        releases.wait("promoted-rolling")
        api.apply(release(DEV, DEV, "never-ready"), NAMESPACE)
        releases.wait("failed-progress-deadline")

        api.apply(release(ENV, ENV, "1.4.7", source={"branch": "feature/cart"}), NAMESPACE)
        releases.wait("refused-branch-mismatch")
    finally:
        operator.stop()
        envs.close()
        releases.close()

    # The operator is stopped: a change to the spec leaves the status one generation behind.
    api.apply(PRODUCTION, NAMESPACE)
    api.apply(release(ENV, ENV, "1.4.8"), NAMESPACE)
    samples["Environment/stale-generation"] = api.get("Environment", NAMESPACE, ENV) or {}
    samples["Release/stale-generation"] = api.get("Release", NAMESPACE, ENV) or {}
    samples |= {f"Environment/{name}": obj for name, obj in envs.seen.items()}
    samples |= {f"Release/{name}": obj for name, obj in releases.seen.items()}
    return samples


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="argocd-samples-") as scratch:
        workdir = Path(scratch)
        health = HealthServer()
        with DevCluster(workdir / "cluster", Toolchain.built(), name="argocd-samples") as dev:
            dev.kube.install_crds(ROOT / "crds")
            api = Api(dev.kubeconfig)
            try:
                samples = drive(dev, api, health, workdir)
            except BaseException:
                log = workdir / "operator.log"
                if log.exists():
                    print(log.read_text()[-5000:], file=sys.stderr)
                raise
            finally:
                health.close()
    for key, obj in sorted(samples.items()):
        kind, sample = key.split("/")
        write(
            CUSTOMIZATIONS / kind / "testdata" / f"{sample}.yaml",
            cleaned(obj),
            f"captured by hack/capture-argocd-samples.py: {kind} {sample}",
        )
    write_action_outputs()
    missing = [
        f"{kind}/{name}"
        for kind, phases in (("Environment", ENVIRONMENT_PHASES), ("Release", RELEASE_PHASES))
        for name in phases
        if f"{kind}/{name}" not in samples
    ]
    if missing:
        print(f"never seen: {', '.join(missing)}", file=sys.stderr)


if __name__ == "__main__":
    main()
