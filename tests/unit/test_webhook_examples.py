"""The hook's parser against GitHub's own example payloads (the npm package
@octokit/webhooks-examples, installed by hack/webhook-examples.sh): every example of an
event that deploys parses, every other example is ignored without an error."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tierkeeper.webhook.events import DEPLOYING_EVENTS, Change, Skip, parse_github

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def examples(unavailable: Callable[[str], NoReturn]) -> list[tuple[str, str, Any]]:
    """(variant, event, payload) of every example of every GitHub flavour in the package."""
    installed = subprocess.run(
        ["bash", str(ROOT / "hack" / "webhook-examples.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if installed.returncode != 0:
        unavailable(f"GitHub's webhook examples: {installed.stderr.strip()[-500:]}")
    package = Path(installed.stdout.strip())
    found = []
    for index in sorted(package.glob("*/index.json")):
        for event in json.loads(index.read_text()):
            for payload in event["examples"]:
                found.append((index.parent.name, event["name"], payload))
    return found


def test_the_package_has_examples_of_every_deploying_event_but_registry_package(
    examples: list[tuple[str, str, Any]],
) -> None:
    names = {event for _, event, _ in examples}
    assert {"workflow_run", "push", "package"} <= names
    assert len(names) > 40


def test_every_example_of_a_deploying_event_parses(examples: list[tuple[str, str, Any]]) -> None:
    parsed = [
        (variant, event, parse_github(event, "delivery", payload))
        for variant, event, payload in examples
        if event in DEPLOYING_EVENTS
    ]
    assert parsed
    for variant, event, result in parsed:
        assert isinstance(result, Change | Skip), (variant, event)
        if isinstance(result, Change):
            assert result.repository.count("/") == 1 and result.branch, (variant, event)


def test_every_other_example_is_ignored(examples: list[tuple[str, str, Any]]) -> None:
    others = [(event, p) for _, event, p in examples if event not in DEPLOYING_EVENTS]
    assert others
    for event, payload in others:
        result = parse_github(event, "delivery", payload)
        assert isinstance(result, Skip) and result.outcome in ("ignored", "ping"), event


def _github(examples: list[tuple[str, str, Any]], event: str) -> list[Any]:
    return [p for variant, name, p in examples if variant == "api.github.com" and name == event]


def test_a_successful_workflow_run_is_a_change_of_its_head_commit(
    examples: list[tuple[str, str, Any]],
) -> None:
    results = [parse_github("workflow_run", "d", p) for p in _github(examples, "workflow_run")]
    changes = [r for r in results if isinstance(r, Change)]
    assert changes and all(c.image is None and not c.before_ci for c in changes)
    payload = next(
        p for p in _github(examples, "workflow_run") if p["workflow_run"]["conclusion"] == "success"
    )
    change = parse_github("workflow_run", "d", payload)
    assert change == Change(
        event="workflow_run",
        delivery="d",
        repository=payload["repository"]["full_name"],
        branch=payload["workflow_run"]["head_branch"],
        commit=payload["workflow_run"]["head_sha"],
        image=None,
        url=payload["workflow_run"]["html_url"],
    )
    skipped = {r.outcome for r in results if isinstance(r, Skip)}
    assert skipped == {"not_completed", "not_successful"}


def test_a_push_to_a_branch_is_a_change_before_ci_and_tags_are_not(
    examples: list[tuple[str, str, Any]],
) -> None:
    for payload in _github(examples, "push"):
        result = parse_github("push", "d", payload)
        if payload["ref"].startswith("refs/heads/"):
            assert isinstance(result, Change) and result.before_ci
            assert result.commit == payload["after"]
        else:
            assert isinstance(result, Skip) and result.outcome == "not_a_branch"


def test_a_published_container_image_is_named_by_its_registry_in_lower_case(
    examples: list[tuple[str, str, Any]],
) -> None:
    results = [parse_github("package", "d", p) for p in _github(examples, "package")]
    images = [r.image for r in results if isinstance(r, Change)]
    assert images == [
        "ghcr.io/codertocat/hello-world@sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b"
    ]
    assert {r.outcome for r in results if isinstance(r, Skip)} == {"not_a_container"}
    # registry_package carries the same `package` (the package has no example of its own).
    again = [parse_github("registry_package", "d", p) for p in _github(examples, "package")]
    assert [r.image for r in again if isinstance(r, Change)] == images
