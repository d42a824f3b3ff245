"""What the benchmarks stand on: an audited local control plane, the operator as a process,
a health server that notes when it answered, and watches that note when they saw a change.

Requests are counted by the API server itself (its audit log), so what kopf sends
(watches, finalizers, annotations) is counted as well as what tierkeeper's own
client sends; the operator's requests are told apart by their User-Agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.apply.errors import ApiError, Conflict
from tierkeeper.devcluster import DevCluster, Toolchain, processes
from tierkeeper.devcluster.cluster import free_ports
from tierkeeper.devcluster.toolchain import BINARIES

ROOT = Path(__file__).resolve().parent.parent
CRDS = ROOT / "crds"

# User-Agents: kopf's own client, and tierkeeper's `ApiClient` (which sends aiohttp's default:
# it names no agent of its own), are the operator's; the bench's clients name theirs.
OPERATOR_AGENTS = ("kopf/", "Python/")
BENCH_AGENT = "tierkeeper-bench"
FLOOR_AGENT = "tierkeeper-floor"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})

# Requests of our admin identity only (the operator, the bench, the floor and KWOK share it;
# the User-Agent tells them apart), without KWOK's node and pod-status heartbeats.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["ResponseStarted", "ResponseComplete", "Panic"],
    "rules": [
        {
            "level": "None",
            "resources": [
                {"group": "", "resources": ["nodes", "nodes/status", "pods/status"]},
                {"group": "coordination.k8s.io", "resources": ["leases"]},
            ],
        },
        {"level": "Metadata", "users": ["tierkeeper-admin"]},
        {"level": "None"},
    ],
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the control plane -----------------------------------------------------------


def bench_toolchain(real: Toolchain, workdir: Path, audit_log: Path) -> Toolchain:
    """The built toolchain with a few flags added: the API server writes an audit log, the
    controller-manager and scheduler lift their client-side rate limits (20 and 50
    requests/s by default) and the controller-manager runs more workers, so that what
    bounds the floor is the machine, not a throttle or a queue."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    unthrottled = ["--kube-api-qps=1000", "--kube-api-burst=2000"]
    # The controller-manager syncs 5 StatefulSets (Deployments, ReplicaSets) at a time by
    # default: at N = 500 the floor's 1000 StatefulSets queue there for minutes while the API
    # server idles, and the floor would measure that queue. Floor and operator share this
    # control plane, so both get the wider queue and the ratio still compares like with like.
    workers = [
        f"--concurrent-{kind}-syncs=50" for kind in ("statefulset", "deployment", "replicaset")
    ]
    extra = {
        "kube-apiserver": [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={audit_log}",
            "--audit-log-maxsize=0",
            "--audit-log-format=json",
        ],
        "kube-controller-manager": unthrottled + workers,
        "kube-scheduler": unthrottled,
    }
    for binary in BINARIES:
        (bin_dir / binary).unlink(missing_ok=True)
        if binary not in extra:
            (bin_dir / binary).symlink_to(real.path(binary))
            continue
        flags = " ".join(f'"{flag}"' for flag in extra[binary])
        (bin_dir / binary).write_text(f'#!/bin/sh\nexec "{real.path(binary)}" "$@" {flags}\n')
        (bin_dir / binary).chmod(0o755)
    stages = workdir / "kwok-stages"
    stages.unlink(missing_ok=True)
    stages.symlink_to(real.stages_dir)
    return Toolchain(bin_dir)


@contextlib.contextmanager
def bench_cluster(workdir: Path) -> Iterator[tuple[DevCluster, Path]]:
    """A local control plane with the CRDs installed, and the path of its audit log."""
    audit_log = workdir / "audit.log"
    toolchain = bench_toolchain(Toolchain.built(), workdir / "toolchain", audit_log)
    with DevCluster(workdir / "cluster", toolchain, name="tierkeeper-bench") as dev:
        dev.kube.install_crds(CRDS)
        yield dev, audit_log


@dataclass(frozen=True)
class AuditEntry:
    at: float  # wall clock, seconds
    agent: str
    verb: str
    resource: str
    namespace: str

    @property
    def operator(self) -> bool:
        return self.agent.startswith(OPERATOR_AGENTS)


@dataclass
class Audit:
    """The API server's audit log, read as it grows (KWOK's entries dropped)."""

    path: Path
    entries: list[AuditEntry] = field(default_factory=list)
    offset: int = 0

    def refresh(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            data = stream.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            event = json.loads(line)
            agent = event.get("userAgent", "")
            if agent.startswith("kwok"):
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", event.get("requestURI", ""))
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            at = datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()
            self.entries.append(
                AuditEntry(at, agent, event["verb"], resource, ref.get("namespace", ""))
            )

    def between(
        self, start: float, end: float, keep: Callable[[AuditEntry], bool]
    ) -> list[AuditEntry]:
        self.refresh()
        return [e for e in self.entries if start <= e.at <= end and keep(e)]


def by_verb(entries: list[AuditEntry]) -> dict[str, int]:
    return dict(sorted(Counter(e.verb for e in entries).items()))


def by_request(entries: list[AuditEntry]) -> dict[str, int]:
    return dict(sorted(Counter(f"{e.verb} {e.resource}" for e in entries).items()))


def idle_figures(entries: list[AuditEntry], seconds: float) -> dict[str, Any]:
    """The requests of an idle window, and the writes among them (0 is the target)."""
    writes = [e for e in entries if e.verb in WRITE_VERBS]
    return {
        "seconds": seconds,
        "writes": len(writes),
        "writesByRequest": by_request(writes),
        "requests": len(entries),
        "requestsByRequest": by_request(entries),
    }


# -- the operator ------------------------------------------------------------------


@dataclass
class Operator:
    """`tierkeeper run` for some namespaces, with its metrics and liveness on free ports."""

    kubeconfig: Path
    namespaces: tuple[str, ...]
    log_path: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # What runs `tierkeeper ARGS`: the module, or the module under a profiler.
    launcher: tuple[str, ...] = (sys.executable, "-m", "tierkeeper")
    process: Any = None
    metrics_port: int = 0
    liveness_port: int = 0
    started: float = 0.0

    def start(self) -> None:
        self.metrics_port, self.liveness_port = free_ports(2)
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **self.extra_env}
        command = [
            *self.launcher,
            "run",
            *(f"--namespace={namespace}" for namespace in self.namespaces),
            "--log-format",
            "plain",
            "--metrics-port",
            str(self.metrics_port),
            "--liveness",
            f"http://127.0.0.1:{self.liveness_port}/healthz",
        ]
        self.started = time.monotonic()
        self.process = processes.spawn(command, self.log_path, env)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.pid != self.process.pid:
            # Under py-spy: stop the operator alone, so that py-spy writes its profile.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(60)
        processes.stop_child(self.process, timeout=30)
        self.process = None

    @property
    def pid(self) -> int:
        """The Python process's pid (the child of py-spy, when py-spy runs it)."""
        pid: int = self.process.pid
        if Path(self.launcher[0]).name != "py-spy":
            return pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(children[0]) if children else pid

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 while the
        endpoint is not up). Only `name` is asked for (prometheus_client's `name[]`): the
        whole page has series per Environment, and the operator would make thousands of
        lines for every poll of a start-up over thousands of them."""
        text = http_get(self.metrics_port, "/metrics?" + urlencode({"name[]": name}))
        if text is None:
            return 0.0
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and set(labels.items()) <= set(sample.labels.items())
        )

    def live(self) -> bool:
        return http_get(self.liveness_port, "/healthz") is not None

    async def wait_ready(self, within: float = 120) -> float:
        """Seconds from start until kopf's liveness endpoint answers (start-up handlers done)."""
        return await wait_live(self.process, self.live, self.started, within, self.log_path)


def http_get(port: int, path: str) -> str | None:
    """The body a local endpoint answers; None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            body: bytes = response.read()
            return body.decode()
    except OSError:
        return None


async def wait_live(
    process: subprocess.Popen[bytes],
    live: Callable[[], bool],
    started: float,
    within: float,
    log_path: Path,
) -> float:
    """Seconds from `started` until `live()`; polled without blocking the event loop, so
    that a Ctrl-C lands at once."""
    deadline = time.monotonic() + within
    while not live():
        if process.poll() is not None:
            raise RuntimeError(f"exited; see {log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not live after {within}s; see {log_path}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid`, all its threads."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the bench's own view of the API ----------------------------------------------


RETRIES: Counter[str] = Counter()


async def patiently(call: Callable[[], Awaitable[Object]], what: str) -> Object:
    """A request that an overloaded API server may time out (5xx, 429, a dropped
    connection) is sent again, as the operator's own retries would; counted in RETRIES."""
    for attempt in range(8):
        try:
            return await call()
        except ApiError as error:
            if (error.status < 500 and error.status != 429) or attempt == 7:
                raise
        except (aiohttp.ClientError, TimeoutError):
            if attempt == 7:
                raise
        RETRIES[what] += 1
        await asyncio.sleep(1.0 + attempt)
    raise AssertionError("unreachable")


async def create_or_get(kube: ApiClient, manifest: Object) -> Object:
    """Create, patiently; an object that a timed-out attempt did create is read back."""
    meta = manifest["metadata"]
    try:
        return await patiently(partial(kube.create, manifest), "create")
    except Conflict:
        return await kube.get(
            manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"]
        )


async def bench_kube(kubeconfig: Path, agent: str = BENCH_AGENT) -> ApiClient:
    """The operator's client, connection pool included, naming itself `agent`."""
    return await ApiClient.connect(str(kubeconfig), agent)


def conditions(obj: Object) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}


class Watch:
    """The objects at `path` by "namespace/name", kept current by a watch; listeners hear
    of every change with the monotonic time it arrived."""

    def __init__(self, kube: ApiClient, path: str) -> None:
        self.kube = kube
        self.path = path
        self.objects: dict[str, Object] = {}
        self.changed = asyncio.Condition()
        self.listeners: list[Callable[[str, Object, float], None]] = []
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        self.task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        version = ""
        while True:
            query = {"watch": "1", "timeoutSeconds": "300", "allowWatchBookmarks": "true"}
            if version:
                query["resourceVersion"] = version
            url = f"{self.kube.api.configuration.host}{self.path}?{urlencode(query)}"
            headers: dict[str, str] = {"Accept": "application/json"}
            await self.kube.api.update_params_for_auth(
                headers, None, ["BearerToken"], self.path, "GET", None
            )
            try:
                response = await self.kube.api.call_api(
                    "GET", url, header_params=headers, _request_timeout=400
                )
                async for line in response.response.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    seen = time.monotonic()
                    if "object" not in event:
                        # A Status instead of an event: the watch itself was refused.
                        raise OSError(f"refused: {event.get('message', event)}")
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        version = ""  # expired: start again from a fresh list
                        break
                    version = obj["metadata"].get("resourceVersion", version)
                    if event["type"] == "BOOKMARK":
                        continue
                    name = f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
                    if event["type"] == "DELETED":
                        self.objects.pop(name, None)
                    else:
                        self.objects[name] = obj
                    for listener in self.listeners:
                        listener(event["type"], obj, seen)
                    async with self.changed:
                        self.changed.notify_all()
            except (TimeoutError, OSError, aiohttp.ClientError) as error:
                log(f"watch {self.path} broke ({error!r}); again")
                await asyncio.sleep(0.5)

    async def until(
        self, predicate: Callable[[dict[str, Object]], bool], within: float, what: str
    ) -> float:
        """The monotonic time at which `predicate` first held."""
        async with self.changed:
            try:
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: predicate(self.objects)), within
                )
            except TimeoutError:
                raise TimeoutError(f"{what}: not within {within:.0f}s") from None
        return time.monotonic()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def summary_ms(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {
        "samples": len(ms),
        "p50": round(statistics.median(ms), 1),
        "p90": round(percentile(ms, 90), 1),
        "max": round(max(ms), 1),
        "all": [round(v, 1) for v in ms],
    }


async def create_namespace(kube: ApiClient, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await kube.request("POST", "/api/v1/namespaces", body)
    # Pods are admitted only once the namespace's `default` ServiceAccount exists.
    for _ in range(600):
        with contextlib.suppress(Exception):
            await kube.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no default ServiceAccount in {name}")
