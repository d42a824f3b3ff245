"""Environment status from child summaries: conditions, Degraded, cost, endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.helpers import env_of
from tierkeeper.models import EnvironmentStatus
from tierkeeper.models.child import ChildSummary, summarize
from tierkeeper.models.environment import StrategyType
from tierkeeper.models.rollout import AppRollout, Color, ColorRollout
from tierkeeper.status.conditions import find, merge_conditions, observe
from tierkeeper.status.cost import estimated_monthly_cost
from tierkeeper.status.environment import StatusInputs, environment_status, ready_event

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def ready_set(name: str, kind: str = "StatefulSet", replicas: int = 1) -> ChildSummary:
    return ChildSummary(
        kind, name, "1", desired=replicas, ready=replicas, available=replicas, updated=replicas
    )


def data_ready(env_name: str = "shop") -> dict[tuple[str, str], ChildSummary]:
    children = [
        ready_set(f"{env_name}-postgres"),
        ready_set(f"{env_name}-redis"),
        ChildSummary("CronJob", f"{env_name}-postgres-backup", "1"),
    ]
    return {(c.kind, c.name): c for c in children}


def status_of(
    spec: dict[str, object], observed: StatusInputs, previous: EnvironmentStatus | None = None
) -> EnvironmentStatus:
    return environment_status(
        env_of(spec), observed, previous or EnvironmentStatus(), now=NOW, generation=3
    )


def condition(status: EnvironmentStatus, type_: str) -> tuple[str, str]:
    found = find(status.conditions, type_)
    assert found is not None
    return found.status, found.reason


def test_environment_without_release_is_ready_once_data_services_are() -> None:
    status = status_of({"tier": "staging"}, StatusInputs(data_ready(), None, AppRollout(), False))
    assert condition(status, "Ready") == ("True", "Ready")
    assert condition(status, "AppReady") == ("False", "NoRelease")
    assert condition(status, "DatabaseReady") == ("True", "Available")
    assert condition(status, "BackupsScheduled") == ("True", "Scheduled")
    assert status.observed_generation == 3
    assert status.endpoints is not None and status.endpoints.app == "shop.team.svc:8080"


def test_missing_database_blocks_ready() -> None:
    children = data_ready()
    del children[("StatefulSet", "shop-postgres")]
    status = status_of({"tier": "staging"}, StatusInputs(children, None, AppRollout(), False))
    assert condition(status, "Ready") == ("False", "Creating")
    assert condition(status, "Degraded") == ("False", "NotYetReady")


def test_ha_without_cloudnative_pg_says_how_to_fix_it() -> None:
    status = status_of(
        {"tier": "production"}, StatusInputs(data_ready(), None, AppRollout(), False)
    )
    reason = find(status.conditions, "DatabaseReady")
    assert reason is not None and reason.reason == "HAProviderMissing"
    assert "provider: builtin" in reason.message
    assert condition(status, "Ready") == ("False", "HAProviderMissing")


def test_losing_readiness_after_being_ready_is_degraded() -> None:
    first = status_of({"tier": "staging"}, StatusInputs(data_ready(), None, AppRollout(), False))
    children = data_ready()
    children[("StatefulSet", "shop-redis")] = ChildSummary(
        "StatefulSet", "shop-redis", "1", desired=1
    )
    later = environment_status(
        env_of({"tier": "staging"}),
        StatusInputs(children, None, AppRollout(), False),
        first,
        now=NOW + timedelta(minutes=5),
        generation=3,
    )
    assert condition(later, "Degraded") == ("True", "Progressing")
    ready = find(later.conditions, "Ready")
    assert ready is not None and ready.last_transition_time == NOW + timedelta(minutes=5)


def test_unchanged_observation_keeps_transition_times() -> None:
    observed = StatusInputs(data_ready(), None, AppRollout(), False)
    first = status_of({"tier": "staging"}, observed)
    again = environment_status(
        env_of({"tier": "staging"}), observed, first, now=NOW + timedelta(hours=1), generation=3
    )
    assert again == first


def test_bound_release_reports_app_readiness_of_the_active_colour() -> None:
    rollout = AppRollout.first(env_of({"tier": "production"}), "shop:1")
    children = data_ready()
    children[("Deployment", "shop-blue")] = ready_set("shop-blue", "Deployment", 2)
    spec = {"tier": "production", "postgres": {"provider": "builtin", "instances": 1}}
    status = status_of(spec, StatusInputs(children, "shop", rollout, False))
    assert condition(status, "AppReady") == ("True", "Available")
    assert (status.active_color, status.active_image, status.active_release) == (
        "blue",
        "shop:1",
        "shop",
    )


def test_in_a_drain_the_app_is_the_new_shape_whatever_the_old_shape_runs() -> None:
    """BlueGreen -> Rolling between the switch and scaleDownDelaySeconds later: the Service
    selects every app pod; blue still runs (here without a Ready pod, as it goes)."""
    rollout = AppRollout(
        image="shop:1",
        colors={Color.BLUE: ColorRollout(image="shop:1", replicas=2)},
        shape=StrategyType.ROLLING,
    )
    children = data_ready()
    children[("Deployment", "shop-app")] = ready_set("shop-app", "Deployment", 1)
    children[("Deployment", "shop-blue")] = ChildSummary(
        "Deployment", "shop-blue", "1", desired=2, updated=2
    )
    spec = {"tier": "development"}
    status = status_of(spec, StatusInputs(children, "shop", rollout, False))
    assert condition(status, "AppReady") == ("True", "Available")
    assert condition(status, "Ready") == ("True", "Ready")
    assert (status.active_color, status.active_image) == (None, "shop:1")


def test_refusal_is_the_ready_reason() -> None:
    refusal = observe("Ready", False, "ExternalSecretMissing", "mongodb: Secret m does not exist")
    status = status_of(
        {"tier": "staging"}, StatusInputs(data_ready(), None, AppRollout(), False, refusal)
    )
    assert condition(status, "Ready") == ("False", "ExternalSecretMissing")


def test_tier_defaults_cost_the_reference_and_more_costs_more() -> None:
    assert estimated_monthly_cost(env_of({"tier": "development"})) == 8.0
    assert estimated_monthly_cost(env_of({"tier": "staging"})) == 23.0
    assert estimated_monthly_cost(env_of({"tier": "production"})) == 42.0
    assert estimated_monthly_cost(env_of({"tier": "staging", "app": {"replicas": 6}})) > 23.0


def test_over_budget() -> None:
    spec = {"tier": "staging", "budget": {"monthlyUSD": 10}}
    status = status_of(spec, StatusInputs(data_ready(), None, AppRollout(), False))
    assert status.over_budget is True and status.estimated_monthly_cost_usd == 23.0


def test_summary_notices_replicas_owned_by_another_manager() -> None:
    body = {
        "metadata": {
            "name": "shop-app",
            "generation": 2,
            "managedFields": [
                {"manager": "tierkeeper", "fieldsV1": {"f:spec": {"f:template": {}}}},
                {"manager": "hpa", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            ],
        },
        "spec": {"replicas": 4, "template": {"spec": {"containers": [{"image": "shop:1"}]}}},
        "status": {"observedGeneration": 2, "readyReplicas": 4},
    }
    summary = summarize("Deployment", body)
    assert summary.replicas_owned_elsewhere
    assert (summary.desired, summary.ready, summary.image) == (4, 4, "shop:1")


def cnpg_cluster(ready: int, condition: dict[str, object] | None) -> dict[str, object]:
    """A Cluster as CloudNativePG reports it: no status.observedGeneration."""
    return {
        "metadata": {"name": "shop-postgres", "generation": 4},
        "spec": {"instances": 3},
        "status": {
            "readyInstances": ready,
            "phase": "Cluster in healthy state",
            "conditions": [condition] if condition else [],
        },
    }


def test_cloudnative_pg_cluster_is_ready_by_its_ready_condition_and_instances() -> None:
    def database(body: dict[str, object]) -> tuple[str, str]:
        children = {**data_ready(), ("Cluster", "shop-postgres"): summarize("Cluster", body)}
        spec = {"tier": "production"}
        return condition(
            status_of(spec, StatusInputs(children, None, AppRollout(), True)), "DatabaseReady"
        )

    ready = {"type": "Ready", "status": "True", "reason": "ClusterIsReady"}
    assert database(cnpg_cluster(3, ready)) == ("True", "Available")
    assert database(cnpg_cluster(2, ready)) == ("False", "Progressing")
    assert database(cnpg_cluster(3, None)) == ("False", "Progressing")
    assert database(cnpg_cluster(3, {**ready, "observedGeneration": 3})) == ("False", "Progressing")
    assert database(cnpg_cluster(3, {**ready, "observedGeneration": 4})) == ("True", "Available")


def test_a_move_to_cloudnative_pg_under_way_is_not_a_lost_database() -> None:
    """While the Cluster copies the builtin instance, the app uses the builtin one: the
    Environment stays Ready (no Degraded, no alert for a planned move) and reads as lost
    only if the instance that serves is."""
    spec = {"tier": "production", "postgres": {"provider": "cloudnative-pg", "instances": 1}}
    copying = {
        **data_ready(),
        ("Cluster", "shop-postgres"): summarize("Cluster", cnpg_cluster(1, None)),
    }
    ready = status_of(spec, StatusInputs(data_ready(), None, AppRollout(), True))

    moving = status_of(
        spec, StatusInputs(copying, None, AppRollout(), True, builtin_serves=True), ready
    )
    assert condition(moving, "DatabaseReady") == ("True", "Available")
    assert condition(moving, "Ready") == ("True", "Ready")
    assert condition(moving, "Degraded") == ("False", "AsExpected")

    lost = dict(copying)
    lost[("StatefulSet", "shop-postgres")] = ChildSummary(
        "StatefulSet", "shop-postgres", "1", desired=1
    )
    down = status_of(
        spec, StatusInputs(lost, None, AppRollout(), True, builtin_serves=True), moving
    )
    assert condition(down, "DatabaseReady") == ("False", "Progressing")
    assert condition(down, "Degraded") == ("True", "Progressing")

    # Switched: the Cluster is the database.
    after = status_of(spec, StatusInputs(copying, None, AppRollout(), True), moving)
    assert condition(after, "DatabaseReady") == ("False", "Progressing")


def test_cloudnative_pg_backups_with_an_offsite_store_are_scheduled_once_its_copy_is() -> None:
    store = {
        "bucket": "shop-backups",
        "credentials": {
            "accessKeyId": {"name": "s3", "key": "id"},
            "secretAccessKey": {"name": "s3", "key": "secret"},
        },
    }
    spec = {
        "tier": "production",
        "postgres": {"backup": {"objectStore": store, "offsiteObjectStore": store}},
    }
    children = {**data_ready(), ("Cluster", "shop-postgres"): ready_set("shop-postgres", "Cluster")}

    def backups() -> tuple[str, str, str]:
        status = status_of(spec, StatusInputs(children, None, AppRollout(), True))
        found = find(status.conditions, "BackupsScheduled")
        assert found is not None
        return found.status, found.reason, found.message

    assert backups()[:2] == ("False", "Creating")
    children[("CronJob", "shop-postgres-offsite")] = ChildSummary(
        "CronJob", "shop-postgres-offsite", "1"
    )
    status, reason, message = backups()
    assert (status, reason) == ("True", "ScheduledByCloudNativePG")
    assert message.endswith("; off-site copy by CronJob shop-postgres-offsite")


def with_ready(status: str, reason: str) -> EnvironmentStatus:
    ready = observe("Ready", status == "True", reason, "m")
    return EnvironmentStatus(conditions=merge_conditions([], [ready], now=NOW, generation=1))


def event_type(previous: EnvironmentStatus, status: EnvironmentStatus) -> str | None:
    event = ready_event(previous, status)
    return event[0] if event else None


def test_ready_event_is_normal_on_the_way_up_and_a_warning_for_a_refusal() -> None:
    nothing = EnvironmentStatus()
    creating = with_ready("False", "Creating")
    ready = with_ready("True", "Ready")
    assert event_type(with_ready("False", "ChildRejected"), ready) == "Normal"
    assert ready_event(ready, with_ready("False", "Progressing")) == ("Normal", "Progressing", "m")
    assert event_type(creating, with_ready("False", "ChildRejected")) == "Warning"
    assert event_type(nothing, with_ready("False", "HAProviderMissing")) == "Warning"
    assert event_type(with_ready("False", "ChildRejected"), creating) == "Normal"
    assert event_type(creating, creating) is None


def test_no_event_on_the_way_to_a_first_ready() -> None:
    """Creating, Progressing and the first Ready of a new Environment are told by its
    status alone; Ready again after a change, having been Ready before, is an Event."""
    creating = with_ready("False", "Creating")
    assert ready_event(EnvironmentStatus(), creating) is None
    assert ready_event(creating, with_ready("False", "Progressing")) is None
    assert ready_event(creating, with_ready("True", "Ready")) is None
    was_ready = observe("Degraded", False, "AsExpected", "m")
    changing = with_ready("False", "Progressing")
    changing = changing.model_copy(
        update={
            "conditions": merge_conditions(changing.conditions, [was_ready], now=NOW, generation=1)
        }
    )
    assert event_type(changing, with_ready("True", "Ready")) == "Normal"
