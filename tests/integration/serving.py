"""The guard of a live Environment's traffic: its active Service always selects a Ready pod.

It looks every 50 ms, through the API server, at the Service's selector and the pods it
selects (a no-colour selector selects every app pod of the Environment, both shapes'
while the strategy changes). Blind, not failing, while the API server cannot answer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.integration.k8s import Api
from tierkeeper.models.names import ChildNames


def behind_service(
    api: Api, namespace: str, env: str
) -> tuple[dict[str, str], list[tuple[str, bool]]]:
    """The active Service's selector, and each pod it selects with whether it is Ready."""
    service = api.get("Service", namespace, ChildNames(env).app_service) or {}
    selector: dict[str, str] = ((service.get("spec") or {}).get("selector")) or {}
    if not selector:
        return selector, []
    labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return selector, [
        (
            pod["metadata"]["name"],
            not pod["metadata"].get("deletionTimestamp")
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (pod.get("status") or {}).get("conditions") or []
            ),
        )
        for pod in api.list("Pod", namespace, labels)
    ]


def ready_pods_behind_service(api: Api, namespace: str, env: str) -> int:
    return sum(ready for _, ready in behind_service(api, namespace, env)[1])


@contextmanager
def serving_guard(api: Api, namespace: str, env: str) -> Iterator[list[str]]:
    """Every look at the Environment's active Service finds a Ready pod behind its
    selector; the violations seen, when the block ends."""
    violations: list[str] = []
    stop = threading.Event()
    looks = 0

    def watch() -> None:
        nonlocal looks
        while not stop.is_set():
            with contextlib.suppress(Exception):
                selector, pods = behind_service(api, namespace, env)
                looks += 1
                if not any(ready for _, ready in pods):
                    violations.append(f"look {looks}: no Ready pod behind {selector}: {pods}")
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield violations
    finally:
        stop.set()
        thread.join()
    assert looks, "the guard never saw the cluster"
