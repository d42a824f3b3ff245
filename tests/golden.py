"""Golden files: checked-in expected output, rewritten on request (UPDATE_GOLDEN=1).

A run that rewrites them fails: comparing a file just written with what was written would
always pass, and a rewrite is a change to review and commit, never a green test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest


def rewrite_if_asked(files: Mapping[Path, str]) -> None:
    """Under UPDATE_GOLDEN=1, write each file's expected text and fail the test."""
    if not os.environ.get("UPDATE_GOLDEN"):
        return
    for path, text in files.items():
        path.write_text(text)
    pytest.fail("golden files rewritten; review and commit: " + ", ".join(map(str, files)))
