"""The rendering rows of issue 9's table as chat tasks: each prompt as a DAG author writes it.

``ROWS`` maps each task id to its template and what Handlebars 4 makes of it (the value of task
``v`` in scope); the system prompt of each task is its own id, so that the test can tell the requests apart.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

VALUES = {
    "xs": [1, 2],
    "x": True,
    "data": ["a", "b"],
    "lst": ["a", "b", "c"],
    "items": [{"name": "a"}, {"name": "b"}],
    "none": [],
    "no": False,
    "y": True,
    "m": {"a": "A", "b": "B"},
    "k": "b",
    "n": 0,
    "key with space": "spaced",
}
ROWS = {
    "each_lines": ("Items:\n{{#each v.xs}}\n- {{this}}\n{{/each}}", "Items:\n- 1\n- 2\n"),
    "if_else_lines": ("{{#if v.x}}\nA\n{{else}}\nB\n{{/if}}\n", "A\n"),
    "literal_true": ("{{#each v.data}}\n{{#if true}}\n{{.}}\n{{/if}}\n{{/each}}\nOK.", "a\nb\nOK."),
    "tilde": ("W:\n{{#each v.lst~}}\n  - {{this}}\n{{~/each}}\nEND", "W:\n- a- b- cEND"),
    "section": ("{{#v.items}}[{{name}}]{{/v.items}}", "[a][b]"),
    "inverted": ("{{#v.none}}x{{/v.none}}{{^v.none}}none{{/v.none}}", "none"),
    "else_if": ("{{#if v.no}}X{{else if v.y}}Y{{else}}Z{{/if}}", "Y"),
    "lookup": ("{{lookup v.m v.k}}", "B"),
    "block_params": ("{{#each v.lst as |x i|}}{{i}}:{{x}} {{/each}}", "0:a 1:b 2:c "),
    "include_zero": ("{{#if v.n includeZero=true}}zero counts{{else}}no{{/if}}", "zero counts"),
    "string_literal_path": ('{{#with v}}{{"key with space"}}{{/with}}', "spaced"),
}

with DAG(dag_id="hf_issue_rows", schedule=None):

    @task
    def v() -> dict:
        return VALUES

    values = v()
    for task_id, (template, _) in ROWS.items():
        values >> HuggingFaceChatOperator(
            task_id=task_id, hf_conn_id="hf_fake", system_prompt=task_id, user_prompt=template
        )
