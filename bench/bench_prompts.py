"""Prompt rendering speed: a 2 kB template with 20 paths and an ``#each`` over 50 items.

Goal: median per render, warm (template parsed and cached), under 0.5 ms. Also shown: the
first render in a fresh process (parse and render, the renderer's modules already imported),
and a value-only template of the same size.

Measured side by side on a shared 2-core machine under load (three runs each, interleaved):
with blocks rendered by pybars3 (a skeleton of helper calls) warm 0.48-0.52 ms and a first render
of 1.9-2.1 s (importing pybars3 and compiling the template); with the walk of our own tree warm
0.37-0.42 ms and a first render of 1.5-6 ms; the value-only template 0.09 and 0.08 ms.

Run: python bench/bench_prompts.py
"""

from __future__ import annotations

import subprocess
import sys

from _common import ROOT, median_ms, report, timed

RENDERS = 2000
ITEMS = 50
PATHS = 20


def scope() -> dict[str, object]:
    return {
        "fetch": {"title": "Quarterly report", "data": {f"field{i}": f"value {i}" for i in range(PATHS)}},
        "items": [{"name": f"item {i}", "score": i * 1.5, "tags": ["a", "b"]} for i in range(ITEMS)],
        "params": {"tone": "neutral", "language": "English"},
    }


def template(*, blocks: bool = True) -> str:
    head = "You are a careful analyst. Answer in {{params.language}} with a {{params.tone}} tone.\n"
    fields = "".join(
        f"Field {i} of {{{{fetch.title}}}} is {{{{fetch.data.field{i}}}}}; keep it in mind.\n"
        for i in range(PATHS - 2)
    )
    each = (
        "Items:\n{{#each items}}\n- {{@index}}. {{name}} scored {{score}} ({{tags}})\n{{/each}}\n"
        if blocks
        else "Items: {{items}}\n"
    )
    text = head + fields + each
    padding = "Be brief and exact; cite the field numbers you use. " * 30
    return text + padding[: max(0, 2048 - len(text))]


def warm(*, blocks: bool) -> float:
    from airflow_provider_huggingface.prompts.renderer import render_prompt

    source, values = template(blocks=blocks), scope()
    render_prompt(source, values)
    return median_ms(timed(lambda: render_prompt(source, values), RENDERS))


def first_render_ms() -> float:
    code = (
        "import sys, time\nsys.path.insert(0, 'bench')\nimport bench_prompts as b\n"
        "from airflow_provider_huggingface.prompts.renderer import render_prompt\n"
        "s, v = b.template(), b.scope()\n"
        "t = time.perf_counter(); render_prompt(s, v); print(time.perf_counter() - t)\n"
    )
    command = [sys.executable, "-c", code]
    runs = [subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True) for _ in range(5)]
    samples = [float(run.stdout) for run in runs]
    return sorted(samples)[2] * 1000


def main() -> None:
    from airflow_provider_huggingface.prompts.renderer import render_prompt

    source = template()
    output = render_prompt(source, scope())
    assert output.count("\n- ") == ITEMS, "the #each must give one line per item"
    block_ms = warm(blocks=True)
    report(
        f"render_prompt: {len(source)} chars, {PATHS} paths, #each over {ITEMS} items",
        [
            (f"warm, median of {RENDERS} (goal < 0.5 ms)", f"{block_ms:.3f} ms"),
            (
                "first render in a fresh process (parse + render), median of 5",
                f"{first_render_ms():.1f} ms",
            ),
            (f"value-only template, same size, warm, median of {RENDERS}", f"{warm(blocks=False):.3f} ms"),
        ],
    )


if __name__ == "__main__":
    main()
