"""`tierkeeper run`: options that are more than a pass-through to kopf, and what it loads."""

from __future__ import annotations

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


def test_run_imports_no_other_subcommand() -> None:
    """The operator's memory holds only what `run` needs (not the dev cluster's tooling)."""
    script = (
        "import contextlib, sys\n"
        "from tierkeeper.cli import main\n"
        "with contextlib.suppress(SystemExit):\n"
        "    main(['run', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('tierkeeper.cli.')))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert found.splitlines()[-1] == "['tierkeeper.cli.run']"
