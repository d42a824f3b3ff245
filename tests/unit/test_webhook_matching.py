"""Which Releases a change deploys: repository and branch (the tier's by default), waiting
for CI, the image template, and the bound Release; and the Environment fields behind it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.helpers import env_of
from tierkeeper.models import EnvironmentSpec
from tierkeeper.webhook.events import Change
from tierkeeper.webhook.follow import outcome_of
from tierkeeper.webhook.matching import Target, bound_release, image_for, plan

SHA = "4f2a9c1e0b7d35a86f3c2e1d9b8a7f6e5d4c3b2a"


def change(branch: str = "main", **fields: Any) -> Change:
    base: dict[str, Any] = {
        "event": "workflow_run",
        "delivery": "d1",
        "repository": "acme/shop",
        "branch": branch,
        "commit": SHA,
        "image": None,
        "url": None,
    }
    return Change(**{**base, **fields})


def environment(name: str, tier: str, namespace: str = "team", **spec: Any) -> dict[str, Any]:
    deploy = {"repository": "acme/shop", "imageTemplate": "ghcr.io/acme/shop:sha-{sha}"}
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"tier": tier, "deploy": deploy, **spec},
    }


def release(name: str, env: str, created: str, namespace: str = "team", **status: Any) -> Any:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "creationTimestamp": created,
        },
        "spec": {"environment": env, "image": "old"},
        "status": status,
    }


ENVS = [
    environment(
        "dev",
        "development",
        deploy={
            "repository": "acme/shop",
            "waitForCI": False,
            "imageTemplate": "r/shop:{branch}-{shortSha}",
        },
    ),
    environment("stage", "staging"),
    environment("prod", "production"),
]
RELEASES = [
    release("dev", "dev", "2026-01-01T00:00:00Z"),
    release("stage", "stage", "2026-01-01T00:00:00Z"),
    release("prod", "prod", "2026-01-01T00:00:00Z"),
]


def test_each_tier_deploys_its_own_default_branch() -> None:
    targets = {
        branch: [t.environment for t in plan(change(branch), ENVS, RELEASES).targets]
        for branch in ("develop", "staging", "main", "feature/x")
    }
    assert targets == {"develop": ["dev"], "staging": ["stage"], "main": ["prod"], "feature/x": []}


def test_an_explicit_branch_wins_over_the_tiers() -> None:
    envs = [environment("prod", "production", branch="release")]
    assert plan(change("main"), envs, RELEASES).targets == ()
    assert [t.release for t in plan(change("release"), envs, RELEASES).targets] == ["prod"]


def test_a_workflow_run_fills_the_template_of_the_bound_release() -> None:
    (target,) = plan(change("main"), ENVS, RELEASES).targets
    assert target == Target("team", "prod", "prod", "uid-prod", f"ghcr.io/acme/shop:sha-{SHA}")


def test_a_push_deploys_only_environments_that_do_not_wait_for_ci() -> None:
    pushed = plan(change("develop", event="push", before_ci=True), ENVS, RELEASES)
    assert [t.image for t in pushed.targets] == [f"r/shop:develop-{SHA[:7]}"]
    waiting = plan(change("main", event="push", before_ci=True), ENVS, RELEASES)
    assert waiting.targets == () and waiting.passed_over == ("team/prod: waits for CI",)


def test_an_image_from_the_event_wins_over_the_template() -> None:
    (target,) = plan(change("main", image="ghcr.io/acme/shop@sha256:ab"), ENVS, RELEASES).targets
    assert target.image == "ghcr.io/acme/shop@sha256:ab"


def test_repository_matches_without_case_and_an_unknown_one_is_told_apart() -> None:
    assert plan(change("main", repository="ACME/Shop"), ENVS, RELEASES).targets
    unknown = plan(change("main", repository="acme/other"), ENVS, RELEASES)
    assert not unknown.repository_known and unknown.targets == ()
    assert plan(change("feature"), ENVS, RELEASES).repository_known


def test_an_environment_without_a_release_or_an_image_is_passed_over_with_why() -> None:
    envs = [environment("prod", "production"), environment("lone", "production")]
    envs[0]["spec"]["deploy"].pop("imageTemplate")
    passed = plan(change("main"), envs, RELEASES)
    assert passed.targets == ()
    assert passed.passed_over == (
        "team/prod: no image (set deploy.imageTemplate)",
        "team/lone: no Release deploys it yet",
    )


def test_the_oldest_release_binds_and_namespaces_do_not_mix() -> None:
    releases = [
        release("b", "prod", "2026-01-01T00:00:01Z"),
        release("a", "prod", "2026-01-01T00:00:02Z"),
        release("z", "prod", "2026-01-01T00:00:00Z", namespace="elsewhere"),
    ]
    assert bound_release(releases, "team", "prod")["metadata"]["name"] == "b"  # type: ignore[index]
    same_second = [release("b", "prod", "t"), release("c", "prod", "t", rollout={"x": 1})]
    assert bound_release(same_second, "team", "prod")["metadata"]["name"] == "c"  # type: ignore[index]


def test_image_template_without_a_commit_is_no_image() -> None:
    assert image_for("r/shop:{sha}", change(commit=None)) is None
    assert image_for("r/shop:{branch}", change("feature/x y", commit=None)) == "r/shop:feature-x-y"


@pytest.mark.parametrize(
    "template", ["r/shop:{commit}", "r/shop:{sha", "r/shop:{ sha }", "r/shop: {sha}", ""]
)
def test_image_template_refuses_unknown_placeholders(template: str) -> None:
    with pytest.raises(ValidationError):
        EnvironmentSpec.model_validate(
            {"tier": "production", "deploy": {"repository": "a/b", "imageTemplate": template}}
        )


def test_deploy_waits_for_ci_by_default_and_tiers_default_their_branch() -> None:
    env = env_of({"tier": "staging", "deploy": {"repository": "acme/shop"}})
    assert env.spec.deploy is not None and env.spec.deploy.wait_for_ci
    assert env.spec.branch == "staging"
    assert env_of({"tier": "development"}).spec.branch == "develop"
    assert env_of({"tier": "production", "branch": "trunk"}).spec.branch == "trunk"


def test_following_a_release_ends_when_its_image_is_active_failed_or_replaced() -> None:
    def release_with(image: str, **status: str) -> dict[str, Any]:
        return {"spec": {"image": image}, "status": status}

    assert outcome_of(release_with("new", phase="Deploying", targetImage="new"), "new") is None
    assert outcome_of(release_with("new", phase="Verifying", activeImage="new"), "new") == "active"
    failed = release_with("new", phase="Failed", targetImage="new", activeImage="old")
    assert outcome_of(failed, "new") == "failed"
    # A failure of the rollout before this one says nothing about this one yet.
    assert outcome_of(release_with("new", phase="Failed", targetImage="older"), "new") is None
    assert outcome_of(release_with("newer"), "new") == "superseded"
