"""The Release controller: one step of a rollout at a time, every step's state in status.

- `refusals.py`: why a Release may not touch its Environment;
- `step.py`: a step's inputs and its writes (status first, then the app's children);
- `blue_green.py`, `rolling.py`: the machines, each headed by its table of transitions;
- `rollback.py`: the instant switch back to the standby colour;
- `reshape.py`: a change of strategy under a live app;
- `abort.py`: stopping a rollout in progress, and trying a failed one again;
- `health_gate.py`: the HTTP checks before and after a switch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tierkeeper.apply.client import ApiClient
from tierkeeper.config import OperatorConfig
from tierkeeper.models import InvalidSpec, ReleaseSpec, ResolvedEnvironment, resolve_document
from tierkeeper.models.child import LiveChildren
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.reconcile.records import EnvRecord, ReleaseRecord
from tierkeeper.reconcile.release import abort, blue_green, reshape, rolling
from tierkeeper.reconcile.release.health_gate import HealthChecks
from tierkeeper.reconcile.release.refusals import refusal_for, refuse
from tierkeeper.reconcile.release.step import ReleaseStep
from tierkeeper.status.conditions import observe

__all__ = ["step_release"]


async def step_release(
    kube: ApiClient,
    config: OperatorConfig,
    record: ReleaseRecord,
    env_record: EnvRecord | None,
    bound: str | None,
    live: LiveChildren,
    ledger: WriteLedger,
    health_checks: HealthChecks,
    clock: Callable[[], datetime],
) -> float | None:
    """One step; returns seconds until the next one is due (None: when something changes)."""
    spec = ReleaseSpec.model_validate(record.spec)
    env: ResolvedEnvironment | None = None
    refusal = None
    if env_record is not None:
        try:
            env = resolve_document(
                env_record.spec,
                name=env_record.name,
                namespace=env_record.namespace,
                defaults=config.site.environment_defaults,
            )
        except InvalidSpec as error:
            message = f"Environment {env_record.name} is invalid: {error.message}"
            refusal = observe("Ready", False, "EnvironmentInvalid", message)
    # The branch the tier defaults to counts as one written in the spec.
    branch = env.spec.branch if env else env_record.spec.get("branch") if env_record else None
    refusal = refusal_for(record, spec, env_record, bound, branch) or refusal
    if refusal is not None or env_record is None or env is None:
        # A missing or invalid Environment is always refused; the others are for mypy.
        if refusal is not None:
            await refuse(kube, record, spec, refusal, clock())
        return None
    if env_record.status.get("observedGeneration") != env_record.generation:
        # The Environment's own reconcile has not taken this spec yet: it may refuse it, and
        # then its app must keep running as it was. Its status write wakes this Release.
        return None
    step = ReleaseStep(
        kube, config, record, spec, env, env_record, live, ledger, health_checks, clock
    )
    await step.catch_up()
    rollout = step.status.rollout
    if rollout is not None and rollout.reshaping(env):
        wait = await reshape.advance(step, rollout)
    elif record.abort_requested:
        wait = await abort.advance(step)
    elif record.retry_requested:
        wait = await abort.retry(step)
    else:
        wait = await (blue_green.advance(step) if env.blue_green else rolling.advance(step))
    # Written only if it changed: a spec change that starts nothing (new provenance, the
    # refused image again) is still observed, as GitOps tools wait for observedGeneration;
    # and Ready follows whether the app serves.
    await step.save()
    return wait
