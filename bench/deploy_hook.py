"""Deploy on push, timed (bench/README.md, "Deploy hook"): from a signed `workflow_run`
delivery to the Release's spec updated, and to traffic on the new image (the active
Service selecting the other colour), on the local control plane with KWOK pods.

    .venv/bin/python bench/deploy_hook.py [--environments N] [--output PATH]

The operator (`tierkeeper run`) and the hook (`tierkeeper webhook`) run as real
processes; production Environments with a 1 s health-check interval, so the blue-green
gate (three healthy answers) takes about 3 s of every switch by design.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client.parser import text_string_to_metric_families

from bench.floor import environment, release
from bench.harness import (
    Operator,
    Watch,
    bench_cluster,
    bench_kube,
    create_namespace,
    create_or_get,
    log,
    summary_ms,
)
from tierkeeper import API_VERSION
from tierkeeper.apply.client import Object
from tierkeeper.devcluster import processes
from tierkeeper.devcluster.cluster import free_ports
from tierkeeper.devcluster.health import HealthServer
from tierkeeper.render.common import COLOR
from tierkeeper.webhook.guard import sign

NAMESPACE = "hook"
SECRET = b"bench-secret"
TEMPLATE = "registry.example/shop:sha-{sha}"
# As bench/run.py's switch measurement: builtin PostgreSQL, 1 s health checks, no
# post-promotion watch.
PRODUCTION = {
    "tier": "production",
    "postgres": {"provider": "builtin", "instances": 1},
    "app": {"healthCheck": {"intervalSeconds": 1}},
    "strategy": {"blueGreen": {"postPromotionSeconds": 0}},
}


def repository(name: str) -> str:
    return f"acme/{name}"


def start_hook(kubeconfig: Path, workdir: Path) -> tuple[Any, int, int]:
    secrets = workdir / "hook-secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "default").write_bytes(SECRET)
    port, metrics_port = free_ports(2)
    command = [
        sys.executable,
        "-m",
        "tierkeeper",
        "webhook",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--metrics-port={metrics_port}",
        f"--secrets-dir={secrets}",
        f"--namespace={NAMESPACE}",
        "--log-format=plain",
    ]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    process = processes.spawn(command, workdir / "webhook.log", env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process, port, metrics_port
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("the hook did not answer /healthz within 30 s")


def deliver(port: int, name: str, sha: str) -> int:
    body = json.dumps(
        {
            "action": "completed",
            "workflow_run": {"head_branch": "main", "head_sha": sha, "conclusion": "success"},
            "repository": {"full_name": repository(name)},
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(SECRET, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def hook_histogram(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("tierkeeper_webhook_traffic_seconds_")
        and sample.labels.get("outcome") == "active"
        and sample.name.endswith(("_count", "_sum"))
    }
    return {
        "count": found.get("tierkeeper_webhook_traffic_seconds_count", 0.0),
        "sumSeconds": round(found.get("tierkeeper_webhook_traffic_seconds_sum", 0.0), 3),
    }


async def measure(kubeconfig: Path, workdir: Path, count: int) -> dict[str, Any]:
    kube = await bench_kube(kubeconfig)
    names = [f"shop-{i:02d}" for i in range(count)]
    await create_namespace(kube, NAMESPACE)
    health = HealthServer()
    operator = Operator(
        kubeconfig,
        (NAMESPACE,),
        workdir / "operator.log",
        extra_env={"TIERKEEPER_HEALTH_URL": health.template},
    )
    operator.start()
    hook, port, hook_metrics = start_hook(kubeconfig, workdir)
    spec_seen: dict[str, float] = {}
    traffic_seen: dict[str, float] = {}
    wanted: dict[str, str] = {}

    def on_release(_: str, obj: Object, at: float) -> None:
        name = obj["metadata"]["name"]
        if name in wanted and name not in spec_seen and obj["spec"]["image"] == wanted[name]:
            spec_seen[name] = at

    def on_service(_: str, obj: Object, at: float) -> None:
        name = obj["metadata"]["name"]
        selector = (obj.get("spec") or {}).get("selector") or {}
        if name in wanted and name not in traffic_seen and selector.get(COLOR) == "green":
            traffic_seen[name] = at

    def promoted(name: str, image: str) -> Callable[[dict[str, Object]], bool]:
        def check(objects: dict[str, Object]) -> bool:
            status = (objects.get(f"{NAMESPACE}/{name}") or {}).get("status") or {}
            return status.get("phase") == "Promoted" and status.get("activeImage") == image

        return check

    to_spec: list[float] = []
    to_traffic: list[float] = []
    answered: list[float] = []
    try:
        await operator.wait_ready()
        async with (
            Watch(kube, f"/apis/{API_VERSION}/namespaces/{NAMESPACE}/releases") as releases,
            Watch(kube, f"/api/v1/namespaces/{NAMESPACE}/services") as services,
        ):
            releases.listeners.append(on_release)
            services.listeners.append(on_service)
            log(f"deploy hook: {count} production Environments with Releases")
            for name in names:
                deploy = {"repository": repository(name), "imageTemplate": TEMPLATE}
                spec = {**PRODUCTION, "deploy": deploy}
                await create_or_get(kube, environment(name, NAMESPACE, spec))
                await create_or_get(kube, release(name, NAMESPACE, "registry.example/shop:1"))
            for name in names:
                first = promoted(name, "registry.example/shop:1")
                await releases.until(first, 300, f"{name} first deploy")
            for name in names:
                sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
                wanted[name] = TEMPLATE.format(sha=sha)
                sent = time.monotonic()
                status = await asyncio.to_thread(deliver, port, name, sha)
                answered.append(time.monotonic() - sent)
                if status != 200:
                    raise RuntimeError(f"{name}: the hook answered {status}")
                await releases.until(lambda _, n=name: n in spec_seen, 30, f"{name} spec")
                await services.until(lambda _, n=name: n in traffic_seen, 180, f"{name} switch")
                await releases.until(promoted(name, wanted[name]), 60, f"{name} promoted")
                to_spec.append(spec_seen[name] - sent)
                to_traffic.append(traffic_seen[name] - sent)
                log(
                    f"{name}: spec {to_spec[-1] * 1000:.0f} ms, "
                    f"traffic {to_traffic[-1] * 1000:.0f} ms"
                )
        # The hook's own figure, from its follow of each Release (delivery received ->
        # status.activeImage), for comparison with the watch's.
        own = hook_histogram(hook_metrics)
    finally:
        processes.stop_child(hook, timeout=15)
        operator.stop()
        health.close()
        await kube.close()
    return {
        "environments": count,
        "answerMs": summary_ms(answered),
        "eventToSpecMs": summary_ms(to_spec),
        "eventToTrafficMs": summary_ms(to_traffic),
        "hookTrafficHistogram": own,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--environments", type=int, default=10)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("results-deploy-hook.json")
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs here")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tierkeeper-hook-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with bench_cluster(workdir) as (cluster, _):
            results = asyncio.run(measure(cluster.kubeconfig, workdir, args.environments))
            cluster.check()
    document = {
        "benchmark": "deploy-hook",
        "measuredAt": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        **results,
        "runSeconds": round(time.monotonic() - started, 1),
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
