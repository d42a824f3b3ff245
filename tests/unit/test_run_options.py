"""`tierkeeper run`: options that are more than a pass-through to kopf, and what it loads."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tierkeeper.cli.run import priority


def test_automatic_priorities_differ_between_replicas_and_stay_put(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def auto(pod: str) -> int:
        monkeypatch.setenv("POD_ID", pod)
        return priority("auto")

    assert auto("tierkeeper-7d9f-abcde") != auto("tierkeeper-7d9f-fghij")
    assert auto("tierkeeper-7d9f-abcde") == auto("tierkeeper-7d9f-abcde") > 0
    assert priority("50") == 50


def modules_after(command: str, prefix: str) -> list[str]:
    """The modules starting with `prefix` that `tierkeeper COMMAND --help` loaded."""
    script = (
        "import contextlib, sys\n"
        "from tierkeeper.cli import main\n"
        "with contextlib.suppress(SystemExit):\n"
        f"    main([{command!r}, '--help'])\n"
        f"print(sorted(m for m, v in sys.modules.items() if m.startswith({prefix!r}) and v))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    loaded: list[str] = ast.literal_eval(found.splitlines()[-1])
    return loaded


def test_run_imports_no_other_subcommand() -> None:
    """The operator's memory holds only what `run` needs (not the dev cluster's tooling)."""
    assert modules_after("run", "tierkeeper.cli.") == [
        "tierkeeper.cli.lean_imports",
        "tierkeeper.cli.run",
    ]


def test_the_operator_loads_kubernetes_aio_without_the_synchronous_client() -> None:
    loaded = modules_after("run", "kubernetes")
    assert "kubernetes.aio.client" in loaded
    assert [m for m in loaded if not m.startswith("kubernetes.aio")] == ["kubernetes"]
