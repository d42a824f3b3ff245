"""The PrometheusRule's alerts, checked and unit-tested by the real promtool.

promtool reads plain rule files, so the rule groups are taken out of the
PrometheusRule (its `spec`) into a file next to copies of the unit tests in
manifests/monitoring/tests/, which name it `rules.yaml`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools.conftest import ROOT
from tests.tools.promql import PER_TARGET, exported_series, metric_names

MONITORING = ROOT / "manifests" / "monitoring"
RULE = MONITORING / "prometheusrule.yaml"
UNIT_TESTS = sorted((MONITORING / "tests").glob("*.yaml"))

ALERTS = {
    "ReleaseFailed",
    "EnvironmentDegraded",
    "BackupMissing",
    "TierkeeperOperatorDown",
    "PostgresRPOOverTarget",
    "PostgresWALArchivingFailing",
    "PostgresBaseBackupMissed",
    "DrillFailed",
    "DrillTooOld",
    "OffsiteCopyMissing",
}


def rule_groups() -> dict[str, Any]:
    rule = yaml.safe_load(RULE.read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    groups: dict[str, Any] = rule["spec"]
    return groups


def run(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The rule groups as `rules.yaml` beside copies of the unit-test files."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_groups(), sort_keys=False))
    for test in UNIT_TESTS:
        shutil.copy(test, tmp_path / test.name)
    return tmp_path


def test_rules_pass_promtool_check(promtool: Path, workdir: Path) -> None:
    result = run(promtool, "check", "rules", "rules.yaml", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    # promtool prints lint findings (e.g. duplicate rules) without failing: none allowed.
    assert "SUCCESS" in result.stdout and "FAILED" not in result.stdout + result.stderr


@pytest.mark.parametrize("test_file", UNIT_TESTS, ids=lambda p: p.name)
def test_alert_unit_tests_pass(promtool: Path, workdir: Path, test_file: Path) -> None:
    result = run(promtool, "test", "rules", test_file.name, cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_unit_tests_that_fire_it_and_keep_it_silent() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for test_file in UNIT_TESTS:
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    assert fired == ALERTS
    assert silent == ALERTS


def test_alerts_use_only_metrics_the_operator_exports() -> None:
    rules = [rule for group in rule_groups()["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} == ALERTS
    used = {name for rule in rules for name in metric_names(rule["expr"])}
    known = exported_series() | PER_TARGET
    assert used and used <= known, used - known


def test_a_broken_rule_fails_the_unit_tests(promtool: Path, workdir: Path) -> None:
    """The unit tests have teeth: a ReleaseFailed that forgets RolledBack is caught."""
    groups = rule_groups()
    release_failed = next(r for r in groups["groups"][0]["rules"] if r["alert"] == "ReleaseFailed")
    assert 'phase=~"Failed|RolledBack"' in release_failed["expr"]
    release_failed["expr"] = release_failed["expr"].replace("Failed|RolledBack", "Failed")
    (workdir / "rules.yaml").write_text(yaml.safe_dump(groups, sort_keys=False))
    results = [run(promtool, "test", "rules", t.name, cwd=workdir) for t in UNIT_TESTS]
    assert any(result.returncode != 0 for result in results)


def test_a_broken_archiving_rule_fails_the_store_outage_test(promtool: Path, workdir: Path) -> None:
    """The store outage test has teeth: an archiving alert that never matches is caught."""
    groups = rule_groups()
    rules = [rule for group in groups["groups"] for rule in group["rules"]]
    failing = next(r for r in rules if r["alert"] == "PostgresWALArchivingFailing")
    failing["expr"] = failing["expr"].replace("== 1", "== 2")
    (workdir / "rules.yaml").write_text(yaml.safe_dump(groups, sort_keys=False))
    result = run(promtool, "test", "rules", "backups.test.yaml", cwd=workdir)
    assert result.returncode != 0 and "PostgresWALArchivingFailing" in result.stdout + result.stderr
