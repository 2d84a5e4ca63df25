"""Every way a task carries the token, in one DAG, for the token secrecy test (tests/test_token_secrecy.py).

The chat operator (in the worker, streamed, deferred, structured, with fallback models, mapped), the
batch operator (its replies to a file), the embedding operator (its vectors to a file), the branch
operator and the decorator, on an endpoint connection
(``hf_secrecy``) and on the router (``hf_secrecy_router``). The test makes the fake answer every call to
a ``secrecy/...`` model with an error that echoes the token back, as a careless server or proxy could:
those tasks fail, but for ``fallback``, whose next model answers. Airflow retries each task once, at once.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.batch import HuggingFaceBatchChatOperator
from airflow_provider_huggingface.operators.branch import HuggingFaceBranchOperator
from airflow_provider_huggingface.operators.embedding import HuggingFaceEmbeddingOperator
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

ENDPOINT, ROUTER, SLOW = "hf_secrecy", "hf_secrecy_router", "hf_secrecy_slow"

with DAG(dag_id="hf_secrecy", schedule=None, default_args={"retries": 1, "retry_delay": timedelta(0)}):

    @task
    def fetch() -> dict:
        return {"data": "a short text"}

    fetched = fetch()

    def chat(task_id: str, **kwargs) -> None:
        kwargs.setdefault("hf_conn_id", ENDPOINT)
        kwargs.setdefault("user_prompt", "Summarize: {{fetch.data}}")
        fetched >> HuggingFaceChatOperator(task_id=task_id, max_tokens=20, **kwargs)

    chat("ask", system_prompt="Answer in one line.")
    chat("stream", stream=True)
    chat("deferred", deferrable=True)
    chat("structured", response_format={"type": "json_object"})
    chat("fallback", model="secrecy/gone", fallback_models=["secrecy/up"])
    chat("refused", model="secrecy/refused")
    chat("forbidden", model="secrecy/forbidden")
    chat("broken", model="secrecy/broken")
    chat("hanging", model="secrecy/hanging", hf_conn_id=SLOW)
    chat("deferred_refused", model="secrecy/refused", deferrable=True)
    chat("bad_connection", hf_conn_id="hf_secrecy_bad")
    chat("router", hf_conn_id=ROUTER)  # the default model, checked on the Hub first
    chat("router_deferred", hf_conn_id=ROUTER, deferrable=True)
    chat("router_refused", hf_conn_id=ROUTER, model="secrecy/refused")
    chat("router_gated", hf_conn_id=ROUTER, model="meta-llama/Llama-3.1-8B-Instruct")

    HuggingFaceChatOperator.partial(task_id="mapped", hf_conn_id=ENDPOINT).expand(user_prompt=["a", "b"])

    for task_id, conn_id, model in (
        ("batch", ENDPOINT, None),
        ("batch_router", ROUTER, None),
        ("batch_refused", ENDPOINT, "secrecy/refused"),
    ):
        fetched >> HuggingFaceBatchChatOperator(
            task_id=task_id,
            hf_conn_id=conn_id,
            model=model,
            inputs=[{"q": "Nile"}, {"q": "Volga"}, {"q": "Danube"}],
            user_prompt="{{item.q}}: {{fetch.data}}",
            output_path="{{ dag_run.conf['out'] }}/" + task_id,
        )

    for task_id, conn_id, model in (
        ("embed", ENDPOINT, None),
        ("embed_router", ROUTER, None),
        ("embed_refused", ENDPOINT, "secrecy/refused"),
    ):
        fetched >> HuggingFaceEmbeddingOperator(
            task_id=task_id,
            hf_conn_id=conn_id,
            model=model,
            inputs=[{"id": "n", "q": "Nile"}, {"id": "v", "q": "Volga"}],
            text_template="{{item.q}}: {{fetch.data}}",
            output_path="{{ dag_run.conf['out'] }}/" + task_id,
        )

    route = HuggingFaceBranchOperator(task_id="route", hf_conn_id=ENDPOINT, user_prompt="Which way?")
    route >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]

    @task.huggingface_chat(hf_conn_id=ENDPOINT)
    def decorated(fetched: dict) -> str:
        return f"Summarize: {fetched['data']}"

    decorated(fetched)
