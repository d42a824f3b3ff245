"""What can be checked of the Dockerfile without a Docker engine: pinned bases, the final
stage's non-root user (the one the Deployment runs as), the entry point, the ports the
manifests use, and a build context that holds the package and not the work tree."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

import yaml

from tests.tools.conftest import ROOT

Instruction = tuple[str, str]


def instructions(path: Path) -> list[Instruction]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        logical.append(pending)
        pending = ""
    assert not pending, "dangling line continuation"
    result = []
    for entry in logical:
        keyword, _, arguments = entry.strip().partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


DOCKERFILE = instructions(ROOT / "Dockerfile")


def final_stage() -> list[Instruction]:
    last_from = max(i for i, (keyword, _) in enumerate(DOCKERFILE) if keyword == "FROM")
    return DOCKERFILE[last_from:]


def test_base_images_are_python_311_slim_and_never_latest() -> None:
    for keyword, arguments in DOCKERFILE:
        if keyword == "FROM":
            image = arguments.split()[0]
            assert image == "python:3.11-slim", image
    assert not re.search(r":latest\b", (ROOT / "Dockerfile").read_text())


def test_final_stage_runs_as_the_non_root_user_the_deployment_expects() -> None:
    users = [arguments for keyword, arguments in final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) != 0, "USER must be a numeric non-root UID"
    assert not group or (group.isdigit() and int(group) != 0)
    deployment = yaml.safe_load((ROOT / "manifests" / "base" / "deployment.yaml").read_text())
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsUser"] == int(user)


def test_entrypoint_is_the_tierkeeper_command_running_the_operator() -> None:
    stage = dict(final_stage())
    assert json.loads(stage["ENTRYPOINT"]) == ["tierkeeper"]
    assert json.loads(stage["CMD"]) == ["run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "tierkeeper" in scripts


def test_exposes_the_liveness_and_metrics_ports() -> None:
    ports = {p for keyword, args in final_stage() if keyword == "EXPOSE" for p in args.split()}
    assert ports == {"8080", "9090"}


def test_package_is_installed_from_the_build_context_without_leftovers() -> None:
    build_runs = [args for keyword, args in DOCKERFILE if keyword == "RUN"]
    assert any("pip wheel" in run and " ." in run for run in build_runs)
    installs = [
        args for keyword, args in final_stage() if keyword == "RUN" and "pip install" in args
    ]
    assert len(installs) == 1
    assert "--no-cache-dir" in installs[0]
    # Wheels are bind-mounted for the install, not copied into a layer.
    assert "--mount=type=bind" in installs[0]
    assert not [args for keyword, args in final_stage() if keyword in ("COPY", "ADD")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path (or a parent of it) decides."""
    decision = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(prefix, pattern)
            or fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
            or fnmatch.fnmatch(prefix.rsplit("/", 1)[-1], pattern.removeprefix("**/"))
            for prefix in prefixes
        ):
            decision = not negated
    return decision


def test_dockerignore_sends_the_package_and_not_the_work_tree() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for needed in ("pyproject.toml", "README.md", "operator/tierkeeper/cli/__init__.py"):
        assert not ignored(needed, patterns), needed
    for unwanted in (
        ".git/HEAD",
        ".venv/bin/python",
        "tests/unit/test_models.py",
        "operator/tierkeeper/__pycache__/x.pyc",
        "manifests/base/rbac.yaml",
    ):
        assert ignored(unwanted, patterns), unwanted
