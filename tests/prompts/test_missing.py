"""Strictness: a value that resolves to nothing fails, naming the field, the path and the fix."""

from __future__ import annotations

import pytest

from tests.prompts.rendering import fails


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "{{summarize.txt}}",
            [
                "user_prompt: {{summarize.txt}} resolves to nothing",
                '"summarize" has no key "txt" (keys: text, model, finish_reason, usage)',
                'Did you mean "text"?',
            ],
        ),
        ("{{summarise.text}}", ['no name "summarise" in scope', 'Did you mean "summarize"?']),
        ("{{fetch.items.5.name}}", ['"fetch.items" has 2 item(s), so index 5 is past its end']),
        (
            "{{fetch.items.name}}",
            ['"fetch.items" is a list and "name" is not an index', "fetch.items.0.name"],
        ),
        ("{{summarize.text.words}}", ['"summarize.text" is a string, not a dict, so it has no "words"']),
        ("{{summarize.usage.total_tokens}}", ['"summarize.usage" is null, so it has no "total_tokens"']),
        ("{{zero.x}}", ['"zero" is a number, not a dict']),
        ("{{when.strftime}}", ['"when" is a datetime, not a dict']),  # no methods
        ("{{json summarize.nope}}", ["{{json summarize.nope}} resolves to nothing"]),
        ("{{group.text}}", ['"group" has no key "text" (keys: task)']),
        (
            "{{#each fetch.items}}{{ds}}{{/each}}",
            [
                'the current item of {{#each fetch.items}} has no key "ds" (keys: name, size)',
                "../ds or @root.ds",
            ],
        ),
        ("{{#if fetch.ok}}{{fetch.nope}}{{/if}}", ['"fetch" has no key "nope"']),  # strict inside blocks
    ],
)
def test_missing_values_fail_with_guidance(template: str, expected: list[str]) -> None:
    message = fails(template)
    assert message.startswith("user_prompt: ")
    for part in expected:
        assert part in message
    assert "Names in scope: httpRequest, previousNode, summarize, fetch, group," in message
    assert "Fix the path, or guard it with {{#if " in message


def test_error_names_the_field() -> None:
    assert fails("{{nope}}", field="system_prompt").startswith("system_prompt: {{nope}} resolves to nothing")


def test_long_scopes_are_abbreviated() -> None:
    message = fails("{{nope}}", {f"task_{n}": n for n in range(40)})
    assert "task_24, ..." in message
    assert "task_25" not in message


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{@index}}", "{{@index}} resolves to nothing: @index exists only inside {{#each}}"),
        ("{{#with fetch}}{{@first}}{{/with}}", "@first exists only inside {{#each}}"),
        ("{{../ds}}", "{{../ds}} resolves to nothing: ../ds climbs above the top of the scope"),
        ("{{#each fetch.items}}{{../../ds}}{{/each}}", "../../ds climbs above the top of the scope"),
        ("{{lookup fetch.tags 'nope'}}", "(keys: lang, tone)"),
        ("{{lookup nothing 'x'}}", "its object is 'empty', so it has no 'x'"),
        ("{{#each fetch.items as |it|}}{{it.nope}}{{/each}}", '"it" has no key "nope" (keys: name, size)'),
        ("{{#fetch}}{{nope}}{{/fetch}}", 'the current item of {{#fetch}} has no key "nope"'),
    ],
)
def test_data_variables_and_climbing_are_strict_too(template: str, problem: str) -> None:
    assert problem in fails(template)
