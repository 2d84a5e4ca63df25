"""Handlebars conformance: every case of the corpus through the public renderer, one test per
source, each listing every case of its source that fails.

The corpus (``handlebars_corpus.json``) holds the Mustache spec's and handlebars.js's own spec
cases with the output of handlebars.js 4.7 itself; ``python -m dev.handlebars.generate``
rebuilds it and ``python -m dev.handlebars.report`` prints the table of outcomes.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.prompts.conformance import FAIL, case_id, classify, load_cases, source, table

CASES = load_cases()


@pytest.mark.parametrize("name", list(dict.fromkeys(map(source, CASES))))
def test_cases_match_handlebars_or_differ_only_as_documented(name: str) -> None:
    failures = []
    for case in CASES:
        if source(case) == name and (outcome := classify(case))[0] == FAIL:
            failures.append(
                f"{case_id(case)}: {case['template']!r} over {case['input']!r}: handlebars gives "
                f"{case['expected']!r} (error {case['error']!r}), we give {outcome[2]!r}"
            )
    assert not failures, f"{len(failures)} case(s) of {name} fail:\n" + "\n".join(failures)


def test_every_source_contributes_cases_that_run() -> None:
    ran = Counter(case["file"] for case in CASES if not case["skip"])
    for name in ("spec/basic.js", "spec/blocks.js", "spec/builtins.js", "spec/whitespace-control.js"):
        assert ran[name] >= 15, name
    for name in ("interpolation", "sections", "inverted", "comments"):
        assert ran[f"mustache/spec {name}.json"] >= 10, name


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
