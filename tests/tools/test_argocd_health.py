"""The Argo CD health checks (Lua) run in a real Lua interpreter against sample objects.

Argo CD runs health.lua in gopher-lua, a Lua 5.1, with the resource as the global
`obj` (decoded from JSON) and reads `status` and `message` from the table the
script returns. lupa's Lua 5.1 runtime stands in for it here, with the libraries Argo CD
leaves out of a ConfigMap customization removed; the Go harness in hack/argocd-lua runs
the same cases in gopher-lua itself (`make argocd-lua`). The cases are Argo CD's own
layout: integrations/argocd/tierkeeper.dev/<Kind>/health_test.yaml and testdata/.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from tests.tools.conftest import ROOT
from tierkeeper.models import EnvironmentSpec, EnvironmentStatus, ReleaseSpec, ReleaseStatus

ARGOCD = ROOT / "integrations" / "argocd"
KINDS = ("Environment", "Release")
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
HEALTH_KEY = "resource.customizations.health.tierkeeper.dev_{kind}"
ACTIONS_KEY = "resource.customizations.actions.tierkeeper.dev_{kind}"
CM_HEADER_END = "\ndata:\n"
# What Argo CD opens for a ConfigMap customization is base, table and package, and an os
# with time and date behind require("os") only. Everything else goes, and so does the
# string metatable, or ("x"):format() would still work here and not there.
ARGOCD_LIBRARIES_ONLY = """
local time, date = os.time, os.date
debug.setmetatable("", nil)
for _, name in ipairs({"string", "math", "io", "os", "debug", "coroutine"}) do
  _G[name] = nil
  package.loaded[name] = nil
end
package.preload.os = function() return { time = time, date = date } end
"""


def kind_dir(kind: str) -> Path:
    return ARGOCD / "tierkeeper.dev" / kind


def script(kind: str) -> Path:
    return kind_dir(kind) / "health.lua"


def action_scripts(kind: str) -> dict[str, Path]:
    return {p.parent.name: p for p in sorted((kind_dir(kind) / "actions").glob("*/action.lua"))}


def cases(kind: str) -> list[tuple[str, Path, dict[str, str]]]:
    tests = yaml.safe_load((kind_dir(kind) / "health_test.yaml").read_text())["tests"]
    return [(kind, kind_dir(kind) / t["inputPath"], t["healthStatus"]) for t in tests]


ALL_CASES = [case for kind in KINDS for case in cases(kind)]


def to_lua(runtime: lua51.LuaRuntime, value: Any) -> Any:
    """A decoded JSON value as Argo CD hands it to Lua: objects and arrays become tables
    (arrays indexed from 1), null becomes nil."""
    if isinstance(value, dict):
        return runtime.table_from(
            {k: to_lua(runtime, v) for k, v in value.items() if v is not None}
        )
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, v) for v in value])
    return value


def health(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    runtime = lua51.LuaRuntime(register_eval=False, unpack_returned_tuples=True)
    runtime.execute(ARGOCD_LIBRARIES_ONLY)
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute(script(kind).read_text())
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize(
    ("kind", "path", "expected"), ALL_CASES, ids=[f"{k}/{p.stem}" for k, p, _ in ALL_CASES]
)
def test_health_of_sample(kind: str, path: Path, expected: dict[str, str]) -> None:
    obj = yaml.safe_load(path.read_text())
    assert obj["kind"] == kind
    assert health(kind, obj) == expected


def test_every_phase_and_every_health_status_has_a_sample() -> None:
    phases = {
        (yaml.safe_load(path.read_text()).get("status") or {}).get("phase")
        for _, path, _ in cases("Release")
    }
    assert phases >= {
        "Pending",
        "Deploying",
        "Verifying",
        "AwaitingPromotion",
        "Promoted",
        "Failed",
        "RolledBack",
    }
    for kind in KINDS:
        seen = {expected["status"] for _, _, expected in cases(kind)}
        assert {"Healthy", "Progressing", "Degraded", "Suspended"} <= seen, kind
        assert seen <= HEALTH_STATUSES


@pytest.mark.parametrize(
    ("kind", "path", "expected"), ALL_CASES, ids=[p.stem for _, p, _ in ALL_CASES]
)
def test_samples_have_the_shape_the_operator_writes(
    kind: str, path: Path, expected: dict[str, str]
) -> None:
    """The samples are valid objects: spec and status parse with the operator's own models,
    so a status field renamed in the operator cannot go unnoticed here."""
    obj = yaml.safe_load(path.read_text())
    assert obj["apiVersion"] == "tierkeeper.dev/v1alpha1"
    spec_model, status_model = (
        (EnvironmentSpec, EnvironmentStatus)
        if kind == "Environment"
        else (ReleaseSpec, ReleaseStatus)
    )
    spec_model.model_validate(obj["spec"])
    if "status" in obj:
        status_model.model_validate(obj["status"])


def test_samples_are_captured_from_real_objects() -> None:
    """Every sample comes from hack/capture-argocd-samples.py, and every sample is tested."""
    for kind in KINDS:
        samples = set((kind_dir(kind) / "testdata").glob("*.yaml"))
        assert samples == {path for _, path, _ in cases(kind)}, kind
        for path in samples:
            assert path.read_text().startswith("# captured by hack/capture-argocd-samples.py"), path


def block(text: str, indent: int) -> str:
    """`text` as the lines of a YAML block scalar indented by `indent` spaces."""
    pad = " " * indent
    return "".join(f"{pad}{line}\n" if line else "\n" for line in text.splitlines())


def configmap_text() -> str:
    """argocd-cm.yaml as it must be: its header, then for each kind its health.lua, and its
    actions as the YAML Argo CD reads (discovery.lua and a definition per action.lua)."""
    current = (ARGOCD / "argocd-cm.yaml").read_text()
    header = current[: current.index(CM_HEADER_END) + len(CM_HEADER_END)]
    body = ""
    for kind in KINDS:
        body += f"  {HEALTH_KEY.format(kind=kind)}: |\n" + block(script(kind).read_text(), 4)
        body += f"  {ACTIONS_KEY.format(kind=kind)}: |\n    discovery.lua: |\n"
        body += block((kind_dir(kind) / "actions" / "discovery.lua").read_text(), 6)
        body += "    definitions:\n"
        for name, path in action_scripts(kind).items():
            body += f"    - name: {name}\n      action.lua: |\n" + block(path.read_text(), 8)
    return header + body


def test_argocd_cm_holds_exactly_the_lua_files() -> None:
    """UPDATE_GOLDEN=1 rewrites integrations/argocd/argocd-cm.yaml from the .lua files."""
    path = ARGOCD / "argocd-cm.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(configmap_text())
    configmap = yaml.safe_load(path.read_text())
    assert configmap["kind"] == "ConfigMap" and configmap["metadata"]["name"] == "argocd-cm"
    assert set(configmap["data"]) == {
        key.format(kind=kind) for kind in KINDS for key in (HEALTH_KEY, ACTIONS_KEY)
    }
    for kind in KINDS:
        assert configmap["data"][HEALTH_KEY.format(kind=kind)] == script(kind).read_text(), (
            f"argocd-cm.yaml differs from {kind}/health.lua: run with UPDATE_GOLDEN=1"
        )
        actions = yaml.safe_load(configmap["data"][ACTIONS_KEY.format(kind=kind)])
        assert actions == {
            "discovery.lua": (kind_dir(kind) / "actions" / "discovery.lua").read_text(),
            "definitions": [
                {"name": name, "action.lua": path.read_text()}
                for name, path in action_scripts(kind).items()
            ],
        }, f"argocd-cm.yaml differs from {kind}/actions: run with UPDATE_GOLDEN=1"
