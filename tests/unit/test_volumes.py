"""What a change of spec does to the live data volumes (reconcile/volumes.py), without I/O:
shrinks refused, growths decided by the claim's class, unwanted data kept or deleted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helpers import env_of
from tierkeeper.models.child import ChildSummary, LiveChildren, summarize
from tierkeeper.models.units import quantity_bytes
from tierkeeper.reconcile.volumes import (
    CHANGE_NOT_ALLOWED,
    CLAIM_NOT_BOUND,
    EXPANSION_NOT_ALLOWED,
    Growth,
    VolumeDecision,
    decide_growth,
    plan_volumes,
)
from tierkeeper.render import data_children
from tierkeeper.render.volumes import Volume, data_volumes

OWNER = "uid-shop"
STAGING = {"tier": "staging"}  # postgres 5Gi, backups 5Gi, Redis 2 x 512Mi


def claim(
    name: str,
    requested: str,
    *,
    capacity: str | None = None,
    phase: str = "Bound",
    storage_class: str | None = "standard",
    resize: str | None = None,
    retained: bool = False,
    controller_uid: str | None = None,
) -> ChildSummary:
    return ChildSummary(
        "PersistentVolumeClaim",
        name,
        "1",
        phase=phase,
        requested=requested,
        capacity=capacity or requested,
        storage_class=storage_class,
        resize=resize,
        retained=retained,
        controller_uid=controller_uid,
    )


def live_of(*summaries: ChildSummary) -> LiveChildren:
    return {(s.kind, s.name): s for s in summaries}


def staging_claims(postgres: str = "5Gi", redis: str = "1024Mi", **kw: Any) -> LiveChildren:
    return live_of(
        claim("data-shop-postgres-0", postgres, **kw),
        claim("data-shop-redis-0", redis, **kw),
        claim("shop-backups", postgres, controller_uid=OWNER, **kw),
    )


def decided(env: Any, live: LiveChildren, expandable: bool | None) -> VolumeDecision:
    """The plan with every growth decided as if each claim's class answered `expandable`."""
    plan = plan_volumes(env, live, OWNER)
    growths = tuple(
        decide_growth(c, live[("PersistentVolumeClaim", c.volume.claim)], expandable)
        for c in plan.growths
    )
    return VolumeDecision(plan, growths)


def test_a_first_creation_has_nothing_to_compare():
    plan = plan_volumes(env_of(STAGING), {}, OWNER)
    assert (plan.shrinks, plan.growths, plan.unwanted, plan.refusal) == ((), (), (), None)


def test_an_unchanged_environment_plans_nothing():
    plan = plan_volumes(env_of(STAGING), staging_claims(), OWNER)
    assert (plan.shrinks, plan.growths, dict(plan.held), plan.unwanted) == ((), (), {}, ())


def test_a_smaller_database_volume_refuses_the_change_with_what_to_do():
    env = env_of({"tier": "staging", "postgres": {"storage": "1Gi"}})
    plan = plan_volumes(env, staging_claims(), OWNER)
    assert {c.volume.claim for c in plan.shrinks} == {"data-shop-postgres-0", "shop-backups"}
    refusal = plan.refusal
    assert refusal is not None and not refusal.true
    assert refusal.reason == CHANGE_NOT_ALLOWED
    assert "volumes cannot shrink: postgres.storage 5Gi -> 1Gi" in refusal.message
    assert "keep postgres.storage at 5Gi" in refusal.message
    assert "tierkeeper restore" in refusal.message


def test_sizes_compare_by_bytes_not_by_spelling():
    env = env_of({"tier": "staging", "postgres": {"storage": "5120Mi"}})
    assert plan_volumes(env, staging_claims(), OWNER).refusal is None


def test_a_smaller_redis_volume_is_held_at_its_live_size_not_refused():
    env = env_of({"tier": "staging", "redis": {"maxMemory": "256Mi"}})
    plan = plan_volumes(env, staging_claims(), OWNER)
    assert plan.refusal is None
    assert dict(plan.held) == {Volume.REDIS: "1024Mi"}
    rendered = _claim_template_size(data_children(env, plan.held), "shop-redis")
    assert rendered == "1Gi"  # 1024Mi, as the API server stores it


def test_growth_on_an_expandable_class_resizes_and_renders_the_wanted_size():
    env = env_of({"tier": "staging", "postgres": {"storage": "8Gi"}})
    plan = plan_volumes(env, staging_claims(), OWNER)
    assert {c.volume.claim for c in plan.growths} == {"data-shop-postgres-0", "shop-backups"}
    live = staging_claims()
    decision = decided(env, live, True)
    assert dict(decision.sizes) == {}
    assert {c.volume.claim for c in decision.resizes} == {"data-shop-postgres-0", "shop-backups"}
    assert _claim_template_size(data_children(env, decision.sizes), "shop-postgres") == "8Gi"
    condition = decision.condition(env, live)
    assert (condition.status, condition.reason) == ("False", "Resizing")


def test_growth_on_a_class_without_expansion_is_refused_and_held_at_the_live_size():
    env = env_of({"tier": "staging", "postgres": {"storage": "8Gi"}})
    live = staging_claims(storage_class="fixed")
    decision = decided(env, live, False)
    assert decision.refusal is None  # everything else converges
    assert decision.resizes == []
    assert dict(decision.sizes) == {Volume.POSTGRES: "5Gi", Volume.BACKUPS: "5Gi"}
    children = data_children(env, decision.sizes)
    assert _claim_template_size(children, "shop-postgres") == "5Gi"
    backups = next(c.manifest for c in children if c.name == "shop-backups")
    assert backups is not None
    assert backups["spec"]["resources"]["requests"]["storage"] == "5Gi"
    condition = decision.condition(env, live)
    assert (condition.status, condition.reason) == ("False", EXPANSION_NOT_ALLOWED)
    assert "StorageClass fixed does not allow volume expansion" in condition.message
    assert "allowVolumeExpansion: true" in condition.message


@pytest.mark.parametrize(
    ("summary", "reason", "words"),
    [
        (claim("c", "5Gi", storage_class=None), EXPANSION_NOT_ALLOWED, "has no StorageClass"),
        (claim("c", "5Gi", phase="Pending"), CLAIM_NOT_BOUND, "not bound yet"),
    ],
)
def test_growth_of_a_claim_that_cannot_be_resized_says_why(
    summary: ChildSummary, reason: str, words: str
):
    env = env_of({"tier": "staging", "postgres": {"storage": "8Gi"}})
    change = plan_volumes(env, staging_claims(), OWNER).growths[0]
    growth = decide_growth(change, summary, None)
    assert growth.blocked is not None
    assert growth.blocked[0] == reason and words in growth.blocked[1]


@pytest.mark.parametrize(
    ("live", "reason"),
    [
        (staging_claims(capacity="1Gi"), "Resizing"),
        (staging_claims(resize="FileSystemResizePending"), "FileSystemResizePending"),
        (staging_claims(), "Resized"),
    ],
)
def test_volumes_resized_follows_the_claims_capacity_and_conditions(
    live: LiveChildren, reason: str
):
    condition = VolumeDecision(plan_volumes(env_of(STAGING), live, OWNER)).condition(
        env_of(STAGING), live
    )
    assert condition.reason == reason
    assert condition.true is (reason == "Resized")


@pytest.mark.parametrize(
    ("spec", "gone"),
    [
        (
            {"tier": "staging", "postgres": {"enabled": False}},
            {
                ("PersistentVolumeClaim", "data-shop-postgres-0"),
                ("PersistentVolumeClaim", "shop-backups"),
                ("Secret", "shop-postgres-credentials"),
            },
        ),
        (
            {"tier": "staging", "redis": {"enabled": False}},
            {("PersistentVolumeClaim", "data-shop-redis-0")},
        ),
        (
            {"tier": "staging", "redis": {"persistence": "none"}},
            {("PersistentVolumeClaim", "data-shop-redis-0")},
        ),
        (
            {"tier": "staging", "postgres": {"backup": {"enabled": False}}},
            {("PersistentVolumeClaim", "shop-backups")},
        ),
    ],
)
def test_data_of_a_component_turned_off_is_unwanted(spec: dict[str, Any], gone: set[Any]):
    secret = ChildSummary("Secret", "shop-postgres-credentials", "1", controller_uid=OWNER)
    live = {**staging_claims(), ("Secret", secret.name): secret}
    assert set(plan_volumes(env_of(spec), live, OWNER).unwanted) == gone


def test_data_already_kept_or_of_another_owner_is_left_alone():
    live = live_of(
        claim("data-shop-postgres-0", "5Gi", retained=True),
        claim("shop-backups", "5Gi", controller_uid="someone-else"),
    )
    env = env_of({"tier": "staging", "postgres": {"enabled": False}})
    assert plan_volumes(env, live, OWNER).unwanted == ()


def test_kept_claims_wanted_again_are_adopted():
    live = live_of(claim("data-shop-redis-0", "1024Mi", retained=True))
    assert plan_volumes(env_of(STAGING), live, OWNER).adopted == ("data-shop-redis-0",)


def test_every_wanted_volume_is_rendered_at_the_size_the_plan_compares():
    env = env_of(STAGING)
    sizes = {v.volume: v.size for v in data_volumes(env)}
    children = data_children(env)
    for statefulset, volume in (("shop-postgres", Volume.POSTGRES), ("shop-redis", Volume.REDIS)):
        rendered = _claim_template_size(children, statefulset)
        assert quantity_bytes(rendered) == quantity_bytes(sizes[volume])


def test_a_claim_summary_keeps_its_sizes_class_and_resize_condition():
    body = {
        "metadata": {
            "name": "data-shop-postgres-0",
            "labels": {"tierkeeper.dev/retained-from": "shop"},
        },
        "spec": {"storageClassName": "standard", "resources": {"requests": {"storage": "8Gi"}}},
        "status": {
            "phase": "Bound",
            "capacity": {"storage": "5Gi"},
            "conditions": [{"type": "FileSystemResizePending", "status": "True"}],
        },
    }
    summary = summarize("PersistentVolumeClaim", body)
    assert (summary.requested, summary.capacity, summary.storage_class) == (
        "8Gi",
        "5Gi",
        "standard",
    )
    assert (summary.phase, summary.resize, summary.retained) == (
        "Bound",
        "FileSystemResizePending",
        True,
    )


def _claim_template_size(children: list[Any], statefulset: str) -> str:
    manifest = next(
        c.manifest for c in children if c.kind == "StatefulSet" and c.name == statefulset
    )
    size: str = manifest["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"][
        "storage"
    ]
    return size


def test_a_growth_decided_blocked_is_never_resized():
    env = env_of({"tier": "staging", "postgres": {"storage": "8Gi"}})
    change = plan_volumes(env, staging_claims(), OWNER).growths[0]
    decision = VolumeDecision(
        plan_volumes(env, staging_claims(), OWNER), (Growth(change, ("X", "y")),)
    )
    assert decision.resizes == []


def test_a_growth_waiting_for_its_claim_to_be_bound_asks_for_a_converge_on_its_next_change():
    env = env_of({"tier": "staging", "postgres": {"storage": "8Gi"}})
    live = staging_claims(phase="Pending")
    assert decided(env, live, None).waiting
    assert not decided(env, staging_claims(), True).waiting
