"""Why a Release may not touch its Environment: each refusal names its reason and the fix."""

from __future__ import annotations

import pytest

from tests.unit.release_rig import ReleaseRig
from tierkeeper.models import Phase, ReleaseSpec
from tierkeeper.reconcile.records import EnvRecord, ReleaseRecord
from tierkeeper.reconcile.release.refusals import refusal_for

RECORD = ReleaseRecord("team", "shop", "uid", 1, "2026-11-24T00:00:00Z", {}, {}, False)
ENV = EnvRecord("team", "shop", "uid", 1, {"tier": "production", "branch": "main"}, {}, False)


def spec(**extra: object) -> ReleaseSpec:
    return ReleaseSpec.model_validate({"environment": "shop", "image": "shop:2", **extra})


def test_refusals_name_the_reason_and_the_fix() -> None:
    missing = refusal_for(RECORD, spec(), None, None, None)
    assert missing is not None and missing.reason == "EnvironmentNotFound"
    bound = refusal_for(RECORD, spec(), ENV, "older", "main")
    assert (
        bound is not None and bound.reason == "EnvironmentAlreadyBound" and "older" in bound.message
    )
    branch = refusal_for(RECORD, spec(source={"branch": "feature"}), ENV, "shop", "main")
    assert branch is not None and branch.reason == "BranchMismatch"
    assert refusal_for(RECORD, spec(source={"branch": "main"}), ENV, "shop", "main") is None
    assert refusal_for(RECORD, spec(), ENV, "shop", "main") is None


def env_ready(reason: str) -> EnvRecord:
    condition = {"type": "Ready", "status": "False", "reason": reason, "message": "why"}
    return EnvRecord("team", "shop", "uid", 1, ENV.spec, {"conditions": [condition]}, False)


def test_a_release_waits_while_its_environment_writes_nothing() -> None:
    taken = refusal_for(RECORD, spec(), env_ready("ChildNameTaken"), "shop", "main")
    assert taken is not None and taken.reason == "EnvironmentRefused"
    assert "ChildNameTaken: why" in taken.message
    secret = refusal_for(RECORD, spec(), env_ready("ExternalSecretMissing"), "shop", "main")
    assert secret is not None and secret.reason == "EnvironmentRefused"
    # Not yet ready, or partly refused: the rollout goes on (it is what makes the app ready).
    assert refusal_for(RECORD, spec(), env_ready("Creating"), "shop", "main") is None
    assert refusal_for(RECORD, spec(), env_ready("ChildRejected"), "shop", "main") is None


def test_a_release_from_the_wrong_branch_hears_so_even_when_another_binds_the_environment() -> None:
    refused = refusal_for(RECORD, spec(source={"branch": "feature"}), ENV, "older", "main")
    assert refused is not None and refused.reason == "BranchMismatch"


def refused_rig(**release_spec: object) -> ReleaseRig:
    return ReleaseRig({"tier": "staging", "branch": "main"}, "shop:1", **release_spec)


def ways_to_be_refused() -> list[object]:
    missing = refused_rig()
    missing.env_exists = False
    bound = refused_rig()
    bound.bound = "older"
    branch = refused_rig(source={"branch": "feature"})
    tier_branch = ReleaseRig({"tier": "production"}, "shop:1", source={"branch": "develop"})
    refused = refused_rig()
    condition = {"type": "Ready", "status": "False", "reason": "ChildNameTaken", "message": "x"}
    refused.env_status = {"observedGeneration": 1, "conditions": [condition]}
    invalid = refused_rig()
    invalid.env_spec = {"tier": "production", "app": {"replicas": -1}}
    return [
        pytest.param(reason, rig, id=f"{reason}-{n}")
        for n, (reason, rig) in enumerate(
            [
                ("EnvironmentNotFound", missing),
                ("EnvironmentAlreadyBound", bound),
                ("BranchMismatch", branch),
                # production deploys main unless its spec names another branch
                ("BranchMismatch", tier_branch),
                ("EnvironmentRefused", refused),
                ("EnvironmentInvalid", invalid),
            ]
        )
    ]


@pytest.mark.parametrize(("reason", "rig"), ways_to_be_refused())
def test_a_refused_release_writes_its_status_and_an_event_and_no_child(
    reason: str, rig: ReleaseRig
) -> None:
    assert rig.step() is None
    assert rig.condition("Ready") == ("False", reason)
    assert rig.condition("Progressing")[0] == "False"
    assert rig.status.phase is Phase.PENDING
    assert rig.status.observed_generation == 1
    assert rig.events() == [reason]
    assert rig.children() == []
    assert {call.verb for call in rig.api.calls} == {"write_status", "create"}
    rig.step()
    assert rig.events() == [reason], "the same refusal is not reported again"


def test_a_refused_release_starts_its_rollout_once_the_refusal_is_lifted() -> None:
    rig = refused_rig()
    rig.bound = "older"
    rig.step()
    rig.bound = "shop"
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING
    assert rig.condition("Ready") == ("False", "Deploying")
    assert rig.deployment(rig.env.names.rolling_deployment) == ("shop:1", 2)


def test_a_release_waits_until_its_environment_has_taken_its_spec() -> None:
    rig = refused_rig()
    rig.env_status = {"observedGeneration": 0}
    assert rig.step() is None
    assert rig.children() == [] and rig.api.calls == []
    rig.env_status = {"observedGeneration": 1}
    rig.step()
    assert rig.status.phase is Phase.DEPLOYING
