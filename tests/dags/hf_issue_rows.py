"""The block rows of issue 9's table in one prompt, over an upstream task's XCom, as a DAG author writes
it: sent from the worker and deferred. The system prompt of each task is its own id, so that the test can
tell the requests apart.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

VALUES = {
    "xs": [1, 2],
    "lst": ["a", "b", "c"],
    "items": [{"name": "a"}, {"name": "b"}],
    "none": [],
    "no": False,
    "y": True,
    "m": {"a": "A", "b": "B"},
    "k": "b",
    "key with space": "spaced",
}
# Standalone block lines, else if, ~ whitespace control, lookup, block parameters, sections, an inverted
# section and a string literal path: the values are task ``v``'s XCom.
TEMPLATE = """Items:
{{#each v.xs}}
- {{this}}
{{/each}}
{{#if v.no}}
X
{{else if v.y}}
Y
{{else}}
Z
{{/if}}
W:
{{#each v.lst~}}
  - {{this}}
{{~/each}}
 {{lookup v.m v.k}} {{#each v.lst as |x i|}}{{i}}:{{x}} {{/each}}
{{#v.items}}[{{name}}]{{/v.items}}{{^v.none}}none{{/v.none}} {{#with v}}{{"key with space"}}{{/with}}"""

with DAG(dag_id="hf_issue_rows", schedule=None):

    @task
    def v() -> dict:
        return VALUES

    values = v()
    for task_id, deferrable in (("worker", False), ("deferred", True)):
        values >> HuggingFaceChatOperator(
            task_id=task_id,
            hf_conn_id="hf_fake",
            system_prompt=task_id,
            user_prompt=TEMPLATE,
            deferrable=deferrable,
        )
