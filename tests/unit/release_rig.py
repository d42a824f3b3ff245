"""One Release and its Environment on the in-memory API (`fake_api.py`), stepped by hand.

The rig holds what the operator would be handed at each step: the Release and Environment
records (read back from the fake cluster, so each step sees the status the last one
wrote), the children as the watch cache has them, the write ledger, and a clock the test
moves. Pods become ready only when a test says so (`make_ready`), as a kubelet would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.unit.fake_api import FakeApi
from tierkeeper import API_VERSION
from tierkeeper.config import OperatorConfig
from tierkeeper.models import ReleaseStatus, ResolvedEnvironment, resolve_document
from tierkeeper.models.child import ChildKey, ChildSummary, LiveChildren, summarize
from tierkeeper.models.release import ABORT_ANNOTATION, RETRY_ANNOTATION, ROLLBACK_ANNOTATION
from tierkeeper.models.rollout import Color
from tierkeeper.models.status import parse_status
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.reconcile.records import EnvRecord, ObjectKey, ReleaseRecord
from tierkeeper.reconcile.release import step_release
from tierkeeper.reconcile.release.health_gate import HealthChecks, Verdict
from tierkeeper.render.common import COLOR, COMPONENT, INSTANCE, Component

NAMESPACE = "team"
ENVIRONMENT = "shop"
RELEASE = "shop"
ENV_UID = "env-uid"


@dataclass
class FakeClock:
    now: datetime = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeGate:
    """Stands in for `check_health`: a verdict at once per Service (healthy unless told
    otherwise), and the Services it was asked about, in order."""

    unhealthy: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(
        self,
        checks: HealthChecks,
        release: ObjectKey,
        config: OperatorConfig,
        env: ResolvedEnvironment,
        service: str,
        **_: Any,
    ) -> Verdict:
        self.asked.append(service)
        problem = self.unhealthy.get(service)
        if problem is not None:
            return Verdict(False, problem)
        return Verdict(True, f"{service} healthy")


class ReleaseRig:
    """One Release of image `image` bound to an Environment of `env_spec`."""

    def __init__(self, env_spec: Mapping[str, Any], image: str, **release_spec: Any) -> None:
        self.api = FakeApi()
        self.clock = FakeClock()
        self.ledger = WriteLedger()
        self.config = OperatorConfig()
        # A probe's answer asks for a step; a test steps by hand.
        self.health_checks = HealthChecks(lambda _: None)
        self.env_spec: Mapping[str, Any] = env_spec
        # As the Environment's reconcile leaves it: this generation taken.
        self.env_status: dict[str, Any] = {"observedGeneration": 1}
        self.env_exists = True
        self.bound: str | None = RELEASE
        # What the watch cache says of a child, where it lags behind the API server.
        self.cached: dict[ChildKey, ChildSummary] = {}
        self.api.put(
            {
                "apiVersion": API_VERSION,
                "kind": "Release",
                "metadata": {
                    "name": RELEASE,
                    "namespace": NAMESPACE,
                    "uid": "release-uid",
                    "generation": 1,
                    "creationTimestamp": "2026-12-01T12:00:00Z",
                    "annotations": {},
                },
                "spec": {"environment": ENVIRONMENT, "image": image, **release_spec},
                "status": {},
            }
        )

    # The operator's side.

    @property
    def env(self) -> ResolvedEnvironment:
        return resolve_document(self.env_spec, name=ENVIRONMENT, namespace=NAMESPACE)

    @property
    def release(self) -> dict[str, Any]:
        body = self.api.stored("Release", NAMESPACE, RELEASE)
        assert body is not None
        return body

    def record(self) -> ReleaseRecord:
        body = self.release
        meta = body["metadata"]
        return ReleaseRecord(
            NAMESPACE,
            RELEASE,
            meta["uid"],
            meta["generation"],
            meta["creationTimestamp"],
            body["spec"],
            body["status"],
            (meta.get("annotations") or {}).get(ROLLBACK_ANNOTATION) == "true",
            (meta.get("annotations") or {}).get(ABORT_ANNOTATION) == "true",
            (meta.get("annotations") or {}).get(RETRY_ANNOTATION) == "true",
        )

    def env_record(self) -> EnvRecord | None:
        if not self.env_exists:
            return None
        return EnvRecord(NAMESPACE, ENVIRONMENT, ENV_UID, 1, self.env_spec, self.env_status, False)

    def live(self) -> LiveChildren:
        """The app's children as the watches saw them: the fake's, unless the cache lags."""
        seen = {
            (kind, name): summarize(kind, body)
            for (kind, namespace, name), body in self.api.objects.items()
            if namespace == NAMESPACE and kind in ("Deployment", "Service")
        }
        return {**seen, **self.cached}

    def step(self) -> float | None:
        """One Release step, as the handler would run it now."""
        return asyncio.run(self.step_now())

    async def step_now(self) -> float | None:
        """One Release step, in the running loop."""
        return await step_release(
            self.api.client(),
            self.config,
            self.record(),
            self.env_record(),
            self.bound,
            self.live(),
            self.ledger,
            self.health_checks,
            self.clock,
        )

    # The user's and the kubelet's side.

    def change_spec(self, **changes: Any) -> None:
        """An edit of the Release's spec: a new generation."""
        self.release["spec"].update(changes)
        self.release["metadata"]["generation"] += 1

    def annotate_rollback(self) -> None:
        self.release["metadata"]["annotations"][ROLLBACK_ANNOTATION] = "true"

    def annotate_abort(self) -> None:
        self.release["metadata"]["annotations"][ABORT_ANNOTATION] = "true"

    def annotate_retry(self) -> None:
        self.release["metadata"]["annotations"][RETRY_ANNOTATION] = "true"

    def make_ready(self, deployment: str) -> None:
        """Every pod of the Deployment's current spec runs and is Ready."""
        body = self.api.stored("Deployment", NAMESPACE, deployment)
        assert body is not None, f"no Deployment {deployment}"
        replicas = body["spec"]["replicas"]
        body["status"] = {
            "observedGeneration": body["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }

    def add_pod(self, name: str, image: str, restarts: int) -> None:
        labels = {INSTANCE: self.env.names.instance_label, COMPONENT: Component.APP.value}
        self.api.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
                "status": {"containerStatuses": [{"image": image, "restartCount": restarts}]},
            }
        )

    # What the cluster holds.

    @property
    def status(self) -> ReleaseStatus:
        return parse_status(ReleaseStatus, self.release["status"])

    def condition(self, kind: str) -> tuple[str, str]:
        """(status, reason) of one of the Release's conditions."""
        for condition in self.release["status"].get("conditions", []):
            if condition["type"] == kind:
                return condition["status"], condition["reason"]
        raise AssertionError(f"no {kind} condition in {self.release['status']}")

    def deployment(self, name: str) -> tuple[str, int] | None:
        """(image, replicas) of a Deployment, None if it does not exist."""
        body = self.api.stored("Deployment", NAMESPACE, name)
        if body is None:
            return None
        spec = body["spec"]
        return spec["template"]["spec"]["containers"][0]["image"], spec["replicas"]

    def color(self, color: Color) -> tuple[str, int] | None:
        return self.deployment(self.env.names.color_deployment(color.value))

    def generation(self, deployment: str) -> int:
        body = self.api.stored("Deployment", NAMESPACE, deployment)
        assert body is not None
        generation: int = body["metadata"]["generation"]
        return generation

    def serving(self, service: str | None = None) -> str:
        """The colour a Service selects (the active one unless named)."""
        name = service or self.env.names.app_service
        body = self.api.stored("Service", NAMESPACE, name)
        assert body is not None, f"no Service {name}"
        selected: str = body["spec"]["selector"][COLOR]
        return selected

    def events(self) -> list[str]:
        return [event["reason"] for event in self.api.events]

    def children(self) -> list[tuple[str, str]]:
        """(kind, name) of every object the operator created besides the Release."""
        return [(kind, name) for (kind, _, name) in self.api.objects if kind != "Release"]
