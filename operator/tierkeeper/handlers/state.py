"""What the handlers share for the operator's lifetime (kept in kopf's memo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import kopf

from tierkeeper.apply.kube import Kube
from tierkeeper.coalesce import Coalescer
from tierkeeper.config import OperatorConfig
from tierkeeper.reconcile.environment import Memory

EnvKey = tuple[str, str]


@dataclass
class OperatorState:
    kube: Kube
    config: OperatorConfig
    environments: Coalescer[EnvKey]
    memory: Memory = field(default_factory=Memory)
    indexes: dict[str, kopf.Index[Any, Any]] = field(default_factory=dict)

    @classmethod
    def create(cls, kube: Kube, config: OperatorConfig) -> OperatorState:
        # Imported here: the reconcile entry point needs the state it is stored in.
        from tierkeeper.handlers.environment import reconcile

        state: OperatorState
        state = cls(kube, config, Coalescer(lambda key, full: reconcile(state, key, full)))
        return state
