"""The Grafana dashboard (manifests/monitoring/dashboard.json): every PromQL expression in
it parses (the real promtool) and selects only series the operator exports."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools.conftest import ROOT
from tests.tools.promql import exported_series, metric_names

DASHBOARD = ROOT / "manifests" / "monitoring" / "dashboard.json"
# Grafana's own variables, and what stands for them where only PromQL is understood.
GRAFANA_DURATIONS = re.compile(r"\$(?:__rate_interval|__interval|__range)\b")
GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
LABEL_VALUES = re.compile(r"^label_values\((?P<expr>.+),\s*\w+\)$")


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """The PromQL of every panel target, and of every variable's label_values query."""
    found = [node["expr"] for node in walk(dashboard["panels"]) if "expr" in node]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            match = LABEL_VALUES.match(query)
            assert match, f"variable {variable['name']}: not a label_values query: {query}"
            found.append(match["expr"])
    return found


def as_promql(expr: str) -> str:
    """`expr` with Grafana's variables replaced by values PromQL accepts."""
    return GRAFANA_VARIABLE.sub(".*", GRAFANA_DURATIONS.sub("5m", expr))


def unexported(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    exported = exported_series()
    return {
        expr: names - exported
        for expr in expressions(dashboard)
        if (names := metric_names(expr)) - exported
    }


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_every_expression_parses(promtool: Path, dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each one as the expression of a recording rule."""
    rules = [
        {"record": f"dashboard:expression_{i}", "expr": as_promql(expr)}
        for i, expr in enumerate(expressions(dashboard))
    ]
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    result = subprocess.run(
        [str(promtool), "check", "rules", "rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_expressions_use_only_series_the_operator_exports(dashboard: dict[str, Any]) -> None:
    assert unexported(dashboard) == {}


def test_dashboard_covers_readiness_rollouts_durations_and_cost(dashboard: dict[str, Any]) -> None:
    used = {name for expr in expressions(dashboard) for name in metric_names(expr)}
    assert used >= {
        "tierkeeper_environment_ready",
        "tierkeeper_environment_degraded",
        "tierkeeper_rollouts_total",
        "tierkeeper_release_phase",
        "tierkeeper_switch_duration_seconds_bucket",
        "tierkeeper_gate_duration_seconds_bucket",
        "tierkeeper_environment_estimated_monthly_cost_usd",
    }


def test_a_series_the_operator_does_not_export_is_caught(dashboard: dict[str, Any]) -> None:
    """The check has teeth: a counter without its _total, as a hand-written query might."""
    broken = json.loads(
        json.dumps(dashboard).replace("tierkeeper_rollouts_total", "tierkeeper_rollouts")
    )
    assert {name for names in unexported(broken).values() for name in names} == {
        "tierkeeper_rollouts"
    }


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{job="x", le!="1"}[5m]))', {"a_bucket"}),
        ("histogram_quantile(0.95, b) > 2 * c offset 5m", {"b", "c"}),
        ("count(d == 1) or on (namespace) vector(0) and bool e", {"d", "e"}),
        ('label_replace(f, "dst", "$1", "src", "(.*)") / ignoring(x) g', {"f", "g"}),
        ('{__name__="h"} unless topk($n, i[1h:5m])', {"h", "i"}),
    ],
)
def test_metric_names_are_the_selected_series(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
