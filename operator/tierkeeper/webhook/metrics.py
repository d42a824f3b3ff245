"""Metrics of the hook. Labels are event types and outcomes, both from fixed sets: an
unknown event type is counted as `other`, so a sender cannot grow the series."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from tierkeeper.webhook.events import DEPLOYING_EVENTS, GENERIC

DELIVERIES = Counter(
    "tierkeeper_webhook_deliveries",
    "Deliveries by event type and outcome (deployed, a refusal, or why nothing was deployed).",
    ["event", "outcome"],
)
SPEC_UPDATE_SECONDS = Histogram(
    "tierkeeper_webhook_spec_update_seconds",
    "From a delivery's arrival to every matching Release's spec written.",
    ["event"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

TRAFFIC_SECONDS = Histogram(
    "tierkeeper_webhook_traffic_seconds",
    "From a delivery's arrival to the operator reporting its image active (outcome active), "
    "or its rollout ended otherwise (failed, superseded, timed_out, unknown).",
    ["event", "outcome"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

_KNOWN = {*DEPLOYING_EVENTS, GENERIC, "ping"}


def event_label(event: str) -> str:
    return event if event in _KNOWN else "other"


def count(event: str, outcome: str) -> None:
    DELIVERIES.labels(event_label(event), outcome).inc()
