"""The guard of a live Environment's traffic: its active Service always selects a Ready pod.

It looks every 50 ms, through the API server, at the Service's selector and the pods it
selects (a no-colour selector selects every app pod of the Environment, both shapes'
while the strategy changes). Blind, not failing, while the API server cannot answer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.integration.k8s import Api
from tierkeeper.models.names import ChildNames


def behind_service_selector(api: Api, namespace: str, env: str) -> dict[str, str]:
    service = api.get("Service", namespace, ChildNames(env).app_service) or {}
    selector: dict[str, str] = ((service.get("spec") or {}).get("selector")) or {}
    return selector


def selected_pods(api: Api, namespace: str, selector: dict[str, str]) -> list[tuple[str, bool]]:
    """Each pod `selector` selects, with whether it is Ready (and not going)."""
    labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return [
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


def behind_service(
    api: Api, namespace: str, env: str
) -> tuple[dict[str, str], list[tuple[str, bool]]]:
    """The active Service's selector, and each pod it selects with whether it is Ready."""
    selector = behind_service_selector(api, namespace, env)
    if not selector:
        return selector, []
    return selector, selected_pods(api, namespace, selector)


def ready_pods_behind_service(api: Api, namespace: str, env: str) -> int:
    return sum(ready for _, ready in behind_service(api, namespace, env)[1])


@contextmanager
def guarding(look: Callable[[], str | None]) -> Iterator[list[str]]:
    """Call `look` every 50 ms while the block runs; each answer but None is a violation.
    A look that raises (the API server away) is blind, not a violation."""
    violations: list[str] = []
    stop = threading.Event()
    looks = 0

    def watch() -> None:
        nonlocal looks
        while not stop.is_set():
            with contextlib.suppress(Exception):
                problem = look()
                looks += 1
                if problem is not None:
                    violations.append(f"look {looks}: {problem}")
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield violations
    finally:
        stop.set()
        thread.join()
    # After `finally`, not in it: a failure of the body must not be masked by this one.
    assert looks, "the guard never saw the cluster"


@contextmanager
def serving_guard(api: Api, namespace: str, env: str) -> Iterator[list[str]]:
    """Every look at the Environment's active Service finds a Ready pod behind its selector."""

    def look() -> str | None:
        selector, pods = behind_service(api, namespace, env)
        if any(ready for _, ready in pods):
            return None
        # The Service and its pods are two reads: a switch landing between them (the old
        # shape's pods already going) is not an outage. Only a selector that still holds
        # after the pods were listed is judged; the next look judges a moved one.
        if behind_service_selector(api, namespace, env) != selector:
            return None
        return f"no Ready pod behind {selector}"

    with guarding(look) as violations:
        yield violations
