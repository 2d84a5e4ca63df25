"""Data is never code: prompts that arrive at run time reach the model as they are.

Every chat task below gets text holding ``{{ds}}``, ``{{params.secret_note}}`` and
``{{ .Values.image }}`` (the last is no valid template at all) from an upstream task, a mapped
argument, the run's conf or a param; none of it may be rendered. Each task's text starts with its
own tag so that the test can tell the requests apart.
"""

from __future__ import annotations

from airflow.sdk import DAG, task, task_group

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

DATA = ("date {{ds}}", "secret {{params.secret_note}}", "chart {{ .Values.image }}")


@task
def texts(tag: str) -> list[str]:
    return [f"{tag}: {text}" for text in DATA]


with DAG(
    dag_id="hf_data_not_code",
    schedule=None,
    params={"secret_note": "the vault code is 1234", "note": "param {{ds}} {{params.secret_note}}"},
):
    # .expand(user_prompt=...) over an upstream task's list
    HuggingFaceChatOperator.partial(task_id="expand_user", hf_conn_id="hf_fake").expand(
        user_prompt=texts.override(task_id="user_texts")("expand_user")
    )
    # .expand(system_prompt=...): the partial user prompt is the DAG file's, a template
    HuggingFaceChatOperator.partial(
        task_id="expand_system", hf_conn_id="hf_fake", user_prompt="expand_system: run {{dag_id}}"
    ).expand(system_prompt=texts.override(task_id="system_texts")("expand_system"))

    @task
    def kwargs_list() -> list[dict]:
        return [{"user_prompt": f"expand_kwargs: {text}", "system_prompt": f"sys {text}"} for text in DATA]

    HuggingFaceChatOperator.partial(task_id="expand_kwargs", hf_conn_id="hf_fake").expand_kwargs(
        kwargs_list()
    )

    # An upstream task's output given directly as the prompt
    @task
    def one_text() -> str:
        return "xcom_arg: " + " ".join(DATA)

    HuggingFaceChatOperator(task_id="xcom_arg", hf_conn_id="hf_fake", user_prompt=one_text())

    # Values inserted by a template (an XCom, conf, a param) are data too
    @task
    def upstream() -> dict:
        return {"text": " ".join(DATA)}

    HuggingFaceChatOperator(
        task_id="inserted",
        hf_conn_id="hf_fake",
        user_prompt="inserted: {{upstream.text}} | conf {{conf.text}} | {{params.note}}",
    ).set_upstream(upstream())

    # The batch operator's inputs
    HuggingFaceBatchChatOperator(
        task_id="batch",
        hf_conn_id="hf_fake",
        inputs=texts.override(task_id="batch_texts")("batch"),
        user_prompt="{{item}}",
        system_prompt="batch system {{item}}",
    )

    # The decorator's returned prompt, over mapped arguments
    @task.huggingface_chat(hf_conn_id="hf_fake")
    def decorated(text: str) -> str:
        return text

    decorated.expand(text=texts.override(task_id="decorated_texts")("decorated"))

    # An argument of a mapped task group given as the prompt
    @task_group
    def per_text(text: str):
        HuggingFaceChatOperator(task_id="group_arg", hf_conn_id="hf_fake", user_prompt=text)

    per_text.expand(text=texts.override(task_id="group_texts")("group_arg"))

    # The other side of the rule: a list written out in the DAG file is text of the DAG file.
    HuggingFaceChatOperator.partial(task_id="expand_literal", hf_conn_id="hf_fake").expand(
        user_prompt=["expand_literal: run of {{dag_id}}"]
    )
