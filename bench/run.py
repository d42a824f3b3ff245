"""tierkeeper's benchmarks against the local control plane; see bench/README.md.

    .venv/bin/python bench/run.py            # full: `make bench`, 45 minutes on two cores
    .venv/bin/python bench/run.py --quick    # smaller N, shorter idle: < 3 minutes
    .venv/bin/python bench/run.py --only memory   # RSS over 0 and 1000 alone
    .venv/bin/python bench/run.py --only scale    # 1000, then 5000 development Environments

Writes bench/results.json (bench/results-quick.json with --quick). Not a test: nothing
here fails on a figure; targets are reported as met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.floor import environment, floor, release
from bench.harness import (
    FLOOR_AGENT,
    RETRIES,
    WRITE_VERBS,
    Audit,
    Operator,
    Watch,
    bench_cluster,
    bench_kube,
    by_request,
    by_verb,
    conditions,
    create_namespace,
    create_or_get,
    idle_figures,
    log,
    summary_ms,
)
from bench.peer import ArgoController, argo_rollouts, peer
from tierkeeper import API_VERSION
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.devcluster.health import HealthServer
from tierkeeper.render.common import COLOR

DEVELOPMENT = {"tier": "development"}
# Production as the README's example (builtin single-instance PostgreSQL: no CloudNativePG
# here), a 1 s health-check interval so the gate takes seconds, no post-promotion watch.
PRODUCTION = {
    "tier": "production",
    "postgres": {"provider": "builtin", "instances": 1},
    "app": {"healthCheck": {"intervalSeconds": 1}},
    "strategy": {"blueGreen": {"postPromotionSeconds": 0}},
}
IMAGE = "registry.example/shop:{}"

# Development Environments by the thousand (`--only scale`), each with a Release: the app
# at no replicas, so its Deployment exists and is watched but no pods start. PostgreSQL
# and Redis are off: their StatefulSets, pods and claims are the control plane's work, and
# on two cores it would take the run past half an hour at 5000 (bench/README.md, Scale).
SCALE = {
    "tier": "development",
    "app": {"replicas": 0},
    "postgres": {"enabled": False},
    "redis": {"enabled": False},
}

# The idle window starts this long after all Environments were seen Ready: the Event that
# follows the last one's Ready status write belongs to converging, not to idling.
GRACE = 5.0
# RSS is read this long after what it is about (all Ready, a start-up's reconciles done):
# what the last steps held is let go by then.
SETTLE = 5.0

# Issue 20's: convergence/floor at N = 200 and at the largest N, requests per Environment
# to converge (at N = 200), writes while idle (also at the largest scale), switch and
# rollback p50, RSS over 1000 Environments with Releases.
TARGETS = {
    "convergenceRatioAt200": 1.15,
    "convergenceRatioAtLargest": 1.15,
    "requestsPerEnvironment": 14,
    "idleWrites": 0,
    "scaleIdleWrites": 0,
    "switchP50Ms": 100,
    "rollbackP50Ms": 1000,
    "rssMBAt1000": 120,
}


@dataclass(frozen=True)
class Plan:
    convergence: tuple[int, ...]
    ratio_at: int  # the N whose ratio the target is about (and whose idle is measured)
    # Runs at `ratio_at` and at the largest N, each target judged by their median.
    repeats: int
    idle_seconds: float
    switches: int
    # Environments -> the namespaces that hold them, written for the memory run
    # (floor_namespaces; floor-N: never reconciled until then; conv-N: converged).
    memory: dict[int, tuple[str, ...]]
    startup_at: int
    peer: int  # Rollouts, and Environments with Releases, in the peer run (bench/peer.py)
    peer_idle_seconds: float
    scale: tuple[int, ...]  # Environments in the scale run, one size after the other
    # Whether a run of everything ends with the scale run (a quick one would pass 3 minutes).
    scale_in_all: bool

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            memory = {0: (), 50: ("conv-50",)}
            return cls((50,), 50, 1, 10, 3, memory, 50, 10, 5, (100, 500), False)
        memory = {0: (), 200: ("conv-200",), 1000: ("conv-500", "floor-500")}
        return cls((50, 200, 500), 200, 3, 60, 10, memory, 200, 100, 60, (1000, 5000), True)

    def memory_only(self) -> Plan:
        """RSS over no Environments and over the most, nothing else (no start-up run)."""
        last = max(self.memory)
        return replace(self, convergence=(), memory={0: (), last: self.memory[last]}, startup_at=-1)


@dataclass
class Bench:
    """One control plane of the run, and what the bench needs on it."""

    kubeconfig: Path
    workdir: Path
    audit: Audit
    kube: ApiClient  # the bench's own client (User-Agent tierkeeper-bench)
    profile: str | None = None  # py-spy | heap
    operators: int = 0

    def operator(self, *namespaces: str, **env: str) -> Operator:
        self.operators += 1
        label = f"{self.operators:02d}-{'+'.join(namespaces)}"
        launcher: tuple[str, ...] = (sys.executable, "-m", "tierkeeper")
        if self.profile == "py-spy":
            out = self.workdir / f"py-spy-{label}.txt"
            py_spy = str(Path(sys.executable).with_name("py-spy"))
            launcher = (py_spy, "record", "--format", "raw", "-r", "50", "-o", str(out), "--")
            launcher += (sys.executable, "-m", "tierkeeper")
        elif self.profile == "heap":
            out = self.workdir / f"heap-{label}.txt"
            launcher = (sys.executable, str(Path(__file__).with_name("memprofile.py")), str(out))
        return Operator(
            self.kubeconfig, namespaces, self.workdir / f"operator-{label}.log", env, launcher
        )


@dataclass
class Clusters:
    """A fresh control plane for each part of the run. Every convergence run (the floor's
    and the operator's apart), the switch, the peer, the memory and the scale run starts
    on an empty cluster: no run is slowed by the pods, claims and etcd history of one
    before it, and nothing has to be deleted between them (the namespace controller takes
    longer to empty a namespace than a control plane takes to start: bench/README.md)."""

    workdir: Path
    profile: str | None
    started: int = 0

    @contextlib.asynccontextmanager
    async def fresh(self, part: str, *crds: Path) -> AsyncIterator[Bench]:
        """A control plane with tierkeeper's CRDs and `crds`, stopped on leaving."""
        self.started += 1
        workdir = self.workdir / f"{self.started:02d}-{part}"
        log(f"{part}: a fresh control plane")
        # Starting it blocks the event loop for its 5 s: nothing else of the bench runs then.
        with bench_cluster(workdir) as (cluster, audit_log):
            for path in crds:
                cluster.kube.install_crds(path)
            kube = await bench_kube(cluster.kubeconfig)
            try:
                await warm_up(kube, cluster.kubeconfig)
                yield Bench(cluster.kubeconfig, workdir, Audit(audit_log), kube, self.profile)
                cluster.check()
            finally:
                await kube.close()


async def warm_up(kube: ApiClient, kubeconfig: Path) -> None:
    """One Environment and its children, written by the floor in a namespace of their own.
    A fresh API server is slow at its first writes of each kind (bench/README.md): without
    this, whichever run writes first on a control plane would pay for them, and only the
    floor's runs start writing the moment their control plane is up."""
    writer = await bench_kube(kubeconfig, FLOOR_AGENT)
    try:
        await create_namespace(kube, "warm-up")
        await floor(kube, writer, "warm-up", ["warm-up"], DEVELOPMENT)
    finally:
        await writer.close()


def env_path(namespace: str) -> str:
    return f"/apis/{API_VERSION}/namespaces/{namespace}/environments"


def all_ready(count: int) -> Callable[[dict[str, Object]], bool]:
    def check(objects: dict[str, Object]) -> bool:
        ready = sum(1 for obj in objects.values() if conditions(obj).get("Ready") == "True")
        return ready >= count

    return check


def statefulsets_ready(count: int) -> Callable[[dict[str, Object]], bool]:
    """What the operator's DatabaseReady and CacheReady ask of a StatefulSet."""

    def ready(obj: Object) -> bool:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        desired = spec.get("replicas", 1)
        return bool(
            status.get("observedGeneration") == obj["metadata"].get("generation")
            and status.get("updatedReplicas", 0) >= desired
            and status.get("readyReplicas", 0) >= desired
        )

    return lambda objects: sum(1 for obj in objects.values() if ready(obj)) >= count


async def gather_limited(jobs: list[Callable[[], Awaitable[Any]]], limit: int = 100) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> None:
        async with semaphore:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))


# -- convergence against the floor, requests, idle writes -----------------------


async def convergence(
    clusters: Clusters, n: int, idle_seconds: float, run: int = 1
) -> dict[str, Any]:
    """The floor, then the operator, each over N new Environments on a control plane of its
    own (namespaces `floor-N`, `conv-N`)."""
    names = [f"env-{i:04d}" for i in range(n)]
    timeout = 300 + 4.0 * n

    async with clusters.fresh(f"floor-{n}-run-{run}") as bench:
        log(f"convergence N={n} (run {run}): floor")
        namespace = f"floor-{n}"
        await create_namespace(bench.kube, namespace)
        writer = await bench_kube(bench.kubeconfig, FLOOR_AGENT)
        path = f"/apis/apps/v1/namespaces/{namespace}/statefulsets"
        async with Watch(bench.kube, path) as sets:
            wall, started = time.time(), time.monotonic()
            retried, cpu = sum(RETRIES.values()), time.process_time()
            await floor(bench.kube, writer, namespace, names, DEVELOPMENT)
            retried = sum(RETRIES.values()) - retried
            floor_write_seconds = time.monotonic() - started
            done = await sets.until(statefulsets_ready(2 * n), timeout, f"floor N={n}")
            floor_cpu = time.process_time() - cpu
        await writer.close()
        floor_seconds = done - started
        floor_requests = bench.audit.between(wall, time.time(), lambda e: e.agent == FLOOR_AGENT)
        log(f"floor N={n}: {floor_seconds:.1f}s (children written in {floor_write_seconds:.1f}s)")

    async with clusters.fresh(f"conv-{n}-run-{run}") as bench:
        log(f"convergence N={n} (run {run}): operator")
        namespace = f"conv-{n}"
        await create_namespace(bench.kube, namespace)
        operator = bench.operator(namespace)
        operator.start()
        try:
            await operator.wait_ready()
            await asyncio.sleep(1)
            async with Watch(bench.kube, env_path(namespace)) as envs:
                wall, started, cpu = time.time(), time.monotonic(), operator.cpu_seconds()
                await asyncio.gather(
                    *(
                        create_or_get(bench.kube, environment(name, namespace, DEVELOPMENT))
                        for name in names
                    )
                )
                done = await envs.until(all_ready(n), timeout, f"operator N={n}")
                operator_cpu = operator.cpu_seconds() - cpu
            converged_wall = time.time()
            operator_seconds = done - started
            ratio = operator_seconds / floor_seconds
            log(f"operator N={n}: {operator_seconds:.1f}s, ratio {ratio:.2f}")
            requests = bench.audit.between(wall, converged_wall, lambda e: e.operator)
            result: dict[str, Any] = {
                "environments": n,
                "run": run,
                "floorSeconds": round(floor_seconds, 2),
                "floorWriteSeconds": round(floor_write_seconds, 2),
                # Requests the overloaded API server timed out and the floor sent again (each
                # after a 1 s+ pause: a floor with retries is slower, the ratio kinder).
                "floorRetries": retried,
                "operatorSeconds": round(operator_seconds, 2),
                # CPU the writer side used on the cores it shares with the control plane:
                # the operator process; for the floor, the bench process (its writes and its
                # watch).
                "floorCpuSeconds": round(floor_cpu, 1),
                "operatorCpuSeconds": round(operator_cpu, 1),
                "ratio": round(ratio, 3),
                "operatorRequests": {
                    "total": len(requests),
                    "perEnvironment": round(len(requests) / n, 2),
                    "byVerb": by_verb(requests),
                    "byRequest": by_request(requests),
                },
                "floorRequests": {
                    "total": len(floor_requests),
                    "perEnvironment": round(len(floor_requests) / n, 2),
                    "byVerb": by_verb(floor_requests),
                },
                "operatorReconciles": operator.metric(
                    "tierkeeper_reconcile_total", kind="Environment"
                ),
                "operatorRssMB": round(operator.rss_bytes() / 1e6, 1),
            }
            if idle_seconds:
                result["idle"] = await idle_window(bench, converged_wall, idle_seconds)
        finally:
            operator.stop()
    return result


async def idle_window(bench: Bench, converged_wall: float, seconds: float) -> dict[str, Any]:
    """The operator's requests over `seconds` from GRACE after `converged_wall` (the wall
    time all were seen Ready), and its writes in the grace before."""
    log(f"idle {GRACE:.0f}+{seconds:.0f}s")
    await asyncio.sleep(max(0.0, converged_wall + GRACE + seconds - time.time()))
    quiet = converged_wall + GRACE
    grace = bench.audit.between(converged_wall, quiet, lambda e: e.operator)
    idle = bench.audit.between(quiet, time.time(), lambda e: e.operator)
    figures = {
        **idle_figures(idle, seconds),
        "graceSeconds": GRACE,
        "writesInGrace": by_request([e for e in grace if e.verb in WRITE_VERBS]),
    }
    log(f"idle: {figures['writes']} writes, {len(idle)} requests")
    return figures


# -- blue-green switch and rollback latency ---------------------------------------


async def switch_latency(bench: Bench, count: int) -> dict[str, Any]:
    namespace = "switch"
    names = [f"shop-{i:02d}" for i in range(count)]
    await create_namespace(bench.kube, namespace)
    health = HealthServer()
    operator = bench.operator(namespace, TIERKEEPER_HEALTH_URL=health.template)
    operator.start()
    # The first moment each Service is seen selecting the colour it is expected to switch to.
    expected: dict[str, str] = {}
    seen: dict[str, float] = {}

    def on_service(_: str, obj: Object, at: float) -> None:
        name = obj["metadata"]["name"]
        selector = (obj.get("spec") or {}).get("selector") or {}
        if name in expected and name not in seen and selector.get(COLOR) == expected[name]:
            seen[name] = at

    def has_seen(name: str) -> Callable[[dict[str, Object]], bool]:
        return lambda _: name in seen

    switch: list[float] = []
    rollback: list[float] = []
    try:
        await operator.wait_ready()
        releases_path = f"/apis/{API_VERSION}/namespaces/{namespace}/releases"
        async with (
            Watch(bench.kube, releases_path) as releases,
            Watch(bench.kube, f"/api/v1/namespaces/{namespace}/services") as services,
        ):
            services.listeners.append(on_service)

            def promoted(name: str, image: str) -> Callable[[dict[str, Object]], bool]:
                def check(objects: dict[str, Object]) -> bool:
                    status = (objects.get(f"{namespace}/{name}") or {}).get("status") or {}
                    return status.get("phase") == "Promoted" and status.get("activeImage") == image

                return check

            log(f"switch: {count} production Environments with Releases")
            await asyncio.gather(
                *(
                    create_or_get(bench.kube, environment(name, namespace, PRODUCTION))
                    for name in names
                )
            )
            await asyncio.gather(
                *(
                    create_or_get(bench.kube, release(name, namespace, IMAGE.format(1)))
                    for name in names
                )
            )
            for name in names:
                await releases.until(promoted(name, IMAGE.format(1)), 300, f"{name} first deploy")

            async def set_image(name: str, version: int) -> None:
                await bench.kube.merge_patch(
                    API_VERSION,
                    "Release",
                    namespace,
                    name,
                    {"spec": {"image": IMAGE.format(version)}},
                )

            for name in names:
                # Blue serves 1; 2 goes to green, passes its gate, takes the traffic.
                seen.pop(name, None)
                expected[name] = "green"
                patched = time.monotonic()
                await set_image(name, 2)
                await services.until(has_seen(name), 180, f"{name} switch to green")
                answers = [t for t in health.answers.get(f"{name}-preview", []) if t > patched]
                # The gate passes at its third consecutive healthy answer (all are healthy here).
                if len(answers) < 3:
                    raise RuntimeError(f"{name} switched after {len(answers)} health answers")
                switch.append(seen[name] - answers[2])
                await releases.until(promoted(name, IMAGE.format(2)), 60, f"{name} promoted")
                # Revert inside the rollback window: back to blue, still running 1.
                seen.pop(name, None)
                expected[name] = "blue"
                reverted = time.monotonic()
                await set_image(name, 1)
                await services.until(has_seen(name), 60, f"{name} rollback")
                rollback.append(seen[name] - reverted)
                await releases.until(promoted(name, IMAGE.format(1)), 60, f"{name} rolled back")
                log(
                    f"{name}: switch {switch[-1] * 1000:.0f} ms, rollback {rollback[-1] * 1000:.0f} ms"
                )
        histogram = {
            reason: {
                "count": operator.metric("tierkeeper_switch_duration_seconds_count", reason=reason),
                "sumSeconds": round(
                    operator.metric("tierkeeper_switch_duration_seconds_sum", reason=reason), 4
                ),
            }
            for reason in ("Promotion", "Revert")
        }
    finally:
        operator.stop()
        health.close()
    return {
        "environments": count,
        "switchMs": summary_ms(switch),
        "rollbackMs": summary_ms(rollback),
        "operatorSwitchHistogram": histogram,
    }


# -- memory and start-up ----------------------------------------------------------


async def floor_namespaces(bench: Bench, plan: Plan) -> None:
    """The namespaces the memory run reads, on its control plane: the floor writes each
    (one after the other, the pods of one starting while the next is written) and all
    their StatefulSets are waited for; then one operator converges the conv-N namespaces
    (their Environments then have a status, as a convergence run leaves them: their
    Releases step at once when the measured operator starts) and stops. floor-N's
    Environments no operator has seen."""
    namespaces = sorted({ns for group in plan.memory.values() for ns in group})
    count = sum(len(names_in(ns)) for ns in namespaces)
    timeout = 300 + 4.0 * count
    writer = await bench_kube(bench.kubeconfig, FLOOR_AGENT)
    try:
        async with Watch(bench.kube, "/apis/apps/v1/statefulsets") as sets:
            for ns in namespaces:
                log(f"memory: the floor writes {len(names_in(ns))} Environments in {ns}")
                await create_namespace(bench.kube, ns)
                await floor(bench.kube, writer, ns, names_in(ns), DEVELOPMENT)
            await sets.until(statefulsets_ready(2 * count), timeout, "the floor's StatefulSets")
    finally:
        await writer.close()
    converged = [ns for ns in namespaces if ns.startswith("conv-")]
    if not converged:
        return  # an operator over no namespace would watch them all
    operator = bench.operator(*converged)
    operator.start()
    try:
        async with Watch(bench.kube, f"/apis/{API_VERSION}/environments") as envs:
            ready = sum(len(names_in(ns)) for ns in converged)
            await envs.until(all_ready(ready), timeout, f"{', '.join(converged)} converged")
    finally:
        operator.stop()


def names_in(namespace: str) -> list[str]:
    """The Environments of `namespace` (floor-N, conv-N): N of them."""
    return [f"env-{i:04d}" for i in range(int(namespace.rsplit("-", 1)[1]))]


def deployed(namespaces: tuple[str, ...], count: int) -> Callable[[dict[str, Object]], bool]:
    """`count` Environments of `namespaces` Ready with their Release's app available."""

    def check(objects: dict[str, Object]) -> bool:
        done = 0
        for key, obj in objects.items():
            found = conditions(obj)
            if key.split("/")[0] in namespaces and found.get("AppReady") == "True":
                done += found.get("Ready") == "True"
        return done >= count

    return check


async def memory_and_startup(bench: Bench, plan: Plan) -> dict[str, Any]:
    """A fresh operator per size over that many existing Environments, each given a Release
    (a Rolling Deployment): RSS once all are Ready with their app. At `startup_at`, the
    operator is then restarted over the converged Environments and timed."""
    namespaces = sorted({ns for group in plan.memory.values() for ns in group})
    log(f"memory: Releases for {', '.join(namespaces)}")
    # No app pods: the operator watches Deployments, not pods, and the cluster's two cores
    # would spend minutes starting a thousand of them.
    no_pods = {"spec": {"app": {"replicas": 0}}}
    jobs: list[Callable[[], Awaitable[Any]]] = []
    for ns in namespaces:
        for name in names_in(ns):
            jobs.append(
                partial(bench.kube.merge_patch, API_VERSION, "Environment", ns, name, no_pods)
            )
            jobs.append(partial(create_or_get, bench.kube, release(name, ns, IMAGE.format(1))))
    await gather_limited(jobs)
    await create_namespace(bench.kube, "idle")
    rss: dict[str, float] = {}
    startup: dict[str, Any] = {}
    async with Watch(bench.kube, f"/apis/{API_VERSION}/environments") as envs:
        for size, group in plan.memory.items():
            operator = bench.operator(*(group or ("idle",)))
            operator.start()
            try:
                await operator.wait_ready()
                started = time.monotonic()
                await envs.until(deployed(group, size), 300 + 1.5 * size, f"memory {size}")
                log(f"memory: {size} Ready with a Release in {time.monotonic() - started:.0f}s")
                rss[str(size)] = await settled_rss_mb(operator)
                log(f"memory: RSS {rss[str(size)]} MB with {size}")
                if bench.profile == "heap":
                    os.kill(operator.pid, signal.SIGUSR1)
                    await asyncio.sleep(10)
                if size == plan.startup_at:
                    operator.stop()
                    operator = bench.operator(*group)
                    startup = await measure_startup(operator, size)
                    startup["rssMBAfterRestart"] = await settled_rss_mb(operator)
            finally:
                operator.stop()
    last = max(plan.memory)
    return {
        "memory": {
            "rssMB": rss,
            "perEnvironmentKB": round((rss[str(last)] - rss["0"]) * 1000 / last, 1),
            "note": "a fresh operator per size over that many development Environments, each "
            "with a Release (Rolling, app.replicas 0: a Deployment, no pods); RSS (VmRSS) read "
            f"{SETTLE:.0f}s after all were Ready with AppReady",
        },
        "startup": startup,
    }


async def settled_rss_mb(operator: Operator) -> float:
    """The operator's VmRSS in MB, read SETTLE seconds from now."""
    await asyncio.sleep(SETTLE)
    return round(operator.rss_bytes() / 1e6, 1)


async def measure_startup(operator: Operator, size: int) -> dict[str, Any]:
    """Seconds from the operator's start until its first reconcile has finished, and until
    it has finished as many as there are Environments."""
    operator.start()
    first = every = live = None
    deadline = time.monotonic() + 120 + size
    while time.monotonic() < deadline and every is None:
        now = time.monotonic() - operator.started
        if live is None and operator.live():
            live = now
        done = operator.metric("tierkeeper_reconcile_total", kind="Environment")
        if first is None and done >= 1:
            first = now
        if done >= size:
            every = now
        await asyncio.sleep(0.025)
    log(f"start-up over {size}: first reconcile after {first}s, {size} after {every}s")
    return {
        "environments": size,
        "firstReconcileSeconds": None if first is None else round(first, 2),
        "livenessSeconds": None if live is None else round(live, 2),
        "reconcilesEqualToEnvironmentsSeconds": None if every is None else round(every, 2),
        "note": "from the start of the operator process (Python start-up and imports "
        "included) over converged Environments, each with a Release; time read from its "
        "metrics (tierkeeper_reconcile_total) every 25 ms",
    }


# -- scale ----------------------------------------------------------------------------


class DeployedNames:
    """The watched Environments that are Ready with their Release's app available (as
    `deployed` asks), kept as each event arrives: a predicate over all objects at every
    event is quadratic, and at thousands the bench would take the cores it measures."""

    def __init__(self, watch: Watch) -> None:
        self.names: set[str] = set()
        watch.listeners.append(self.heard)

    def heard(self, kind: str, obj: Object, _: float) -> None:
        key = f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
        found = conditions(obj)
        if kind != "DELETED" and found.get("Ready") == found.get("AppReady") == "True":
            self.names.add(key)
        else:
            self.names.discard(key)

    def at_least(self, count: int) -> Callable[[dict[str, Object]], bool]:
        return lambda _: len(self.names) >= count


async def sample_load(into: list[float]) -> None:
    """The 1-minute load average every 10 s: the seconds of a run are the machine's too."""
    while True:
        into.append(os.getloadavg()[0])
        await asyncio.sleep(10)


def per_environment_kb(rss: dict[int, float]) -> dict[str, float]:
    """KB per Environment from each size to the next: flat when a later step costs no
    more per Environment than the first."""
    sizes = sorted(rss)
    return {f"{a}to{b}": round((rss[b] - rss[a]) * 1000 / (b - a), 1) for a, b in pairwise(sizes)}


async def scale(bench: Bench, plan: Plan, results: dict[str, Any]) -> None:
    """Development Environments with Releases by the thousand in one namespace, one size
    after the other (`plan.scale`). For each size: an operator converges the Environments
    the size adds, its RSS once all are Ready, its requests while idle; then a fresh
    operator's start-up over all of them, and its RSS after. Each size's figures go into `results` as soon as
    they are taken."""
    namespace, idle_ns = "scale", "idle"
    report: dict[str, Any] = {
        "spec": SCALE,
        "sizes": [],
        "note": "rssMB: the operator that converged them, read "
        f"{SETTLE:.0f}s after all were Ready (at the second size it had started over the "
        "first's, converged); rssMBAfterRestart: a fresh operator, read "
        f"{SETTLE:.0f}s after its start-up had finished as many reconciles as there are "
        "Environments; rssMBWithNone: an operator over an empty namespace. "
        "perEnvironmentKB: from each size to the next; memory per Environment is flat when "
        "the later step costs no more than the first. Each Environment has a Release "
        "(Rolling, app.replicas 0: a Deployment, no pods); PostgreSQL and Redis are off "
        "(bench/README.md, Scale): 2 children per Environment (the app's Service and "
        "Deployment) where the memory run's have 14",
    }
    results["scale"] = report
    load: list[float] = []
    sampler = asyncio.create_task(sample_load(load))
    try:
        await create_namespace(bench.kube, idle_ns)
        operator = bench.operator(idle_ns)
        operator.start()
        try:
            await operator.wait_ready()
            report["rssMBWithNone"] = await settled_rss_mb(operator)
        finally:
            operator.stop()
        await create_namespace(bench.kube, namespace)
        async with Watch(bench.kube, env_path(namespace)) as envs:
            ready = DeployedNames(envs)
            for made, n in pairwise((0, *plan.scale)):
                await scale_to(bench, namespace, range(made, n), envs, ready, plan, report["sizes"])
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        if load:
            report["loadAverage1m"] = {
                "min": min(load),
                "mean": round(sum(load) / len(load), 2),
                "max": max(load),
                "samples": len(load),
            }
    for reading in ("rssMB", "rssMBAfterRestart"):
        rss = {0: report["rssMBWithNone"]}
        rss |= {size["environments"]: size[reading] for size in report["sizes"]}
        report["perEnvironmentKB" if reading == "rssMB" else "perEnvironmentKBAfterRestart"] = (
            per_environment_kb(rss)
        )


async def scale_to(
    bench: Bench,
    namespace: str,
    numbers: range,
    envs: Watch,
    ready: DeployedNames,
    plan: Plan,
    sizes: list[dict[str, Any]],
) -> None:
    """Create the Environments `numbers` and their Releases beside those before them, with
    an operator running, until all are Ready with their app; then measure as `scale` says,
    into a new entry of `sizes`."""
    n, names = numbers.stop, [f"env-{i:04d}" for i in numbers]
    result: dict[str, Any] = {"environments": n, "created": len(names)}
    sizes.append(result)
    log(f"scale: {len(names)} more Environments, {n} in all")
    operator = bench.operator(namespace)
    operator.start()
    try:
        await operator.wait_ready()
        wall, started = time.time(), time.monotonic()
        await gather_limited(
            [
                partial(create_or_get, bench.kube, manifest)
                for name in names
                for manifest in (
                    environment(name, namespace, SCALE),
                    release(name, namespace, IMAGE.format(1)),
                )
            ]
        )
        created = time.monotonic() - started
        done = await envs.until(ready.at_least(n), 300 + 1.0 * len(names), f"scale N={n}")
        converged_wall = time.time()
        log(f"scale: {n} Ready, {done - started:.0f}s after the first create")
        requests = bench.audit.between(wall, converged_wall, lambda e: e.operator)
        result |= {
            "createSeconds": round(created, 1),
            "convergeSeconds": round(done - started, 1),
            "operatorRequestsPerEnvironment": round(len(requests) / len(names), 2),
            "rssMB": await settled_rss_mb(operator),
        }
        log(f"scale: RSS {result['rssMB']} MB with {n}")
        result["idle"] = await idle_window(bench, converged_wall, plan.idle_seconds)
    finally:
        operator.stop()
    restarted = bench.operator(namespace)
    wall = time.time()
    try:
        result["startup"] = await measure_startup(restarted, n)
        result["rssMBAfterRestart"] = await settled_rss_mb(restarted)
        # Over converged Environments a start-up has nothing to change: what it writes is
        # what a restart costs the API server.
        writes = bench.audit.between(
            wall, time.time(), lambda e: e.operator and e.verb in WRITE_VERBS
        )
        result["startup"]["writesByRequest"] = by_request(writes)
        log(f"scale: RSS {result['rssMBAfterRestart']} MB after a start-up over {n}")
    finally:
        restarted.stop()


# -- the run ------------------------------------------------------------------------


def verdicts(results: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """Each target met or missed; a figure a failed run did not reach is None, not met.
    Where an N has several runs, its figures are their median (with fewer than planned,
    of those there are), and the verdict lists them."""
    largest = max(plan.convergence, default=0)

    def runs_at(n: int, figure: Callable[[dict[str, Any]], float]) -> list[float]:
        return [figure(c) for c in results["convergence"] if c["environments"] == n]

    def ratio(c: dict[str, Any]) -> float:
        return float(c["ratio"])

    def requests(c: dict[str, Any]) -> float:
        return float(c["operatorRequests"]["perEnvironment"])

    idle: dict[str, Any] = next((c["idle"] for c in results["convergence"] if "idle" in c), {})
    switch = results.get("switch", {})
    scale_sizes = results.get("scale", {}).get("sizes") or [{}]
    runs = {
        "convergenceRatioAt200": (plan.ratio_at, runs_at(plan.ratio_at, ratio)),
        "convergenceRatioAtLargest": (largest, runs_at(largest, ratio)),
        "requestsPerEnvironment": (plan.ratio_at, runs_at(plan.ratio_at, requests)),
    }
    figures: dict[str, Any] = {
        name: statistics.median(values) if values else None for name, (_, values) in runs.items()
    }
    figures |= {
        "idleWrites": idle.get("writes"),
        "scaleIdleWrites": scale_sizes[-1].get("idle", {}).get("writes"),
        "switchP50Ms": switch.get("switchMs", {}).get("p50"),
        "rollbackP50Ms": switch.get("rollbackMs", {}).get("p50"),
        "rssMBAt1000": results.get("memory", {}).get("rssMB", {}).get(str(max(plan.memory))),
    }
    if "scale" not in results:
        del figures["scaleIdleWrites"]  # a quick run of everything has no scale run
    measured_at = {name: n for name, (n, _) in runs.items()} | {
        "idleWrites": plan.ratio_at,
        "scaleIdleWrites": scale_sizes[-1].get("environments"),
        "rssMBAt1000": max(plan.memory),
    }
    return {
        name: {
            "value": value,
            "target": TARGETS[name],
            "met": value is not None and value <= TARGETS[name],
            **({"measuredAt": measured_at[name]} if name in measured_at else {}),
            **({"runs": runs[name][1]} if name in runs and len(runs[name][1]) > 1 else {}),
        }
        for name, value in figures.items()
    }


async def all_but_memory(
    plan: Plan, clusters: Clusters, argo: Path | None, results: dict[str, Any]
) -> None:
    """Convergence, switch and the peer (without `argo`, no peer): all but memory."""
    largest = max(plan.convergence, default=0)
    for n in plan.convergence:
        repeats = plan.repeats if n in (plan.ratio_at, largest) else 1
        for run in range(1, repeats + 1):
            # The idle window once, after the last run at `ratio_at`.
            idle = plan.idle_seconds if n == plan.ratio_at and run == repeats else 0
            results["convergence"].append(await convergence(clusters, n, idle, run))
    async with clusters.fresh("switch") as bench:
        results["switch"] = await switch_latency(bench, plan.switches)
    if argo is None:
        return
    results["peer"] = {}
    # Both sides on one control plane, one after the other (bench/peer.py).
    async with clusters.fresh("peer", argo / "crds") as bench:
        await peer(
            bench.kube,
            bench.audit,
            ArgoController(argo / "bin" / "rollouts-controller", bench.kubeconfig, bench.workdir),
            bench.operator,
            plan.peer,
            plan.peer_idle_seconds,
            plan.switches,
            results["peer"],
        )


async def measure(
    plan: Plan, clusters: Clusters, argo: Path | None, results: dict[str, Any], only: str | None
) -> None:
    """Every measurement in turn (or the one named), each result put into `results` as soon
    as it is taken."""
    try:
        if only != "scale":
            if only != "memory":
                await all_but_memory(plan, clusters, argo, results)
            async with clusters.fresh("memory") as bench:
                await floor_namespaces(bench, plan)
                results.update(await memory_and_startup(bench, plan))
        if only == "scale" or (only is None and plan.scale_in_all):
            async with clusters.fresh("scale") as bench:
                await scale(bench, plan, results)
    except Exception as error:
        # What was measured before the failure is still worth writing down.
        log(traceback.format_exc())
        results["error"] = f"{type(error).__name__}: {error}"


def run(
    plan: Plan, workdir: Path, profile: str | None, with_peer: bool, only: str | None
) -> dict[str, Any]:
    """What was measured; on Ctrl-C, what was measured until then."""
    started = time.monotonic()
    results: dict[str, Any] = {} if only == "scale" else {"convergence": []}
    try:
        # Built (when missing) before the control plane starts: a build is not measured.
        # A memory run alone has no peer.
        argo = argo_rollouts() if with_peer and only is None else None
        # asyncio.run turns the first Ctrl-C into a cancellation of `measure`; every wait in
        # it is asynchronous, so that lands at once (or once a control plane has started)
        # and the finally clauses stop the processes; asyncio.run then raises
        # KeyboardInterrupt.
        asyncio.run(measure(plan, Clusters(workdir, profile), argo, results, only))
    except KeyboardInterrupt:
        log("interrupted: writing what was measured")
        results["error"] = "interrupted (Ctrl-C)"
    results["runSeconds"] = round(time.monotonic() - started, 1)
    results["benchRetries"] = dict(RETRIES)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller N, shorter idle")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs here")
    parser.add_argument(
        "--profile",
        choices=["py-spy", "heap"],
        help="run every operator under py-spy (stacks in WORKDIR/py-spy-*.txt) or with a heap "
        "census taken when its RSS is read (WORKDIR/heap-*.txt, bench/memprofile.py)",
    )
    parser.add_argument(
        "--no-peer",
        action="store_true",
        help="leave out the Argo Rollouts peer (and its build): for measuring the operator "
        "alone; the results then have no `peer`",
    )
    parser.add_argument(
        "--only",
        choices=["memory", "scale"],
        help="memory: RSS over 0 and the most Environments alone, their Environments written "
        "by the floor (results-memory.json unless --output); scale: 1000, then 5000 "
        "development Environments (quick: 100, 500), their RSS, start-up and idle writes "
        "(results-scale.json unless --output)",
    )
    args = parser.parse_args()
    plan = Plan.of(args.quick)
    name = "results-quick.json" if args.quick else "results.json"
    if args.only == "memory":
        plan = plan.memory_only()
    if args.only is not None:
        name = name.replace("results", f"results-{args.only}")
    output = args.output or Path(__file__).with_name(name)
    with tempfile.TemporaryDirectory(prefix="tierkeeper-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = run(plan, workdir, args.profile, not args.no_peer, args.only)
    document = {
        "benchmark": "operator",
        "mode": ("quick" if args.quick else "full") + (f", only {args.only}" if args.only else ""),
        "measuredAt": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        # The targets are the other measurements'; what the scale run alone is judged by
        # is in its note.
        **(
            {}
            if args.only == "scale"
            else {"targets": TARGETS, "verdicts": verdicts(results, plan)}
        ),
        **results,
    }
    output.write_text(json.dumps(document, indent=2) + "\n")
    log(f"wrote {output}" + (f" (incomplete: {results['error']})" if "error" in results else ""))
    if results.get("error") == "interrupted (Ctrl-C)":
        return 130
    return 1 if "error" in results else 0


if __name__ == "__main__":
    sys.exit(main())
