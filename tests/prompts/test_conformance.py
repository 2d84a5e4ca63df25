"""Handlebars conformance: every case of the corpus through the public renderer.

The corpus (``handlebars_corpus.json``) holds the Mustache spec's and handlebars.js's own spec
cases with the output of handlebars.js 4.7 itself; ``python -m dev.handlebars.generate``
rebuilds it and ``python -m dev.handlebars.report`` prints the table of outcomes.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.prompts.conformance import FAIL, PASS, case_id, classify, load_cases, table

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_case_matches_handlebars_or_differs_only_as_documented(case: dict) -> None:
    outcome, _, ours = classify(case)
    assert outcome != FAIL, (
        f"{case['template']!r} over {case['input']!r}: handlebars gives {case['expected']!r} "
        f"(error {case['error']!r}), we give {ours!r}"
    )
    if outcome in (PASS, "difference"):
        assert not case["skip"]


def test_every_source_contributes_cases_that_run() -> None:
    ran = Counter(case["file"] for case in CASES if not case["skip"])
    for source in ("spec/basic.js", "spec/blocks.js", "spec/builtins.js", "spec/whitespace-control.js"):
        assert ran[source] >= 15, source
    for source in ("interpolation", "sections", "inverted", "comments"):
        assert ran[f"mustache/spec {source}.json"] >= 10, source


def test_only_what_cannot_apply_to_a_prompt_is_skipped() -> None:
    allowed = ("partials", "decorators", "custom JS", "compile options", "runtime options", "the top context")
    for case in CASES:
        assert not case["skip"] or case["skip"].startswith(allowed), case["skip"]


def test_table_counts_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    text = table(CASES)
    print(text)
    total = next(line for line in text.splitlines() if line.startswith("| **total**"))
    cells = [cell.strip("* ") for cell in total.split("|")[2:-1]]
    assert int(cells[0]) == len(CASES)
    assert cells[-1] == "0", "no case may fail"
