"""The peer: Argo Rollouts and tierkeeper doing the same blue-green work, one after the
other, on the same control plane in the same run; every figure a ratio tierkeeper / Argo.

Argo Rollouts: N `Rollout`s (2 replicas, blue-green, active and preview Services,
`autoPromotionEnabled`, a scale-down delay as long as tierkeeper's rollback window).
tierkeeper: N Environments with the same app (2 replicas per colour, blue-green, the same
rollback window, no post-promotion watch), PostgreSQL and Redis off, each with its Release.
Neither has a health gate (see bench/README.md for what still differs).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import yaml

from bench.floor import environment, release
from bench.harness import (
    Audit,
    AuditEntry,
    Operator,
    Watch,
    by_request,
    cpu_seconds,
    create_namespace,
    create_or_get,
    http_get,
    idle_figures,
    log,
    patiently,
    percentile,
    rss_bytes,
    wait_live,
)
from tierkeeper import API_VERSION
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.devcluster import processes
from tierkeeper.devcluster.cluster import free_ports
from tierkeeper.handlers.coalesce import CONCURRENCY
from tierkeeper.render.common import COLOR

ROOT = Path(__file__).resolve().parent.parent
ARGO_BUILD = ROOT / "hack" / "argo-rollouts" / "build.sh"
ROLLOUTS = "argoproj.io/v1alpha1"
# client-go's default User-Agent starts with the binary's name.
ARGO_AGENT = "rollouts-controller/"
# Argo keeps the previous ReplicaSet this long after a switch; tierkeeper its standby colour.
STANDBY_SECONDS = 7200
IMAGE = "registry.example/peer:{}"
REPLICAS = 2
PORT = 8080
# The production shape without the health gate: the production tier always has one (a
# null `healthCheck` is pruned by the API server), and Argo's blue-green has none unless
# an AnalysisTemplate is written for it. Only tier defaults differ from production, and
# none of them acts here (the data services are off, no Release fails).
TIERKEEPER_SPEC: Mapping[str, Any] = {
    "tier": "development",
    "app": {"replicas": REPLICAS, "port": PORT},
    "strategy": {
        "type": "BlueGreen",
        "blueGreen": {"rollbackWindow": f"{STANDBY_SECONDS}s", "postPromotionSeconds": 0},
    },
    "postgres": {"enabled": False},
    "redis": {"enabled": False},
}
# Idle windows start this long after all objects were seen available.
GRACE = 5.0
SETTLE = 5.0


def argo_rollouts() -> Path:
    """The built controller and its CRDs (built by hack/argo-rollouts/build.sh when missing)."""
    out = subprocess.run(["bash", str(ARGO_BUILD)], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class ArgoController:
    """`rollouts-controller` for one namespace, its healthz and metrics on free ports."""

    binary: Path
    kubeconfig: Path
    workdir: Path
    namespace: str = "peer-argo"
    process: Any = None
    started: float = 0.0
    healthz_port: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / "argo-rollouts.log"

    def start(self) -> None:
        # --namespaced watches the namespace of the kubeconfig's context.
        config = yaml.safe_load(self.kubeconfig.read_text())
        for context in config["contexts"]:
            context["context"]["namespace"] = self.namespace
        own = self.log_path.with_suffix(".kubeconfig")
        own.write_text(yaml.safe_dump(config))
        metrics_port, self.healthz_port = free_ports(2)
        command = [
            str(self.binary),
            f"--kubeconfig={own}",
            "--namespaced",
            # No leader election: one replica, as the operator runs here.
            "--leader-elect=false",
            f"--metricsPort={metrics_port}",
            f"--healthzPort={self.healthz_port}",
            # client-go's throttle (40 requests/s by default) lifted, as for the
            # controller-manager: the operator has none, and the bench compares the work.
            "--qps=1000",
            "--burst=2000",
            # As many Rollouts at once as the operator runs reconciles at once.
            f"--rollout-threads={CONCURRENCY}",
            "--loglevel=warn",
        ]
        self.started = time.monotonic()
        self.process = processes.spawn(command, self.log_path)

    async def wait_ready(self, within: float = 60) -> float:
        def live() -> bool:
            return http_get(self.healthz_port, "/healthz") is not None

        return await wait_live(self.process, live, self.started, within, self.log_path)

    @property
    def pid(self) -> int:
        pid: int = self.process.pid
        return pid

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process is not None:
            processes.stop_child(self.process, timeout=30)
            self.process = None


class Controller(Protocol):
    async def wait_ready(self, within: float = ...) -> float: ...
    def rss_bytes(self) -> int: ...
    def cpu_seconds(self) -> float: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class Side:
    """What differs between the two: the objects written, what "available" means, how
    an image is changed and which label of the active Service says what it selects."""

    name: str
    namespace: str
    objects_path: str
    selector_key: str
    create: Callable[[ApiClient, str], Awaitable[None]]
    available: Callable[[Object, str], bool]
    set_image: Callable[[ApiClient, str, str], Awaitable[Object]]
    mine: Callable[[AuditEntry], bool]
    figures: dict[str, Any] = field(default_factory=dict)


def container(image: str) -> Object:
    return {"name": "app", "image": image, "ports": [{"name": "http", "containerPort": PORT}]}


def argo_manifests(name: str, namespace: str, image: str) -> tuple[list[Object], Object]:
    """The active and preview Services, and the Rollout."""
    selector = {"app": name}
    services: list[Object] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service, "namespace": namespace},
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": PORT, "targetPort": "http"}],
            },
        }
        for service in (name, f"{name}-preview")
    ]
    rollout: Object = {
        "apiVersion": ROLLOUTS,
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": REPLICAS,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [container(image)]},
            },
            "strategy": {
                "blueGreen": {
                    "activeService": name,
                    "previewService": f"{name}-preview",
                    "autoPromotionEnabled": True,
                    "scaleDownDelaySeconds": STANDBY_SECONDS,
                }
            },
        },
    }
    return services, rollout


def argo_side(namespace: str) -> Side:
    rollouts = f"/apis/{ROLLOUTS}/namespaces/{namespace}/rollouts"

    async def create(kube: ApiClient, name: str) -> None:
        services, rollout = argo_manifests(name, namespace, IMAGE.format(1))
        for service in services:
            await create_or_get(kube, service)
        await patiently(partial(kube.request, "POST", rollouts, rollout), "create")

    def available(obj: Object, image: str) -> bool:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        containers = spec["template"]["spec"]["containers"]
        return bool(
            containers[0]["image"] == image
            and status.get("phase") == "Healthy"
            and status.get("observedGeneration") == str(obj["metadata"].get("generation"))
            and (status.get("blueGreen") or {}).get("activeSelector")
            == status.get("currentPodHash")
        )

    async def set_image(kube: ApiClient, name: str, image: str) -> Object:
        patch = {"spec": {"template": {"spec": {"containers": [container(image)]}}}}
        return await kube.request(
            "PATCH",
            f"{rollouts}/{name}",
            patch,
            content_type="application/merge-patch+json",
        )

    return Side(
        "argoRollouts",
        namespace,
        rollouts,
        "rollouts-pod-template-hash",
        create,
        available,
        set_image,
        lambda e: e.agent.startswith(ARGO_AGENT),
    )


def tierkeeper_side(namespace: str) -> Side:
    async def create(kube: ApiClient, name: str) -> None:
        await create_or_get(kube, environment(name, namespace, TIERKEEPER_SPEC))
        await create_or_get(kube, release(name, namespace, IMAGE.format(1)))

    def available(obj: Object, image: str) -> bool:
        status = obj.get("status") or {}
        return status.get("phase") == "Promoted" and status.get("activeImage") == image

    async def set_image(kube: ApiClient, name: str, image: str) -> Object:
        patch = {"spec": {"image": image}}
        return await kube.merge_patch(API_VERSION, "Release", namespace, name, patch)

    return Side(
        "tierkeeper",
        namespace,
        f"/apis/{API_VERSION}/namespaces/{namespace}/releases",
        COLOR,
        create,
        available,
        set_image,
        lambda e: e.operator,
    )


def all_available(side: Side, count: int, image: str) -> Callable[[dict[str, Object]], bool]:
    return lambda objects: sum(side.available(o, image) for o in objects.values()) >= count


async def measure(
    side: Side,
    controller: Controller,
    kube: ApiClient,
    audit: Audit,
    n: int,
    idle_seconds: float,
    samples: int,
    figures: dict[str, Any],
) -> None:
    """Fills `figures` as they are taken, so that an interrupted run still has them."""
    names = [f"app-{i:04d}" for i in range(n)]
    await create_namespace(kube, side.namespace)
    controller.start()
    figures["objects"] = n
    try:
        figures["startSeconds"] = round(await controller.wait_ready(), 2)
        await asyncio.sleep(1)
        rss_before = controller.rss_bytes()
        cpu_before = controller.cpu_seconds()
        async with (
            Watch(kube, side.objects_path) as objects,
            Watch(kube, f"/api/v1/namespaces/{side.namespace}/services") as services,
        ):
            log(f"peer {side.name}: {n} objects")
            wall, started = time.time(), time.monotonic()
            await asyncio.gather(*(side.create(kube, name) for name in names))
            image = IMAGE.format(1)
            done = await objects.until(all_available(side, n, image), 300 + 4.0 * n, side.name)
            converged_wall = time.time()
            requests = audit.between(wall, converged_wall, side.mine)
            figures["availableSeconds"] = round(done - started, 2)
            figures["requestsPerObject"] = round(len(requests) / n, 2)
            figures["requestsByRequest"] = by_request(requests)
            log(f"peer {side.name}: available in {done - started:.1f}s, {len(requests)} requests")
            await asyncio.sleep(GRACE)
            rss_after = controller.rss_bytes()
            figures["rssMBBefore"] = round(rss_before / 1e6, 1)
            figures["rssMB"] = round(rss_after / 1e6, 1)
            figures["rssGrowthPerObjectKB"] = round((rss_after - rss_before) / 1e3 / n, 1)
            if idle_seconds:
                quiet = time.time()
                await asyncio.sleep(idle_seconds)
                idle = audit.between(quiet, time.time(), side.mine)
                figures["idle"] = idle_figures(idle, idle_seconds)
            figures["switchMs"] = await switches(side, kube, objects, services, names[:samples])
        figures["cpuSeconds"] = round(controller.cpu_seconds() - cpu_before, 2)
    finally:
        controller.stop()


async def switches(
    side: Side, kube: ApiClient, objects: Watch, services: Watch, names: list[str]
) -> dict[str, Any]:
    """One object at a time: from just before the image change to a watch seeing its
    active Service select something else (the new pods), then until it is available
    again, so that samples do not overlap."""
    namespace = side.namespace
    before: dict[str, str] = {}
    seen: dict[str, float] = {}

    def on_service(_: str, obj: Object, at: float) -> None:
        name = obj["metadata"]["name"]
        selected = ((obj.get("spec") or {}).get("selector") or {}).get(side.selector_key)
        if name in before and name not in seen and selected not in (None, before[name]):
            seen[name] = at

    services.listeners.append(on_service)
    latencies: list[float] = []
    for name in names:
        service = services.objects[f"{namespace}/{name}"]
        before[name] = service["spec"]["selector"][side.selector_key]
        changed = time.monotonic()
        await side.set_image(kube, name, IMAGE.format(2))

        def switched(_: dict[str, Object], name: str = name) -> bool:
            return name in seen

        await services.until(switched, 180, f"{name} switch")
        latencies.append(seen[name] - changed)

        def again(objects: dict[str, Object], name: str = name) -> bool:
            obj = objects.get(f"{namespace}/{name}")
            return obj is not None and side.available(obj, IMAGE.format(2))

        await objects.until(again, 180, f"{name} available on image 2")
    ms = [v * 1000 for v in latencies]
    return {
        "samples": len(ms),
        "p50": round(percentile(ms, 50), 1),
        "p95": round(percentile(ms, 95), 1),
        "all": [round(v, 1) for v in ms],
    }


RATIOS = {
    "availableSeconds": ("availableSeconds",),
    "rssMB": ("rssMB",),
    "rssGrowthPerObjectKB": ("rssGrowthPerObjectKB",),
    "requestsPerObject": ("requestsPerObject",),
    "idleWrites": ("idle", "writes"),
    "switchP50Ms": ("switchMs", "p50"),
    "switchP95Ms": ("switchMs", "p95"),
    "cpuSeconds": ("cpuSeconds",),
}


def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """tierkeeper / Argo Rollouts per figure; None where either lacks it or Argo's is 0."""

    def pick(figures: Any, path: tuple[str, ...]) -> Any:
        for key in path:
            figures = figures.get(key) if isinstance(figures, dict) else None
        return figures

    out: dict[str, Any] = {}
    for name, path in RATIOS.items():
        a, b = pick(ours, path), pick(theirs, path)
        out[name] = round(a / b, 3) if a is not None and b else None
    return out


async def peer(
    kube: ApiClient,
    audit: Audit,
    argo: ArgoController,
    operator: Callable[..., Operator],
    n: int,
    idle_seconds: float,
    samples: int,
    result: dict[str, Any],
) -> None:
    """Argo Rollouts first, then tierkeeper, each over its own namespace; `result` filled
    as the figures are taken."""
    result.update(objects=n, switchSamples=samples, argoRollouts={}, tierkeeper={})
    await measure(
        argo_side(argo.namespace),
        argo,
        kube,
        audit,
        n,
        idle_seconds,
        samples,
        result["argoRollouts"],
    )
    namespace = "peer-tierkeeper"
    await measure(
        tierkeeper_side(namespace),
        operator(namespace),
        kube,
        audit,
        n,
        idle_seconds,
        samples,
        result["tierkeeper"],
    )
    result["ratio"] = ratios(result["tierkeeper"], result["argoRollouts"])
    result["note"] = "every ratio is tierkeeper / Argo Rollouts (below 1: tierkeeper uses less)"
