"""LineageFacts, dataset naming, the prompt hash and the mixin's OperatorLineage, without a task run."""

from __future__ import annotations

import copy
import re
import threading
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_huggingface.observability.lineage import (
    FACET_NAME,
    FACET_SCHEMA_URL,
    LineageFacts,
    file_dataset_name,
    hash_templates,
    model_dataset_name,
    operator_lineage,
)
from airflow_provider_huggingface.observability.mixin import OpenLineageMixin

TOKEN = "hf_canarytokenforlineageunit1"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/data/in.jsonl", ("file", "/data/in.jsonl")),
        (Path("/data/in.csv"), ("file", "/data/in.csv")),
        ("file:///data/in.jsonl", ("file", "/data/in.jsonl")),
        ("file://nas1/data/in.jsonl", ("file://nas1", "/data/in.jsonl")),
        ("s3://bucket/runs/in.jsonl", ("s3://bucket", "runs/in.jsonl")),
        ("s3://aws_default@bucket/runs/", ("s3://bucket", "runs/")),
        ("s3://bucket", ("s3://bucket", "/")),
        ("gcs://bucket/key.jsonl", ("gs://bucket", "key.jsonl")),
        ("gs://bucket/key.jsonl", ("gs://bucket", "key.jsonl")),
        ("abfs://container/dir/x.csv", ("abfs://container", "dir/x.csv")),
        (ObjectStoragePath("s3://aws_default@bucket/runs/in.jsonl"), ("s3://bucket", "runs/in.jsonl")),
        (ObjectStoragePath("file:///data/out/"), ("file", "/data/out")),
    ],
)
def test_file_dataset_names_follow_the_openlineage_naming_spec(location, expected) -> None:
    assert file_dataset_name(location) == expected


def test_a_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert file_dataset_name("rows.jsonl") == ("file", str(tmp_path / "rows.jsonl"))


def test_something_else_is_not_a_file() -> None:
    with pytest.raises(ValueError, match="is not a file location"):
        file_dataset_name(42)


@pytest.mark.parametrize(
    ("model", "endpoint", "expected"),
    [
        ("Qwen/Qwen2.5-72B-Instruct", None, ("hf://models", "Qwen/Qwen2.5-72B-Instruct")),
        ("Qwen/Qwen2.5-72B-Instruct:together", None, ("hf://models", "Qwen/Qwen2.5-72B-Instruct")),
        ("gpt2", None, ("hf://models", "gpt2")),
        (
            "tgi",
            "https://xyz.endpoints.huggingface.cloud",
            ("https://xyz.endpoints.huggingface.cloud", "tgi"),
        ),
        (None, f"http://u:{TOKEN}@127.0.0.1:8080/v1", ("http://127.0.0.1:8080", "/")),
        ("org/m", "127.0.0.1:8080", ("https://127.0.0.1:8080", "org/m")),
        (
            "http://127.0.0.1:8080/v1/chat/completions",
            None,
            ("http://127.0.0.1:8080", "/v1/chat/completions"),
        ),
    ],
)
def test_model_dataset_names(model, endpoint, expected) -> None:
    assert model_dataset_name(model, endpoint=endpoint) == expected


def test_a_model_dataset_needs_a_model_or_an_endpoint() -> None:
    with pytest.raises(ValueError, match="needs a model id or an endpoint"):
        model_dataset_name(None)


def test_hash_templates_is_stable_and_follows_every_edit() -> None:
    base = {"system_prompt": "Be terse.", "user_prompt": "Summarize {{fetch.text}}"}
    version = hash_templates(base)
    assert re.fullmatch("[0-9a-f]{16}", version)
    assert hash_templates(dict(reversed(base.items()))) == version
    assert hash_templates({**base, "messages": None}) == version
    assert hash_templates({**base, "user_prompt": "Summarize {{fetch.text}} "}) != version
    assert hash_templates({**base, "system_prompt": None}) != version
    messages = [{"role": "user", "content": "Hi {{x}}"}]
    assert hash_templates({"messages": messages}) != hash_templates(
        {"messages": [{**messages[0], "role": "system"}]}
    )
    # The documented form (SHA-256 of compact, key-sorted JSON; here `printf '{"user_prompt":"Hello"}' |
    # sha256sum`): a change to it would change every prompt version users chart.
    assert hash_templates({"user_prompt": "Hello"}) == "79e07e4dc95a6192"


def test_set_prompts_keeps_text_only_when_asked() -> None:
    facts = LineageFacts()
    facts.set_prompts({"user_prompt": "Hello", "system_prompt": None})
    assert (facts.prompt_version, facts.prompt_templates) == (hash_templates({"user_prompt": "Hello"}), None)
    facts.set_prompts({"user_prompt": "Hello", "system_prompt": None}, include_text=True)
    assert facts.prompt_templates == {"user_prompt": "Hello"}


def test_record_call_counts_from_many_threads() -> None:
    facts = LineageFacts(model_requested="a/requested")

    def work(n: int) -> None:
        for i in range(500):
            facts.record_call(model=f"a/m{i % 2}", provider="together", input_tokens=2, output_tokens=n)
        facts.record_call(failed=True)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (facts.calls, facts.failed_calls) == (4000, 8)
    assert (facts.input_tokens, facts.output_tokens) == (8000, 500 * sum(range(8)))
    assert sorted(facts.models_used) == ["a/m0", "a/m1"]
    assert facts.providers_used == ["together"]


def test_facts_survive_the_copies_airflow_makes_of_operators() -> None:
    facts = LineageFacts(inputs=["/a"])
    facts.record_call(model="a/b", input_tokens=1)
    assert copy.deepcopy(facts) == facts


def test_usage_missing_from_a_reply_counts_the_call_only() -> None:
    facts = LineageFacts()
    facts.record_call(model="a/b")
    assert (facts.calls, facts.input_tokens, facts.output_tokens) == (1, 0, 0)


def test_facet_fields_never_carry_the_endpoint_credentials() -> None:
    facts = LineageFacts(endpoint=f"https://user:{TOKEN}@xyz.endpoints.huggingface.cloud/v1?key={TOKEN}")
    fields = facts.facet_fields()
    assert fields["endpointHost"] == "xyz.endpoints.huggingface.cloud"
    assert TOKEN not in repr(fields)
    assert TOKEN not in repr(operator_lineage(facts))


def test_model_datasets_are_those_that_answered_else_the_one_asked_for() -> None:
    facts = LineageFacts(model_requested="a/asked")
    assert facts.model_datasets() == [("hf://models", "a/asked")]
    for model in ("a/fallback", "a/second", "a/fallback"):
        facts.record_call(model=model)
    assert facts.model_datasets() == [("hf://models", "a/fallback"), ("hf://models", "a/second")]
    assert LineageFacts().model_datasets() == []


def test_operator_lineage_has_files_models_and_the_run_facet() -> None:
    facts = LineageFacts(
        operation="embeddings",
        model_requested="BAAI/bge-small-en-v1.5",
        inputs=["/data/docs.jsonl"],
        outputs=[ObjectStoragePath("s3://conn@bucket/vectors/")],
    )
    facts.record_call(model="BAAI/bge-small-en-v1.5", input_tokens=10)
    lineage = operator_lineage(facts)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("file", "/data/docs.jsonl"),
        ("hf://models", "BAAI/bge-small-en-v1.5"),
    ]
    assert lineage.inputs[1].facets["datasetType"].datasetType == "MODEL"
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://bucket", "vectors")]
    facet = lineage.run_facets[FACET_NAME]
    assert facet._schemaURL == FACET_SCHEMA_URL
    assert (facet.operation, facet.calls, facet.inputTokens) == ("embeddings", 1, 10)


class _Probe(OpenLineageMixin):
    """The mixin on a plain class: the methods need nothing of BaseOperator."""


def test_mixin_reports_what_execute_recorded() -> None:
    probe = _Probe()
    start = probe.get_openlineage_facets_on_start()
    assert start.run_facets[FACET_NAME].calls == 0
    assert probe.lineage_facts is probe.lineage_facts
    probe.lineage_facts.model_requested = "a/b"
    probe.lineage_facts.record_call(model="a/c", output_tokens=4)
    complete = probe.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in complete.inputs] == [("hf://models", "a/c")]
    assert complete.run_facets[FACET_NAME].outputTokens == 4
    probe.lineage_facts.record_call(failed=True)
    assert probe.get_openlineage_facets_on_failure(None).run_facets[FACET_NAME].failedCalls == 1
