"""Each example renders to exactly its golden file (UPDATE_GOLDEN=1 rewrites them, and fails)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.golden import rewrite_if_asked
from tierkeeper.backup.dumps import BACKUP_SCRIPT_NAME
from tierkeeper.cli.render import render_documents

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("environment-*.yaml"))
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_renders_to_its_golden_file(example: Path) -> None:
    manifests = render_documents(yaml.safe_load_all(example.read_text()))
    for manifest in manifests:
        # The script has its own tests (test_render_backup, tests/data); golden files
        # need not change with every edit of it.
        if BACKUP_SCRIPT_NAME in manifest.get("data", {}):
            manifest["data"][BACKUP_SCRIPT_NAME] = "<the packaged backup script>"
    rendered = yaml.safe_dump_all(manifests, sort_keys=False, width=100)
    golden = GOLDEN / example.name
    rewrite_if_asked({golden: rendered})
    assert golden.read_text() == rendered


def test_there_is_an_example_per_tier() -> None:
    tiers = {yaml.safe_load(p.read_text().split("---")[0])["spec"]["tier"] for p in EXAMPLES}
    assert tiers == {"development", "staging", "production"}
