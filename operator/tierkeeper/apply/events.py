"""Kubernetes Events on our custom resources: every step and every refusal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from tierkeeper import API_VERSION
from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import Forbidden, NotFound

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Involved:
    """The object an Event is about."""

    kind: str
    namespace: str
    name: str
    uid: str


async def post_event(
    kube: ApiClient, on: Involved, type_: EventType, reason: str, message: str
) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    try:
        await kube.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{on.name}.", "namespace": on.namespace},
                "involvedObject": {
                    "apiVersion": API_VERSION,
                    "kind": on.kind,
                    "name": on.name,
                    "namespace": on.namespace,
                    "uid": on.uid,
                },
                "type": type_,
                "reason": reason,
                "message": message[:1024],
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "source": {"component": "tierkeeper"},
                "reportingComponent": "tierkeeper",
            }
        )
    except (Forbidden, NotFound) as error:
        # A namespace being deleted takes no new Events; nothing is left to tell there.
        if isinstance(error, Forbidden) and "being terminated" not in error.message:
            raise
