"""Run the Handlebars conformance corpus through the public renderer and classify each case.

A case passes when ``render_prompt`` gives handlebars.js 4.7's output byte for byte (or both
refuse the template). A documented difference is a case that differs, and matches byte for
byte once the documented rules are undone, each a named category:

* ``no HTML escaping``: the output equals Handlebars' output with ``noEscape: true``.
* ``JSON for objects and arrays``: with JavaScript's ``String()`` for values (``1,2``,
  ``[object Object]``) instead of JSON, the output matches.
* ``a missing path is an error``: ours refuses with a "resolves to nothing" error, and renders
  Handlebars' output once missing values render as ``''``.

Anything else is a fail. ``python -m dev.handlebars.report`` prints the table.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from itertools import product
from pathlib import Path
from typing import Any

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts import renderer
from airflow_provider_huggingface.prompts.renderer import render_prompt

CORPUS = Path(__file__).with_name("handlebars_corpus.json")
PASS = "pass"
FAIL = "fail"
NO_ESCAPING = "no HTML escaping"
JSON_VALUES = "JSON for objects and arrays"
MISSING_IS_ERROR = "a missing path is an error"
DIFFERENCES = (NO_ESCAPING, JSON_VALUES, MISSING_IS_ERROR)


def load_cases() -> list[dict[str, Any]]:
    return json.loads(CORPUS.read_text())["cases"]


def source(case: Mapping[str, Any]) -> str:
    return case["file"]


def case_id(case: Mapping[str, Any]) -> str:
    return f"{case['id']}:{case['file']}:{case['test']}"


def classify(case: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str]:
    """``(outcome, documented differences, our output or error)``; outcome is pass, fail,
    difference or ``skip: reason``."""
    if case["skip"]:
        return f"skip: {case['skip']}", (), ""
    ours = _render(case)
    if case["error"] is not None:  # Handlebars refuses the template: so must we
        return (PASS if isinstance(ours, PromptTemplateError) else FAIL), (), repr(ours)
    if ours == case["expected"]:
        return PASS, (), ours
    for relaxed in _relaxations():
        expected = case["expected_no_escape"] if NO_ESCAPING in relaxed else case["expected"]
        if expected is None:
            continue
        with _relaxed(relaxed):
            if _render(case) == expected:
                return "difference", relaxed, str(ours)
    return FAIL, (), ours if isinstance(ours, str) else repr(ours)


def table(cases: list[dict[str, Any]]) -> str:
    """The conformance table in Markdown, then the skips with their counts."""
    rows: dict[str, Counter[str]] = {}
    skips: Counter[str] = Counter()
    differences: Counter[str] = Counter()
    for case in cases:
        outcome, relaxed, _ = classify(case)
        counts = rows.setdefault(source(case), Counter())
        counts["cases"] += 1
        if outcome.startswith("skip: "):
            skips[outcome[6:]] += 1
            counts["skipped"] += 1
        else:
            counts[outcome] += 1
        differences.update(relaxed)
    columns = ("cases", "skipped", PASS, "difference", FAIL)
    header = "| source | cases | skipped | pass | documented difference | fail |"
    lines = [header, "|---|---:|---:|---:|---:|---:|"]
    total: Counter[str] = Counter()
    for name, counts in rows.items():
        total.update(counts)
        lines.append(f"| {name} | " + " | ".join(str(counts[c]) for c in columns) + " |")
    lines.append("| **total** | " + " | ".join(f"**{total[c]}**" for c in columns) + " |")
    lines += ["", "Documented differences (a case may need more than one):", ""]
    lines += [f"- {name}: {differences[name]}" for name in DIFFERENCES]
    lines += ["", "Skipped (cannot apply to a prompt):", ""]
    lines += [f"- {reason}: {count}" for reason, count in skips.most_common()]
    return "\n".join(lines)


def _render(case: Mapping[str, Any]) -> str | Exception:
    try:
        return render_prompt(case["template"], case["input"] or {})
    except Exception as error:  # anything but PromptTemplateError is a fail, reported as such
        return error


def _relaxations() -> Iterator[tuple[str, ...]]:
    """Every non-empty set of documented differences, smallest first."""
    flags = product((False, True), repeat=len(DIFFERENCES))
    sets = [tuple(d for d, on in zip(DIFFERENCES, f, strict=True) if on) for f in flags]
    yield from sorted((s for s in sets if s), key=len)


@contextlib.contextmanager
def _relaxed(relaxed: tuple[str, ...]) -> Iterator[None]:
    """Undo the documented rules in ``relaxed`` (escaping needs nothing: it is in the expectation)."""
    saved = renderer.to_text, renderer._value_of
    evaluate = renderer.evaluate
    if JSON_VALUES in relaxed:
        renderer.to_text = _js_string
    if MISSING_IS_ERROR in relaxed:
        renderer._value_of = lambda node, frame: evaluate(node.expr, frame, node, strict=False)
    try:
        yield
    finally:
        renderer.to_text, renderer._value_of = saved


def _js_string(value: Any) -> str:
    """JavaScript's ``String(value)`` for JSON values, as Handlebars prints them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, (list, tuple)):
        return ",".join(_js_string(item) for item in value)
    return str(value)
