"""Shared by every test layer."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

import pytest


@pytest.fixture(scope="session")
def unavailable() -> Callable[[str], NoReturn]:
    """Skip for a missing toolchain, or fail under TIERKEEPER_REQUIRE_ALL=1 (`make test`):
    CI must never pass by skipping."""

    def give_up(reason: str) -> NoReturn:
        if os.environ.get("TIERKEEPER_REQUIRE_ALL") == "1":
            pytest.fail(f"{reason} (TIERKEEPER_REQUIRE_ALL=1: a missing toolchain is an error)")
        pytest.skip(reason)

    return give_up
