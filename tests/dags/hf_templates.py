"""Prompt templates over real XComs: nested paths, TaskGroups, params, conf, JSON, no escaping."""

from __future__ import annotations

from airflow.sdk import DAG, TaskGroup, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

USER_PROMPT = (
    "data={{httpRequest.data}}\n"
    "deep={{httpRequest.nested.deep.value}}\n"
    "group={{prep.clean.text}}\n"
    "params={{params.lang}} conf={{conf.who}}\n"
    "object={{httpRequest.obj}}\n"
    "each={{#each httpRequest.items}}{{name}}@{{@index}};{{/each}}\n"
    "if={{#if conf.flag}}yes{{else}}no{{/if}} missing-in-if={{#if httpRequest.absent}}x{{else}}none{{/if}}\n"
    "literal={{httpRequest.template_like}}"
)

with DAG(dag_id="hf_templates", schedule=None, params={"lang": "fr", "model": "jinja/model"}):

    @task(task_id="httpRequest")
    def http_request() -> dict:
        return {
            "data": 'Paris & <Lyon> "quoted"',
            "nested": {"deep": {"value": 42}},
            "items": [{"name": "a"}, {"name": "b"}],
            "obj": {"k": "v", "n": [1, 2]},
            "template_like": "{{params.lang}}",
        }

    with TaskGroup("prep"):

        @task
        def clean() -> dict:
            return {"text": "cleaned"}

        cleaned = clean()

    chat = HuggingFaceChatOperator(
        task_id="chat",
        hf_conn_id="hf_fake",
        model="{{ params.model }}",
        system_prompt="Run {{run_id}} of {{dag_id}}, task {{task_id}}.",
        user_prompt=USER_PROMPT,
    )
    follow_up = HuggingFaceChatOperator(
        task_id="follow_up",
        hf_conn_id="hf_fake",
        user_prompt="Translate: {{chat.text}} "
        "(finish {{chat.finish_reason}}, {{chat.usage.total_tokens}} tokens)",
        stream=True,
    )
    [http_request(), cleaned] >> chat >> follow_up
