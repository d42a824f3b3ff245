"""The kubectl plugin's view: built from objects the operator really wrote (the captured
Argo CD samples) and rendered as text at a fixed width."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from tierkeeper.plugin.render import duration, render, render_many
from tierkeeper.plugin.view import Snapshot, build, release_bound_to

SAMPLES = Path(__file__).parents[2] / "integrations" / "argocd" / "tierkeeper.dev"
NOW = datetime(2026, 12, 3, 9, 50, 45, tzinfo=UTC)


def sample(kind: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (SAMPLES / kind / "testdata" / f"{name}.yaml").read_text()
    )
    return loaded


def deployment(image: str, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": image}]}}},
        "status": {"readyReplicas": ready},
    }


def service(color: str) -> dict[str, Any]:
    return {"spec": {"selector": {"tierkeeper.dev/color": color}}}


def text(renderable: Any, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    output: str = console.file.getvalue()  # type: ignore[attr-defined]
    return output


def snapshot(release: str, deployments: dict[str, Any], selected: str) -> Snapshot:
    return Snapshot(
        namespace="shop",
        environment=sample("Environment", "ready"),
        release=sample("Release", release),
        deployments=deployments,
        service=service(selected),
    )


def test_deploying_shows_blue_serving_and_green_as_preview_with_its_pods_coming_up() -> None:
    view = build(
        snapshot(
            "deploying",
            {
                "shop-production-blue": deployment("ghcr.io/acme/shop:1.4.2", 2, 2),
                "shop-production-green": deployment("ghcr.io/acme/shop:1.4.3", 2, 1),
            },
            "blue",
        ),
        NOW,
    )
    roles = {(d.name, d.role, d.ready, d.wanted, d.selected) for d in view.deployments}
    assert roles == {("blue", "active", 2, 2, True), ("green", "preview", 1, 2, False)}
    out = text(render(view))
    lines = out.splitlines()
    blue = next(line for line in lines if line.startswith("blue"))
    green = next(line for line in lines if line.startswith("green"))
    assert "active" in blue and "ghcr.io/acme/shop:1.4.2" in blue and "2/2" in blue
    assert "<- Service" in blue
    assert "preview" in green and "1/2" in green and "<- Service" not in green
    assert "phase Deploying for 12s  -> ghcr.io/acme/shop:1.4.3" in out
    assert "Step:      waiting for green to have all its pods available" in out
    assert "Gate:      Healthy=Unknown NotChecked: no health check has run yet" in out
    assert "Why:" not in out, "a rollout in progress is not a failure to explain"
    assert view.standby is None


def test_backing_up_names_the_backup_job_and_keeps_the_standby() -> None:
    shot = snapshot(
        "promoted",
        {
            "shop-production-blue": deployment("ghcr.io/acme/shop:1.4.2", 2, 2),
            "shop-production-green": deployment("ghcr.io/acme/shop:1.4.3", 2, 2),
        },
        "green",
    )
    assert shot.release is not None
    shot.release["status"].update(
        phase="BackingUp",
        targetImage="ghcr.io/acme/shop:1.4.4",
        preSwitchBackup={"kind": "Job", "name": "shop-production-preswitch-0123abcd"},
    )
    out = text(render(build(shot, NOW)))
    assert "phase BackingUp" in out
    assert (
        "Step:      backing up the database first (Job shop-production-preswitch-0123abcd)" in out
    )
    assert "Standby:   blue kept for instant rollback" in out


def test_promoted_shows_green_serving_and_blue_standby_counting_down() -> None:
    view = build(
        snapshot(
            "promoted",
            {
                "shop-production-blue": deployment("ghcr.io/acme/shop:1.4.2", 2, 2),
                "shop-production-green": deployment("ghcr.io/acme/shop:1.4.3", 2, 2),
            },
            "green",
        ),
        NOW,
    )
    out = text(render(view))
    green = next(line for line in out.splitlines() if line.startswith("green"))
    blue = next(line for line in out.splitlines() if line.startswith("blue"))
    assert "active" in green and "<- Service" in green
    assert "standby" in blue and "<- Service" not in blue
    # standbyUntil 11:50:36, now 09:50:45
    assert "Standby:   blue kept for instant rollback for 1h59m (until 11:50:36 UTC)" in out
    assert "Gate:      Healthy=True PostPromotionPassed" in out


def test_failed_gate_says_why_and_keeps_traffic_where_the_service_points() -> None:
    view = build(
        snapshot(
            "failed-health-gate",
            {
                "shop-production-blue": deployment("ghcr.io/acme/shop:1.4.2", 2, 2),
                "shop-production-green": deployment("ghcr.io/acme/shop:1.4.3", 0, 0),
            },
            "blue",
        ),
        NOW,
    )
    out = text(render(view))
    assert "phase Failed" in out
    assert "Healthy=False" in out
    assert "Why:       RolloutFailed" in out
    assert next(line for line in out.splitlines() if line.startswith("blue")).endswith("<- Service")


def test_environment_lines_show_tier_cost_budget_backups_and_endpoints() -> None:
    env = sample("Environment", "ready")
    env["spec"]["budget"] = {"monthlyUSD": 30}
    env["status"]["overBudget"] = True
    view = build(
        Snapshot(namespace="shop", environment=env, release=None, deployments={}, service=None),
        NOW,
    )
    out = text(render(view))
    assert "Environment shop-production (namespace shop, tier production)  Ready=True Ready" in out
    assert "Cost:      $36.00/month of a $30.00 budget  OVER BUDGET" in out
    assert "Backups:   schedule 0 * * * * UTC, none yet" in out
    assert "app shop-production.shop.svc:8080" in out
    assert "Release:   none" in out
    assert "BackupsScheduled" in out and "DatabaseReady" in out


def test_backups_line_says_how_long_ago_the_last_backup_succeeded() -> None:
    env = sample("Environment", "ready")
    backups = next(c for c in env["status"]["conditions"] if c["type"] == "BackupsScheduled")
    backups["message"] = "schedule 0 * * * * UTC, last success 2026-12-03T09:00:05Z"
    view = build(
        Snapshot(namespace="shop", environment=env, release=None, deployments={}, service=None),
        NOW,
    )
    out = text(render(view))
    assert (
        "Backups:   schedule 0 * * * * UTC, last success 2026-12-03T09:00:05Z (50m40s ago)" in out
    )


def test_stale_and_suspended_environment_are_flagged() -> None:
    env = sample("Environment", "stale-generation")
    env["spec"]["suspend"] = True
    view = build(
        Snapshot(namespace="shop", environment=env, release=None, deployments={}, service=None),
        NOW,
    )
    assert view.stale and view.suspended
    out = text(render(view))
    words = " ".join(out.split())
    assert "SUSPENDED (app at zero pods)" in words and "status older than the spec" in words


def test_release_of_an_environment_is_the_bound_one_else_the_only_one_naming_it() -> None:
    first = {"metadata": {"name": "a"}, "spec": {"environment": "shop"}}
    second = {"metadata": {"name": "b"}, "spec": {"environment": "shop"}}
    other = {"metadata": {"name": "c"}, "spec": {"environment": "else"}}
    bound = {"status": {"activeRelease": "b"}}
    assert release_bound_to("shop", bound, [first, second, other]) is second
    assert release_bound_to("shop", None, [first, other]) is first
    assert release_bound_to("shop", None, [first, second]) is None


def test_many_environments_summarise_each_and_detail_the_focus() -> None:
    production = build(snapshot("promoted", {}, "green"), NOW)
    bare = sample("Environment", "no-status")
    bare["metadata"]["name"] = "shop-staging"
    other = build(
        Snapshot(namespace="shop", environment=bare, release=None, deployments={}, service=None),
        NOW,
    )
    out = text(render_many([production, other], focus="shop-production"))
    rows = {line.split()[1]: line.split() for line in out.splitlines() if line.startswith("shop ")}
    assert rows["shop-production"][2:] == [
        "production",
        "True",
        "Promoted",
        "ghcr.io/acme/shop:1.4.3",
        "$36.00/month",
    ]
    assert rows["shop-staging"][2:] == ["production", "Unknown", "-", "-"]
    assert "Environment shop-production" in out
    assert "Environment shop-staging" not in out


def test_durations_keep_the_two_largest_units() -> None:
    from datetime import timedelta

    assert duration(timedelta(seconds=7)) == "7s"
    assert duration(timedelta(seconds=185)) == "3m05s"
    assert duration(timedelta(hours=1, minutes=2, seconds=9)) == "1h02m"
