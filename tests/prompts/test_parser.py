"""The template lexer and parser: faults reported with their position, and braces that are text."""

from __future__ import annotations

import pytest

from tests.prompts.rendering import SCOPE, fails, render


@pytest.mark.parametrize(
    ("template", "position", "problem"),
    [
        (
            "Hi\n  {{#each fetch.items}}x",
            "line 2, column 3",
            "{{#each fetch.items}} is never closed; add {{/each}}",
        ),
        (
            "{{#if a}}\nx{{/each}}",
            "line 2, column 2",
            "{{/each}} does not match {{#if a}} opened at line 1, column 1",
        ),
        ("a {{/if}}", "line 1, column 3", "{{/if}} closes no block"),
        ("{{#if a}}{{else}}{{else}}{{/if}}", "line 1, column 18", "second {{else}}"),
        ("x {{else}}", "line 1, column 3", "{{else}} is outside any block"),
        ("Hi {{name", "line 1, column 4", "the tag '{{name' is never closed; add }}"),
        ("Hi {{{name}}", "line 1, column 4", "never closed; add }}}"),
        ("Hi {{a {{b}}", "line 1, column 4", "is never closed"),
        (
            "{{upper ds}}",
            "line 1, column 1",
            "unknown helper 'upper'; the helpers are json, lookup, log, #if",
        ),
        ("{{#loop x}}{{/loop}}", "line 1, column 1", "unknown block helper 'loop'"),
        ("{{if x}}", "line 1, column 1", "if is a block; write {{#if ...}}"),
        ("{{> header}}", "line 1, column 1", "partials and decorators are not supported"),
        ("{{#*inline 'x'}}{{/inline}}", "line 1, column 1", "partials and decorators are not supported"),
        ("{{#if a}}{{else}}{{else if b}}{{/if}}", "line 1, column 18", "{{else}} must come last"),
        ("{{#each a as |b}}{{/each}}", "line 1, column 1", "block parameters are written as |name|"),
        ("{{#if a includeZero=true x}}{{/if}}", "line 1, column 1", "put the options last"),
        ("{{#each a includeZero=true}}{{/each}}", "line 1, column 1", "unknown option 'includeZero'"),
        ("{{#if a b=1}}{{/if}}", "line 1, column 1", "unknown option 'b'; #if takes includeZero"),
        ("{{lookup a}}", "line 1, column 1", "lookup takes an object and a key"),
        ("{{#if (upper a)}}{{/if}}", "line 1, column 1", "unknown helper 'upper' in (upper a)"),
        ("{{{{raw}}}}{{{{/raw}}}}", "line 1, column 1", "raw blocks"),
        ("{{#a}}{{/b}}", "line 1, column 7", "{{/b}} does not match {{#a}}"),
        ("{{#if}}{{/if}}", "line 1, column 1", "#if takes one value"),
        ("{{#if a b}}{{/if}}", "line 1, column 1", "#if takes one value"),
        ("{{json}}", "line 1, column 1", "json takes one value"),
        ("{{json a b}}", "line 1, column 1", "json takes one value"),
        ("{{ }}", "line 1, column 1", "is empty"),
        ("{{a..b}}", "line 1, column 1", "'a..' is not a path"),
        ("{{a.}}", "line 1, column 1", "is not a path"),
        ("{{a/this/b}}", "line 1, column 1", "this may only start a path"),
        ("{{@foo}}", "line 1, column 1", "unknown data variable"),
    ],
)
def test_malformed_templates_report_the_position(template: str, position: str, problem: str) -> None:
    message = fails(template, {})
    assert message.startswith(f"user_prompt: {position}: ")
    assert problem in message


@pytest.mark.parametrize(
    "template",
    ["one\ntwo summarize.text}} three", "{{ds}}}}", "} {{ds}} }}}"],
)
def test_text_braces_are_text_as_in_handlebars(template: str) -> None:
    assert render(template) == template.replace("{{ds}}", SCOPE["ds"])
