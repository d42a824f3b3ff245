"""Bad input on the real API server (SPEC §5, issue 9): fuzzed documents and a checked-in corpus.

Every Environment (with, sometimes, its Release) is either rejected at admission with a
message, or accepted and then reconciled to a Ready condition: refused with a CamelCase
reason and nothing written, or with every child the spec asks for — never a traceback in
the operator's log, never a crash.

TIERKEEPER_FUZZ_EXAMPLES sets how many documents hypothesis tries (default 20: the
machine has two cores); TIERKEEPER_FUZZ_RANDOM=1 draws new ones on every run instead of
the same derandomized sequence; TIERKEEPER_FUZZ_LOG=PATH appends one JSON line per input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings

from tests.integration import fuzz
from tests.integration.k8s import Api
from tests.integration.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).parent / "corpus"
EXAMPLES = int(os.environ.get("TIERKEEPER_FUZZ_EXAMPLES", "20"))


def record(docs: list[dict[str, Any]], result: fuzz.Outcome) -> None:
    if target := os.environ.get("TIERKEEPER_FUZZ_LOG"):
        with Path(target).open("a") as sink:
            line = {"label": result.label, "problems": result.problems, "documents": docs}
            sink.write(json.dumps(line, default=str) + "\n")


def corpus_cases() -> list[Any]:
    """Each file: `expect` (the start of the outcome's label), `documents`, and for a case that
    still fails, `known_bug` (strict xfail: fixing it turns the case into a failure to update)."""
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        case = yaml.safe_load(path.read_text())
        bug = case.get("known_bug")
        marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
        cases.append(pytest.param(case, id=path.stem, marks=marks))
    return cases


@pytest.mark.parametrize("case", corpus_cases())
def test_corpus_case_is_rejected_refused_or_converges_as_recorded(
    api: Api, namespace: str, operator: OperatorProcess, case: dict[str, Any]
) -> None:
    result = fuzz.outcome(api, case["documents"], namespace, operator.log)
    assert result.problems == []
    assert result.label.startswith(case["expect"]), (result.label, result.rejected)
    fuzz.remove(api, case["documents"], namespace)  # and it can be deleted
    assert operator.alive()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("TIERKEEPER_FUZZ_RANDOM") != "1",
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each try costs seconds
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(docs=fuzz.documents())
def test_fuzzed_documents_are_rejected_refused_or_converge_never_half_applied(
    api: Api, namespace: str, operator: OperatorProcess, docs: list[dict[str, Any]]
) -> None:
    try:
        result = fuzz.outcome(api, docs, namespace, operator.log)
        record(docs, result)
        assert result.problems == []
        assert operator.alive()
    finally:
        fuzz.remove(api, docs, namespace)
