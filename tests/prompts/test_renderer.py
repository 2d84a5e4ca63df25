"""Prompt templates through render_prompt: values, paths and blocks, bad arguments, referenced
roots, threads, and no second template engine. Parser faults are in test_parser.py, missing
values in test_missing.py, the rows of issue 9's table in test_issue_rows.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts.renderer import referenced_roots, render_prompt
from tests.prompts.rendering import render

# ---------------------------------------------------------------------------------------------
# Values and paths


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # the seed's examples
        ("Summarize this text: {{httpRequest.data}}", "Summarize this text: the quarterly report"),
        ("Translate: {{previousNode.content}}", "Translate: Bonjour"),
        # paths
        ("{{summarize.model}}", "mistralai/Mistral-7B-Instruct-v0.3"),
        ("{{fetch.items.0.name}} {{fetch.items.1.size}}", "one 2"),
        ("{{fetch.items.length}}", "2"),
        ("{{fetch/items/1/name}}", "two"),
        ("{{group.task.text}}", "from the group"),
        ("{{params.[key with space]}}", "spaced"),
        ("{{this.ds}} {{./ds}} {{@root.ds}}", "2024-05-06 2024-05-06 2024-05-06"),
        ("{{when.year}}", "2024"),
        # tag forms
        ("{{ ds }}|{{{ds}}}|{{{ ds }}}|{{& ds}}", "2024-05-06|2024-05-06|2024-05-06|2024-05-06"),
        # no HTML escaping, whichever the form
        ("{{markup}}|{{{markup}}}", "a & b <c> \"d\" 'e' `f`|a & b <c> \"d\" 'e' `f`"),
        # values are data: never rendered again
        ("{{curly}}", "{{summarize.text}} stays {{#if x}}as is{{/if}}"),
        # formatting
        ("[{{nothing}}] [{{summarize.usage}}]", "[] []"),
        ("{{fetch.ok}} {{no}}", "true false"),
        ("{{zero}} {{pi}}", "0 3.5"),
        ("{{fetch.tags}}", '{"lang": "fr", "tone": "dry"}'),
        ("{{fetch.items}}", '[{"name": "one", "size": 1}, {"name": "two", "size": 2}]'),
        ("{{fetch.empty}}", "[]"),
        ("{{json fetch.tags}}", '{\n  "lang": "fr",\n  "tone": "dry"\n}'),
        ("{{json ds}} {{json nothing}}", '"2024-05-06" null'),
        ("{{raw}}", "café \ufffd"),
        ("{{when}}", "2024-05-06T07:08:09+00:00"),
        # literal braces: \{{ escapes a tag, \\{{ is a backslash then a tag; JSON braces are text
        ("\\{{ds}} and \\\\{{ds}}", "{{ds}} and \\2024-05-06"),
        ('Reply as {"answer": {"score": {{zero}}}}', 'Reply as {"answer": {"score": 0}}'),
        ("", ""),
        ("line endings\r\nare kept {{ds}}\r\n", "line endings\r\nare kept 2024-05-06\r\n"),
        ("no tags at all", "no tags at all"),
    ],
)
def test_renders_values(template: str, expected: str) -> None:
    assert render(template) == expected


def test_non_ascii_stays_unescaped_in_json() -> None:
    assert render("{{d}}", {"d": {"city": "Zürich", "emoji": "🙂"}}) == '{"city": "Zürich", "emoji": "🙂"}'


def test_whole_scope_as_this() -> None:
    assert render("{{this}}", {"a": 1, "b": [True, None]}) == '{"a": 1, "b": [true, null]}'


# ---------------------------------------------------------------------------------------------
# Blocks


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{#if fetch.ok}}yes{{else}}no{{/if}}", "yes"),
        ("{{#if fetch.empty}}yes{{^}}no{{/if}}", "no"),
        ("{{#unless fetch.ok}}down{{else}}up{{/unless}}", "up"),
        ("{{#unless no}}shown{{/unless}}", "shown"),
        # missing values are false or empty in a block's argument
        ("{{#if missing.deeply.nested}}yes{{else}}absent{{/if}}", "absent"),
        ("{{#if summarize.text.nope}}yes{{else}}absent{{/if}}", "absent"),
        ("{{#unless missing}}absent{{/unless}}", "absent"),
        ("{{#each missing}}x{{else}}none{{/each}}", "none"),
        ("{{#with missing}}x{{else}}none{{/with}}", "none"),
        ("{{#each fetch.empty}}x{{else}}empty{{/each}}", "empty"),
        ("{{#each ds}}x{{else}}not a list{{/each}}", "not a list"),
        # each over lists and dicts: this, @index, @key, @first, @last, ../ and @root
        ("{{#each fetch.items}}{{@index}}:{{name}} {{/each}}", "0:one 1:two "),
        (
            "{{#each fetch.items}}{{#if @first}}[{{/if}}{{this.name}}{{#if @last}}]{{/if}}{{/each}}",
            "[onetwo]",
        ),
        ("{{#each fetch.tags}}{{@key}}={{this}};{{/each}}", "lang=fr;tone=dry;"),
        ("{{#each fetch.items}}{{@key}}{{/each}}", "01"),
        (
            "{{#each fetch.items}}{{name}}@{{../ds}}/{{@root.params.lang}} {{/each}}",
            "one@2024-05-06/French two@2024-05-06/French ",
        ),
        (
            "{{#each fetch.items}}{{#each ../fetch.tags}}{{../name}}.{{@key}} {{/each}}{{/each}}",
            "one.lang one.tone two.lang two.tone ",
        ),
        ("{{#each fetch.items}}{{#each ../fetch.empty}}{{else}}{{@index}}{{/each}}{{/each}}", "01"),
        ("{{#each fetch.items}}{{this}}{{/each}}", '{"name": "one", "size": 1}{"name": "two", "size": 2}'),
        # with: the item becomes this; ../ reaches the outside
        ("{{#with group.task}}{{text}} on {{../ds}}{{/with}}", "from the group on 2024-05-06"),
        ("{{#each fetch.items}}{{#with this}}{{name}}#{{@index}} {{/with}}{{/each}}", "one#0 two#1 "),
        # no escaping inside blocks either; values with {{ }} stay data
        ("{{#if markup}}{{markup}}{{/if}}", "a & b <c> \"d\" 'e' `f`"),
        ("{{#if curly}}{{{curly}}}{{/if}}", "{{summarize.text}} stays {{#if x}}as is{{/if}}"),
        ("{{#if fetch.ok}}{{fetch.tags}} {{json fetch.empty}}{{/if}}", '{"lang": "fr", "tone": "dry"} []'),
        # comments, whitespace control and standalone block lines
        ("a{{! a comment }}b{{!-- has }} inside --}}c", "abc"),
        ("a  {{~ds~}}  b", "a2024-05-06b"),
        ("a {{~#if fetch.ok~}} b {{~/if~}} c", "abc"),
        ("  {{#if fetch.ok}}\n  yes\n  {{else}}\n  no\n  {{/if}}\nafter", "  yes\nafter"),
        # a tag-looking piece of escaped text next to blocks
        ("{\\{{x}} {{#if fetch.ok}}y{{/if}}", "{{{x}} y"),
    ],
)
def test_renders_blocks(template: str, expected: str) -> None:
    assert render(template) == expected


# ---------------------------------------------------------------------------------------------
# Arguments that are not templates, and faults seen by referenced_roots


def test_non_string_template() -> None:
    with pytest.raises(PromptTemplateError, match="user_prompt: expected a template string, got int"):
        render_prompt(5, {})  # type: ignore[arg-type]


def test_referenced_roots_reports_malformed_templates_with_the_field() -> None:
    with pytest.raises(PromptTemplateError, match=r"^system_prompt: line 1, column 1: .*never closed"):
        referenced_roots("{{#if a}}", field="system_prompt")


# ---------------------------------------------------------------------------------------------
# Referenced roots


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Summarize this text: {{httpRequest.data}}", {"httpRequest"}),
        ("{{summarize.text}} {{params.lang}} {{ds}} {{json conf}}", {"summarize", "params", "ds", "conf"}),
        ("{{group.task.text}}", {"group"}),
        ("{{#each fetch.items}}{{name}} {{../ds}} {{@root.params.x}}{{/each}}", {"fetch", "ds", "params"}),
        ("{{#with a}}{{b}}{{else}}{{c}}{{/with}}", {"a", "c"}),
        ("{{#if x}}{{y}}{{/if}}{{#unless z}}{{/unless}}", {"x", "y", "z"}),
        ("{{this}} {{@root}} no roots", set()),
        ("{{!-- {{commented.out}} --}}\\{{escaped.out}}", set()),
        ("{{#each xs as |x i|}}{{x.name}}{{i}}{{y}}{{/each}}", {"xs"}),
        ("{{#with a as |b|}}{{b}}{{../c}}{{/with}}", {"a", "c"}),
        ("{{#items}}{{name}}{{/items}}{{^none}}{{other}}{{/none}}", {"items", "name", "none", "other"}),
        ("{{#if a}}{{else if b}}{{c}}{{else}}{{d}}{{/if}}", {"a", "b", "c", "d"}),
        ("{{lookup m k}} {{#with (lookup m2 'x')}}{{inner}}{{/with}}", {"m", "k", "m2"}),
        ('{{[fetch.v2].data}} {{"key with space"}}', {"fetch.v2", "key with space"}),
        ("{{#if n includeZero=true}}{{/if}}{{#if m includeZero=z}}{{/if}}", {"n", "m", "z"}),
    ],
)
def test_referenced_roots(template: str, expected: set[str]) -> None:
    assert referenced_roots(template) == frozenset(expected)


# ---------------------------------------------------------------------------------------------
# Threads, and no second template engine


def test_many_threads_compile_and_render_at_once() -> None:
    threads = 8
    token = f"threads-{id(object())}"  # templates no earlier test has parsed
    templates = {
        f"{{{{#each fetch.items}}}}{n}:{{{{@index}}}}:{{{{name}}}}{{{{#if ../fetch.ok}}}}+{{{{/if}}}} "
        f"{{{{/each}}}}{token}": f"{n}:0:one+ {n}:1:two+ {token}"
        for n in range(50)
    }
    start = threading.Barrier(threads)

    def work(offset: int) -> list[tuple[str, str]]:
        start.wait()
        order = list(templates)[offset:] + list(templates)[:offset]  # each thread its own order
        return [(template, render(template)) for template in order]

    with ThreadPoolExecutor(threads) as pool:
        results = [pair for batch in pool.map(work, range(0, 48, 6)) for pair in batch]
    assert len(results) == threads * 50
    for template, output in results:
        assert output == templates[template]


def test_rendering_a_block_template_imports_no_pybars() -> None:
    """A fresh process, so that no other test's imports can hide one."""
    root = Path(__file__).resolve().parents[2]
    template = "{{#each xs}}{{#if this}}{{this}}{{/if}}{{else}}none{{/each}} {{#with x}}{{y}}{{/with}}"
    code = (
        "import sys\n"
        "from airflow_provider_huggingface.prompts.renderer import render_prompt\n"
        f"print(render_prompt({template!r}, {{'xs': [1, 0, 2], 'x': {{'y': 'v'}}}}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pybars', 'pymeta')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["12 v", "[]"]  # after any line Airflow logs at import
