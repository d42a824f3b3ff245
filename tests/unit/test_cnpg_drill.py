"""The CloudNativePG drill's steps (reconcile/cnpg_drill.py), on a fake clock and an
in-memory API: when a drill is due, that it starts once, moves on only on CloudNativePG's
and the Job's signals, records Failed with a reason when the scratch Cluster is never
Ready or the check dies, always deletes the scratch Cluster, and that an idle drill
writes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.fake_api import FakeApi
from tests.unit.test_render_cnpg_drill import cnpg_env
from tierkeeper.apply.children import Owner
from tierkeeper.models.units import next_fire
from tierkeeper.reconcile.cnpg_drill import (
    READY_TIMEOUT_SECONDS,
    DrillAsk,
    drill_due,
    drill_step,
)
from tierkeeper.render.cnpg_drill import STARTED_ANNOTATION

CREATED = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
OWNER = Owner("shop", "uid-shop")
WRITES = {"create", "merge_patch", "delete", "apply", "write_status"}


class Rig:
    """A fake cluster holding the Environment's empty result ConfigMap, and a clock."""

    def __init__(self, **backup: Any) -> None:
        self.api = FakeApi()
        self.env = cnpg_env(**backup)
        self.now = CREATED
        self.ask = DrillAsk(created=CREATED)
        self.api.put(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "shop-drill", "namespace": "team"},
            }
        )

    def step(self) -> float | None:
        return asyncio.run(drill_step(self.api.client(), self.env, OWNER, self.ask, self.now))

    def request(self, at: datetime) -> None:
        self.ask = DrillAsk(created=CREATED, requested=at.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def obj(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.api.stored(kind, "team", name)

    def result(self) -> dict[str, str]:
        body = self.obj("ConfigMap", "shop-drill")
        assert body is not None
        data: dict[str, str] = body.get("data") or {}
        return data

    def set_condition(self, kind: str, name: str, condition: str, **extra: Any) -> None:
        body = self.obj(kind, name)
        assert body is not None
        body["status"] = {"conditions": [{"type": condition, "status": "True"}], **extra}

    def writes(self) -> list[str]:
        return [f"{c.verb} {c.kind}" for c in self.api.calls if c.verb in WRITES]


def test_next_fire_finds_yearly_monthly_and_weekday_schedules() -> None:
    after = datetime(2026, 3, 5, 12, 30, tzinfo=UTC)
    assert next_fire("0 5 1 1 *", after) == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    assert next_fire("0 5 1 * *", after) == datetime(2026, 4, 1, 5, 0, tzinfo=UTC)
    assert next_fire("*/15 * * * *", after) == datetime(2026, 3, 5, 12, 45, tzinfo=UTC)
    # 2026-03-05 is a Thursday; the next Monday is the 9th.
    assert next_fire("0 0 * * mon", after) == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    assert next_fire("@daily", after) == datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    # Both day fields restricted: either matches, as in cron.
    assert next_fire("0 0 20 * 5", after) == datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    assert next_fire("0 0 29 2 *", after) == datetime(2028, 2, 29, 0, 0, tzinfo=UTC)


def test_a_drill_is_due_on_the_schedule_after_the_last_result_or_when_asked() -> None:
    env = cnpg_env()  # production: monthly, on the 1st at 05:00
    ask = DrillAsk(created=CREATED)
    assert drill_due(env, ask, None) == datetime(2026, 2, 1, 5, 0, tzinfo=UTC)
    finished = datetime(2026, 2, 1, 5, 20, tzinfo=UTC)
    assert drill_due(env, ask, finished) == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    asked = DrillAsk(created=CREATED, requested="2026-02-10T08:00:00Z")
    assert drill_due(env, asked, finished) == datetime(2026, 2, 10, 8, 0, tzinfo=UTC)
    # A request older than the last result was answered already.
    assert drill_due(env, asked, finished + timedelta(days=10)) == datetime(
        2026, 3, 1, 5, 0, tzinfo=UTC
    )
    unscheduled = cnpg_env(drill={"scheduled": False})
    assert drill_due(unscheduled, ask, None) is None


def test_an_idle_drill_writes_nothing_and_sleeps_until_the_schedule() -> None:
    rig = Rig()
    wait = rig.step()
    assert wait == (datetime(2026, 2, 1, 5, 0, tzinfo=UTC) - CREATED).total_seconds()
    assert rig.writes() == []


def test_an_unscheduled_drill_that_nobody_asked_for_stops_looking() -> None:
    rig = Rig(drill={"scheduled": False})
    assert rig.step() is None
    assert rig.writes() == []


def test_a_requested_drill_restores_checks_records_and_deletes_the_scratch_cluster() -> None:
    rig = Rig()
    rig.now = CREATED + timedelta(hours=1)
    rig.request(rig.now)
    rig.step()
    cluster = rig.obj("Cluster", "shop-drill")
    assert cluster is not None
    assert cluster["spec"]["bootstrap"]["recovery"]["source"] == "shop"
    assert cluster["metadata"]["annotations"][STARTED_ANNOTATION] == rig.now.isoformat()
    assert cluster["metadata"]["ownerReferences"][0]["uid"] == "uid-shop"
    # Not Ready yet: a step later, nothing more is written.
    rig.now += timedelta(minutes=1)
    rig.step()
    assert rig.writes() == ["create Cluster"]
    assert rig.obj("Job", "shop-drill-check") is None
    # CloudNativePG says Ready: the check Job starts.
    rig.set_condition("Cluster", "shop-drill", "Ready")
    rig.now += timedelta(minutes=1)
    rig.step()
    assert rig.obj("Job", "shop-drill-check") is not None
    rig.step()
    assert rig.writes() == ["create Cluster", "create Job"]
    # The check writes its result, as drill_result.py does.
    rig.now += timedelta(minutes=1)
    result = {
        "finishedAt": rig.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "result": "Passed",
        "rtoSeconds": "180",
        "message": "checked",
    }
    asyncio.run(rig.api.merge_patch("v1", "ConfigMap", "team", "shop-drill", {"data": result}))
    rig.now += timedelta(seconds=15)
    assert rig.step() == 0.0
    assert rig.obj("Cluster", "shop-drill") is None
    assert rig.obj("Job", "shop-drill-check") is None
    assert rig.result() == result
    # Answered: the next step waits for the schedule and writes nothing.
    calls = len(rig.writes())
    wait = rig.step()
    assert wait == (datetime(2026, 2, 1, 5, 0, tzinfo=UTC) - rig.now).total_seconds()
    assert len(rig.writes()) == calls


def test_a_scratch_cluster_never_ready_fails_the_drill_with_a_reason_and_goes() -> None:
    rig = Rig()
    rig.request(rig.now)
    rig.step()
    cluster = rig.obj("Cluster", "shop-drill")
    assert cluster is not None
    cluster["status"] = {"phase": "Setting up primary", "phaseReason": "restore job failed"}
    rig.now += timedelta(seconds=READY_TIMEOUT_SECONDS - 1)
    rig.step()
    assert rig.obj("Cluster", "shop-drill") is not None
    rig.now += timedelta(seconds=2)
    rig.step()
    assert rig.obj("Cluster", "shop-drill") is None
    data = rig.result()
    assert data["result"] == "Failed"
    assert data["rtoSeconds"] == ""
    assert "was not Ready within 3600s" in data["message"]
    assert "restore job failed" in data["message"]
    assert data["finishedAt"] == rig.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "create Job" not in rig.writes()


def test_a_check_job_that_dies_without_a_result_fails_the_drill_and_cleans_up() -> None:
    rig = Rig()
    rig.request(rig.now)
    rig.step()
    rig.set_condition("Cluster", "shop-drill", "Ready")
    rig.step()
    rig.set_condition("Job", "shop-drill-check", "Failed")
    rig.now += timedelta(minutes=5)
    rig.step()
    assert rig.result()["result"] == "Failed"
    assert "failed without writing a result" in rig.result()["message"]
    assert rig.writes()[-2:] == ["delete Job", "delete Cluster"]


def test_a_restarted_operator_resumes_the_drill_from_the_scratch_cluster() -> None:
    rig = Rig()
    rig.request(rig.now)
    rig.step()
    rig.set_condition("Cluster", "shop-drill", "Ready")
    # A new operator: nothing of the first one's memory, the same cluster.
    rig.now += timedelta(minutes=2)
    rig.step()
    assert rig.writes() == ["create Cluster", "create Job"]
    job = rig.obj("Job", "shop-drill-check")
    assert job is not None
    [container] = job["spec"]["template"]["spec"]["containers"]
    started = {e["name"]: e.get("value") for e in container["env"]}["DRILL_STARTED_AT"]
    assert started == str(int(CREATED.timestamp()))


@pytest.mark.parametrize("scheduled", [True, False])
def test_a_scheduled_drill_starts_when_its_time_comes(scheduled: bool) -> None:
    rig = Rig(drill={"scheduled": scheduled})
    rig.now = datetime(2026, 2, 1, 5, 0, 30, tzinfo=UTC)
    rig.step()
    assert (rig.obj("Cluster", "shop-drill") is not None) is scheduled
