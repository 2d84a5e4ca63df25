"""Bad prompts and settings in real DAG runs: one chat task per case, ``params.case`` picks which runs.

tests/test_bad_inputs.py holds what each case must give. One DAG rather than one per case, since every
``dag.test()`` parses the whole DAGs folder again. Tasks are retried at once (``retry_delay`` 0), so a
failure that Airflow would retry shows as a second try instead of a five-minute wait.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

UPSTREAM = {
    "data": "text",
    "items": [{"name": "a"}, {"name": "b"}],
    "blank": "  \n\t ",
    "template_like": "{{params.secret}} {{#each upstream.items}}x{{/each}} {{> partial}} \\{{y}} }}",
}
# Return values that are not plain JSON text, each read by one case only.
PRODUCED = {
    "raw_utf8": "caf\u00e9 \u2713".encode(),
    "raw_invalid": b"ok \xff\xfe\x00 end",
    "replaced": b"ok \xff\xfe\x00 end".decode("utf-8", "replace"),
    "surrogate": b"ok \xff end".decode("utf-8", "surrogateescape"),
}

# case: (the producers of PRODUCED it reads, the operator's arguments)
CASES: dict[str, tuple[list[str], dict]] = {
    "missing_path": ([], {"user_prompt": "Summarize: {{upstream.dta}}"}),
    "unclosed_block": ([], {"user_prompt": "{{#if upstream.data}}never closed"}),
    "unclosed_tag": ([], {"user_prompt": "Summarize: {{upstream.data"}),
    "unknown_helper": ([], {"user_prompt": "{{shout upstream.data}}"}),
    "path_into_string": ([], {"user_prompt": "{{upstream.data.first}}"}),
    "index_past_end": ([], {"user_prompt": "{{upstream.items.5.name}}"}),
    "else_outside_block": ([], {"user_prompt": "a {{else}} b"}),
    "renders_blank": ([], {"user_prompt": "{{upstream.blank}}"}),
    "system_missing_path": ([], {"user_prompt": "Hi", "system_prompt": "{{nobody.text}}"}),
    "jinja_max_tokens": ([], {"user_prompt": "Hi", "max_tokens": "{{ params.max_tokens }}"}),
    "jinja_temperature": ([], {"user_prompt": "Hi", "temperature": "{{ params.temperature }}"}),
    "missing_connection": ([], {"user_prompt": "Hi", "hf_conn_id": "hf_no_such_conn"}),
    "model_not_a_string": ([], {"user_prompt": "Hi", "model": 123}),
    "conn_id_none": ([], {"user_prompt": "Hi", "hf_conn_id": None}),
    "template_like_xcom": ([], {"user_prompt": "Echo: {{upstream.template_like}}"}),
    "bytes_utf8": (["raw_utf8"], {"user_prompt": "Bytes: {{raw_utf8}}"}),
    "bytes_invalid_utf8": (["raw_invalid"], {"user_prompt": "Bytes: {{raw_invalid}}"}),
    "replaced_bytes": (["replaced"], {"user_prompt": "Text: {{replaced}}"}),
    "surrogate_xcom": (["surrogate"], {"user_prompt": "Text: {{surrogate}}"}),
}

with DAG(
    dag_id="hf_bad_inputs",
    schedule=None,
    params={"case": "missing_path", "max_tokens": 5, "temperature": 0.5, "secret": "S"},
    default_args={"retries": 1, "retry_delay": timedelta(0)},
):

    @task.branch
    def pick(params: dict | None = None) -> list[str]:
        readers, _ = CASES[params["case"]]
        return [*readers, params["case"]]

    branch = pick()

    @task
    def upstream() -> dict:
        return UPSTREAM

    # Not behind the branch: the branch would not skip the readers of a producer it follows.
    shared = upstream()
    producers = {}
    for name, value in PRODUCED.items():

        @task(task_id=name)
        def produce(value=value):
            return value

        producers[name] = branch >> produce()
    for case, (readers, arguments) in CASES.items():
        chat = HuggingFaceChatOperator(task_id=case, **{"hf_conn_id": "hf_fake", **arguments})
        [branch, shared] >> chat
        for reader in readers:
            producers[reader] >> chat
