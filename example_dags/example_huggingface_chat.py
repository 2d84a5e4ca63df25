"""The user's own flow: fetch a text, summarize it with the default model, translate the summary.

``{{httpRequest.data}}`` and ``{{summarize.text}}`` are Handlebars paths into the return values
(XComs) of the tasks ``httpRequest`` and ``summarize``. Trigger with ``{"url": "https://..."}``
to summarize a page of your own, and ``{"language": "German"}`` to change the translation.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator

ARTICLE = (
    "Apache Airflow is a platform to programmatically author, schedule and monitor workflows. "
    "Workflows are written as directed acyclic graphs of tasks in Python, so pipelines can be "
    "versioned, tested and reviewed like any other code. The scheduler runs tasks on workers while "
    "following the dependencies between them, and a web interface shows their state, logs and history. "
    "Providers extend Airflow with hooks and operators for outside services."
)

with DAG(
    dag_id="example_huggingface_chat",
    schedule=None,
    catchup=False,
    params={"url": "", "language": "French"},
    tags=["huggingface", "example"],
    doc_md=__doc__,
):

    @task(task_id="httpRequest")
    def http_request(params: dict | None = None) -> dict:
        """Fetch the text to summarize: the page at ``params.url``, or a built-in article."""
        url = (params or {}).get("url")
        if not url:
            # "" rather than None: Airflow 3.0 cannot store a None XCom.
            return {"data": ARTICLE, "url": ""}
        import urllib.request

        with urllib.request.urlopen(url, timeout=30) as response:
            return {"data": response.read(20_000).decode("utf-8", "replace"), "url": url}

    summarize = HuggingFaceChatOperator(
        task_id="summarize",
        user_prompt="Summarize this text in three sentences: {{httpRequest.data}}",
        max_tokens=200,
    )

    translate = HuggingFaceChatOperator(
        task_id="translate",
        system_prompt="You are a professional translator. Answer with the translation only.",
        user_prompt="Translate into {{params.language}}: {{summarize.text}}",
        max_tokens=300,
    )

    http_request() >> summarize >> translate
