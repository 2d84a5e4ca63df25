"""Templates with blocks (pybars): the same output as the fast path, no pybars on the fast path,
compiled templates cached, compiling thread-safe."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from airflow_provider_huggingface.prompts import blocks
from airflow_provider_huggingface.prompts import parser as template_syntax
from airflow_provider_huggingface.prompts import renderer as templating
from tests.prompts.rendering import SCOPE, render

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
    assert fast == blocks.render_blocks(template, parsed.program, SCOPE)
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
        assert fast == blocks.render_blocks(template, parsed.program, SCOPE), repr(template)
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


ROOT = Path(__file__).resolve().parents[2]


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
    monkeypatch.setattr(blocks, "_compiled", {})
    monkeypatch.setattr(blocks, "CACHE_SIZE", 3)
    for n in range(5):
        assert render(f"{{{{#if fetch.ok}}}}{n}{{{{/if}}}}") == str(n)
    assert list(blocks._compiled) == [f"{{{{#if fetch.ok}}}}{n}{{{{/if}}}}" for n in (2, 3, 4)]


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
