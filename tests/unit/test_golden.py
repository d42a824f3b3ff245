"""Each example renders to exactly its golden file (UPDATE_GOLDEN=1 rewrites them, and fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.golden import rewrite_if_asked
from tierkeeper.backup.dumps import backup_script
from tierkeeper.cli.render import render_documents

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("environment-*.yaml"))
GOLDEN = Path(__file__).parent / "golden"


def elide_script(node: Any) -> None:
    """Put a placeholder where `node` holds the backup script's text: the script has its
    own tests (test_render_backup, tests/data), and golden files need not change with every
    edit of it. In place, so that objects the manifests share stay shared (YAML anchors)."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        if value == backup_script():
            node[key] = "<the packaged backup script>"
        elif isinstance(value, dict | list):
            elide_script(value)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_renders_to_its_golden_file(example: Path) -> None:
    manifests = render_documents(yaml.safe_load_all(example.read_text()))
    elide_script(manifests)
    rendered = yaml.safe_dump_all(manifests, sort_keys=False, width=100)
    golden = GOLDEN / example.name
    rewrite_if_asked({golden: rendered})
    assert golden.read_text() == rendered


def test_there_is_an_example_per_tier() -> None:
    tiers = {yaml.safe_load(p.read_text().split("---")[0])["spec"]["tier"] for p in EXAMPLES}
    assert tiers == {"development", "staging", "production"}
