"""Prompt templates: both renderers, strictness, error messages, caching and threads. Parser
faults are in test_parser.py."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from airflow_provider_huggingface.exceptions import PromptTemplateError
from airflow_provider_huggingface.prompts import parser as template_syntax
from airflow_provider_huggingface.prompts import renderer as templating
from airflow_provider_huggingface.prompts.renderer import LazyScope, referenced_roots, render_prompt
from tests.prompts.rendering import SCOPE, fails, render

ROOT = Path(__file__).resolve().parents[2]


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
        ("{{#if zero}}yes{{else}}no{{/if}}", "no"),
        ("{{#if fetch.empty}}yes{{^}}no{{/if}}", "no"),
        ("{{#unless fetch.ok}}down{{else}}up{{/unless}}", "up"),  # pybars itself drops this else
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
        # with: the item becomes this; ../ reaches the outside (pybars' own #with breaks ../)
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
        ("List:\n{{#each fetch.items}}\n- {{name}}\n{{/each}}\nDone", "List:\n- one\n- two\nDone"),
        ("  {{#if fetch.ok}}\n  yes\n  {{else}}\n  no\n  {{/if}}\nafter", "  yes\nafter"),
        # a tag-looking piece of escaped text next to blocks
        ("{\\{{x}} {{#if fetch.ok}}y{{/if}}", "{{{x}} y"),
    ],
)
def test_renders_blocks(template: str, expected: str) -> None:
    assert render(template) == expected


SIMPLE_TEMPLATES = [
    "Summarize this text: {{httpRequest.data}}",
    "Translate: {{previousNode.content}}\n\nInto {{ params.lang }}.",
    "{{markup}} {{{markup}}} {{&markup}}",
    "{{fetch.items.1.name}} {{fetch.items.length}} {{group.task.text}}",
    "{{fetch.tags}} {{fetch.items}} {{json fetch}} {{json nothing}}",
    "[{{nothing}}] {{fetch.ok}} {{no}} {{zero}} {{pi}} {{raw}} {{when}}",
    "{{curly}}",
    "{{this}}",
    "{{@root.params}}",
    '\\{{ds}} \\\\{{ds}} { not a tag } {"a": {"b": {{zero}}}}',
    "  indented {{ds}}\n\n\ttabbed {{ds}}\r\nend",
]


@pytest.mark.parametrize("template", SIMPLE_TEMPLATES)
def test_fast_path_and_pybars_agree(template: str) -> None:
    parsed = template_syntax.parse(template)
    assert parsed.simple, "this template should take the fast path"
    fast = templating._render_simple(parsed.program, SCOPE)
    assert fast == templating._render_blocks(template, parsed.program, SCOPE)
    assert fast == render(template)


def test_fast_path_and_pybars_agree_on_random_templates() -> None:
    """Seeded: text full of the characters either grammar treats specially, between value tags."""
    pieces = [
        "{{fetch.tags}}", "{{ nothing }}", "{{{fetch.items}}}", "{{json summarize}}", "{{&curly}}",
        "{{markup}}", "\\{{ds}}", "\\\\{{ds}}", "{", "}", " ", "\n", "\r\n", "\r", "\t", "~", "\\",
        "#", "!", "^", "/", "else", "text",
    ]  # fmt: skip
    rng = random.Random(20241125)
    compared = 0
    while compared < 300:
        template = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        try:
            parsed = template_syntax.parse(template)
        except template_syntax.TemplateProblem:
            continue  # e.g. an unbalanced }}: both paths refuse it alike
        fast = templating._render_simple(parsed.program, SCOPE)
        assert fast == templating._render_blocks(template, parsed.program, SCOPE), repr(template)
        compared += 1


@pytest.mark.parametrize(
    "template",
    [
        "{{#if flag}}yes{{else}}no{{/if}} / {{#if off}}yes{{else}}no{{/if}}",
        "Items:\n{{#each items}}\n- {{name}} ({{@index}})\n{{/each}}\nDone",
        "{{#each table}}{{@key}}={{this}} {{/each}}",
        "  {{#if flag}}\n  inside\n  {{/if}}\nafter\n",
        "{{! note }}\nA\n{{!-- long --}}\nB {{word}}",
        "a {{~#if flag~}} b {{~/if~}} c {{~word}}",
        "{{#with obj}}{{word}} {{num}}{{/with}}",
        "{{#each items}}{{#if @first}}first {{/if}}{{name}}{{#unless @last}}, {{/unless}}{{/each}}",
    ],
)
def test_agrees_with_pybars_where_pybars_is_right(template: str) -> None:
    """Our helpers replace pybars' lookups; its structure, scopes and whitespace rules stay."""
    import pybars

    scope = {
        "flag": True,
        "off": False,
        "word": "plain",
        "items": [{"name": "x"}, {"name": "y"}],
        "table": {"a": 1, "b": 2},
        "obj": {"word": "w", "num": 7},
    }
    assert render(template, scope) == pybars.Compiler().compile(template)(scope)


# ---------------------------------------------------------------------------------------------
# Strictness: a value that resolves to nothing fails, naming the field, the path and the fix


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


def test_non_string_template() -> None:
    with pytest.raises(PromptTemplateError, match="user_prompt: expected a template string, got int"):
        render_prompt(5, {})  # type: ignore[arg-type]


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


def test_referenced_roots_reports_malformed_templates_with_the_field() -> None:
    with pytest.raises(PromptTemplateError, match=r"^system_prompt: line 1, column 1: .*never closed"):
        referenced_roots("{{#if a}}", field="system_prompt")


# ---------------------------------------------------------------------------------------------
# Scope: referenced roots and lazy loading


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


def test_lazy_scope_loads_only_what_the_template_touches() -> None:
    calls: list[str] = []

    def loader(name: str, value: object):
        return lambda: calls.append(name) or value

    scope = LazyScope(
        {"ds": "2024-05-06"},
        {"summarize": loader("summarize", {"text": "hi"}), "fetch": loader("fetch", {"items": [1]})},
    )
    assert render("{{summarize.text}} {{summarize.text}} {{ds}}", scope) == "hi hi 2024-05-06"
    assert render("{{#if summarize}}{{summarize.text}}{{/if}}", scope) == "hi"
    assert calls == ["summarize"]  # once, and fetch never
    message = fails("{{nope}}", scope)
    assert "Names in scope: ds, summarize, fetch." in message
    assert calls == ["summarize"]  # listing names loads nothing
    assert list(scope) == ["ds", "summarize", "fetch"]
    assert len(scope) == 3


def test_lazy_scope_as_a_whole() -> None:
    scope = LazyScope({"a": 1}, {"b": lambda: [2]})
    assert render("{{this}}", scope) == '{"a": 1, "b": [2]}'
    assert render("{{#each this}}{{@key}}={{this}};{{/each}}", scope) == "a=1;b=[2];"
    assert "nope" not in scope
    with pytest.raises(KeyError):
        scope["nope"]


def test_loader_errors_propagate() -> None:
    def broken() -> None:
        raise RuntimeError("xcom backend down")

    with pytest.raises(RuntimeError, match="xcom backend down"):
        render("{{a}}", LazyScope(loaders={"a": broken}))


# ---------------------------------------------------------------------------------------------
# Speed: no pybars on the fast path, compiled templates cached, compiling thread-safe


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def test_fast_path_never_imports_pybars() -> None:
    result = _python(
        "import sys; from airflow_provider_huggingface.prompts.renderer import render_prompt; "
        "assert 'pybars' not in sys.modules, 'imported at module top'; "
        "assert render_prompt('Hi {{a.b}} {{{a}}} {{json a}}', {'a': {'b': 1}}) == "
        '\'Hi 1 {"b": 1} {\\n  "b": 1\\n}\'; '
        "assert 'pybars' not in sys.modules, 'imported by the fast path'"
    )
    assert result.returncode == 0, result.stderr


def test_compiled_templates_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    import pybars

    calls: list[str] = []
    original = pybars.Compiler.compile

    def counting(self, source, path=None):
        calls.append(source)
        return original(self, source, path)

    monkeypatch.setattr(pybars.Compiler, "compile", counting)
    template = "{{#if fetch.ok}}cached {{ds}}{{/if}} test_compiled_templates_are_cached"
    assert render(template) == "cached 2024-05-06 test_compiled_templates_are_cached"
    assert render(template) == "cached 2024-05-06 test_compiled_templates_are_cached"
    assert render(template, {"fetch": {"ok": False}}) == " test_compiled_templates_are_cached"
    assert len(calls) == 1


def test_compiling_leaves_no_modules_behind() -> None:
    def template_modules() -> int:
        return sum(name.startswith("pybars._templates.") for name in sys.modules)

    render("{{#if fetch.ok}}x{{/if}} warm-up")  # pybars' own package is imported once
    before = template_modules()
    for n in range(5):
        render(f"{{{{#if fetch.ok}}}}{n}{{{{/if}}}} test_compiling_leaves_no_modules_behind")
    assert template_modules() == before


def test_compile_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "_compiled", {})
    monkeypatch.setattr(templating, "CACHE_SIZE", 3)
    for n in range(5):
        assert render(f"{{{{#if fetch.ok}}}}{n}{{{{/if}}}}") == str(n)
    assert list(templating._compiled) == [f"{{{{#if fetch.ok}}}}{n}{{{{/if}}}}" for n in (2, 3, 4)]


def test_many_threads_compile_and_render_at_once() -> None:
    threads = 8
    token = f"threads-{id(object())}"  # templates no earlier test has compiled
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
