"""Shared by the tests of the installable and operable parts (manifests, integrations,
Dockerfile)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
