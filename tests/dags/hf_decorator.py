"""``@task.huggingface_chat``: prompts built in Python from upstream XComs, mapping, bad returns."""

from __future__ import annotations

from airflow.sdk import DAG, ObjectStoragePath, task

with DAG(dag_id="hf_decorator", schedule=None, params={"model": "owner/decorated"}):

    @task
    def fetch() -> dict:
        # Handlebars-looking data, and a stray "}}" the template parser would refuse in a template.
        return {"city": "Paris", "note": "keep {{braces}} and }} as they are"}

    @task.huggingface_chat(
        hf_conn_id="hf_fake",
        model="{{ params.model }}",
        system_prompt="You guide visitors of {{fetch.city}} for {{dag_id}}.",
        max_tokens=40,
        temperature=0.5,
    )
    def describe(place: dict, ds=None) -> str:
        return f"Describe {place['city']} on {ds}. Note: {place['note']}"

    @task.huggingface_chat(hf_conn_id="hf_fake")
    def ask(topic: str) -> str:
        return f"One fact about {topic}."

    @task
    def collect(replies) -> list[str]:
        return [reply["text"] for reply in replies]

    @task.huggingface_chat(hf_conn_id="hf_fake", multiple_outputs=True)
    def split(place: dict) -> str:
        return f"Name one street of {place['city']}."

    @task
    def echo(text: str) -> str:
        return f"got: {text}"

    place = fetch()
    describe(place)
    collect(ask.expand(topic=["rivers", "mountains", "deserts"]))
    echo(split(place)["text"])


with DAG(dag_id="hf_decorator_bad_return", schedule=None):

    @task.huggingface_chat(hf_conn_id="hf_fake")
    def number() -> str:
        return 42  # type: ignore[return-value]

    @task.huggingface_chat(hf_conn_id="hf_fake")
    def blank() -> str:
        return "  \n"

    number()
    blank()


with DAG(dag_id="hf_decorator_deferred", schedule=None):

    @task
    def topic() -> str:
        return "tides {{not a tag}}"

    @task.huggingface_chat(hf_conn_id="hf_fake", deferrable=True, system_prompt="Task {{task_id}}.")
    def deferred(subject: str) -> str:
        return f"Explain {subject}."

    deferred(topic())


with DAG(dag_id="hf_decorator_images", schedule=None):

    @task
    def photo(dag_run=None) -> ObjectStoragePath:
        return ObjectStoragePath(f"file://{dag_run.conf['jpeg']}")

    @task.huggingface_chat(
        hf_conn_id="hf_fake",
        # A link, a Jinja-rendered path and an upstream task's ObjectStoragePath, as on the operator.
        images=["https://example.org/cat.png", "{{ dag_run.conf['png'] }}", photo()],
        messages=[
            {"role": "user", "content": "What is in this picture?"},
            {"role": "assistant", "content": "A dog."},
        ],
    )
    def look(subject: str) -> str:
        return f"And in these, of {subject}? Keep {{{{braces}}}}."

    @task.huggingface_chat(hf_conn_id="hf_fake", images="{{ dag_run.conf['png'] }}", deferrable=True)
    def deferred_look() -> str:
        return "Describe it."

    look("pets")
    deferred_look()
