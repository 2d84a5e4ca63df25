"""The rendering rows of the table of issue 9, each as Handlebars 4 renders it.

The same templates are in the conformance corpus (``dev/handlebars/project_cases.json``) with
handlebars.js's own output; here each is pinned to the exact string a DAG author expects.
"""

from __future__ import annotations

import pytest

from airflow_provider_huggingface.prompts.renderer import render_prompt


@pytest.mark.parametrize(
    ("template", "scope", "expected"),
    [
        ("Items:\n{{#each xs}}\n- {{this}}\n{{/each}}", {"xs": [1, 2]}, "Items:\n- 1\n- 2\n"),
        ("{{#if x}}\nA\n{{else}}\nB\n{{/if}}\n", {"x": True}, "A\n"),
        ("{{#if x}}\nA\n{{else}}\nB\n{{/if}}\n", {"x": False}, "B\n"),
        ("{{#each data}}\n{{#if true}}\n{{.}}\n{{/if}}\n{{/each}}\nOK.", {"data": ["a", "b"]}, "a\nb\nOK."),
        ("W:\n{{#each lst~}}\n  - {{this}}\n{{~/each}}\nEND", {"lst": ["a", "b", "c"]}, "W:\n- a- b- cEND"),
        ("{{#items}}[{{name}}]{{/items}}", {"items": [{"name": "a"}, {"name": "b"}]}, "[a][b]"),
        ("{{#items}}x{{/items}}{{^items}}none{{/items}}", {"items": []}, "none"),
        ("{{#if x}}X{{else if y}}Y{{else}}Z{{/if}}", {"x": False, "y": True}, "Y"),
        ("{{#if x}}X{{else if y}}Y{{else}}Z{{/if}}", {"x": False, "y": False}, "Z"),
        ("{{lookup m k}}", {"m": {"a": "A", "b": "B"}, "k": "b"}, "B"),
        ("{{#each xs as |x i|}}{{i}}:{{x}} {{/each}}", {"xs": ["a", "b"]}, "0:a 1:b "),
        ("{{#if n includeZero=true}}zero counts{{else}}no{{/if}}", {"n": 0}, "zero counts"),
        ("{{#if n}}yes{{else}}no{{/if}}", {"n": 0}, "no"),
        ('{{"key with space"}}', {"key with space": "v"}, "v"),
    ],
)
def test_rendering_rows_of_the_issue(template: str, scope: dict, expected: str) -> None:
    assert render_prompt(template, scope) == expected


@pytest.mark.parametrize(
    ("template", "expected_segments"),
    [
        ("{{[fetch.v2].data}}", ("fetch.v2", "data")),
        ("{{[task with spaces]}}", ("task with spaces",)),
        ("{{group.[my task].text}}", ("group", "my task", "text")),
        ("{{[a\\]b].c}}", ("a]b", "c")),
        ('{{"fetch.v2"}}', ("fetch.v2",)),
        ("{{fetch-v2.data}}", ("fetch-v2", "data")),
        ("{{fetch/v2}}", ("fetch", "v2")),
    ],
)
def test_a_bracket_segment_is_one_segment_dots_and_all(template: str, expected_segments: tuple) -> None:
    """What the scope receives: a path as a list of segments; it resolves task ids from them."""
    seen: list[tuple[str, ...]] = []

    class Scope(dict):
        def resolve_path(self, segments: tuple[str, ...]) -> tuple[int, object]:
            seen.append(tuple(segments))
            return len(segments), "resolved"

    assert render_prompt(template, Scope()) == "resolved"
    assert seen == [expected_segments]


def test_bracket_segments_reach_keys_with_dots_and_spaces() -> None:
    scope = {"fetch.v2": {"data": "D"}, "task with spaces": "T", "fetch": {"v2": {"data": "other"}}}
    assert render_prompt("{{[fetch.v2].data}} {{[task with spaces]}} {{fetch.v2.data}}", scope) == "D T other"
