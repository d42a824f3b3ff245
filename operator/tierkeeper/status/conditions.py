"""Conditions in the Kubernetes style: merging keeps lastTransitionTime unless status flips."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tierkeeper.models import Condition
from tierkeeper.models.status import ConditionStatus


@dataclass(frozen=True)
class Observation:
    """A condition as computed now, before it is dated."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""

    @property
    def true(self) -> bool:
        return self.status == "True"


def observe(type_: str, ok: bool, reason: str, message: str = "") -> Observation:
    return Observation(type_, "True" if ok else "False", reason, message)


def merge_conditions(
    previous: Sequence[Condition],
    observations: Iterable[Observation],
    *,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """New conditions; a condition whose status did not change keeps its transition time."""
    before = {condition.type: condition for condition in previous}
    merged = []
    for seen in observations:
        old = before.get(seen.type)
        since = old.last_transition_time if old and old.status == seen.status else now
        merged.append(
            Condition(
                type=seen.type,
                status=seen.status,
                reason=seen.reason,
                message=seen.message,
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return merged


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def raw_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    """A condition of a status as the API server sent it (an index's or a handler's body)."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)
