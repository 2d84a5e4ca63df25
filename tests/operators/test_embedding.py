"""HuggingFaceEmbeddingOperator in real DAG runs (dag.test(), metadata DB, XCom) against the local fake."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from airflow_provider_huggingface.exceptions import ConfigurationError
from airflow_provider_huggingface.operators.embedding import HuggingFaceEmbeddingOperator
from tests.airflow_internals import task_log, without_supervisor_echo
from tests.dags.hf_embedding import TEXTS
from tests.fakes.embeddings import embedding_vector
from tests.fakes.hf_api import Fault

TOKEN = "hf_embeddingtestcanary000001"


@pytest.fixture
def fake_conn(fake_hf, use_connection):
    use_connection("hf_fake", host=fake_hf.url, password=TOKEN, extra={"max_retries": 0})
    return fake_hf


def sent(fake) -> list[list[str]]:
    return [r.body["input"] for r in fake.embedding_requests]


def lines(folder, dag_id: str, run_id: str, task_id: str = "embed") -> list[dict]:
    with (folder / dag_id / run_id / f"{task_id}.jsonl").open(encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def test_vectors_come_back_in_input_order_across_batches(fake_conn, run_dag, capsys):
    # The first requests answer last, so the order the vectors arrive in is not the inputs'.
    fake_conn.embedding_fault_plan = lambda n, body: Fault.delay(0.05 * (3 - n)) if n < 3 else None
    run = run_dag("hf_embed")

    assert run.state == "success", run.states
    result = run.xcom["embed"]
    assert result == {
        "embeddings": [embedding_vector(text) for text in TEXTS],
        "dimensions": 16,
        "model": "fake-model",
        "usage": {"prompt_tokens": 17, "completion_tokens": 0, "total_tokens": 17},  # words
    }
    assert run.xcom["first_vector"] == embedding_vector(TEXTS[0])
    assert sorted(map(tuple, sent(fake_conn))) == sorted([tuple(TEXTS[0:2]), tuple(TEXTS[2:4]), (TEXTS[4],)])
    log = capsys.readouterr().out
    assert "Batch finished: 5/5 done" in log
    assert "Vectors go to XCom only" in log


def test_text_template_over_dicts_writes_each_id_and_never_renders_the_data(fake_conn, run_dag, tmp_path):
    docs = [
        {"id": "a", "title": "Cats", "body": "They sleep."},
        {"id": "b", "title": "Templates", "body": "{{ danger }} and {{item.id}} stay as written"},
        {"title": "No id", "body": "Fine."},
    ]
    run = run_dag("hf_embed_dicts", run_conf={"items": docs, "out": tmp_path.as_uri()})

    assert run.state == "success", run.states
    texts = ["Cats: They sleep.", "Templates: {{ danger }} and {{item.id}} stay as written", "No id: Fine."]
    assert sorted(t for batch in sent(fake_conn) for t in batch) == sorted(texts)
    written = sorted(lines(tmp_path, "hf_embed_dicts", run.run_id), key=lambda line: line["index"])
    assert [(line["index"], line.get("id")) for line in written] == [(0, "a"), (1, "b"), (2, None)]
    assert [line["embedding"] for line in written] == [embedding_vector(text) for text in texts]
    assert run.xcom["embed"] == {
        "path": run.xcom["embed"]["path"],
        "count": 3,
        "dimensions": 16,
        "model": "fake-model",
        "usage": {"prompt_tokens": 15, "completion_tokens": 0, "total_tokens": 15},
    }
    assert run.xcom["embed"]["path"].endswith(f"/hf_embed_dicts/{run.run_id}/embed.jsonl")


def test_a_dict_without_text_template_fails_before_any_request(fake_conn, run_dag, capsys, caplog):
    run = run_dag("hf_embed", run_conf={"items": ["fine", {"body": "no template"}]})
    assert run.states["embed"] == "failed"
    log = task_log(capsys, caplog)
    assert "inputs[1] ({'body': 'no template'}) is a dict, not a string: give text_template" in log
    assert fake_conn.embedding_requests == []


def test_a_jsonl_file_of_inputs_to_a_file_of_vectors(fake_conn, run_dag, tmp_path):
    source = tmp_path / "in.jsonl"
    questions = [f"question number {i}" for i in range(10)]
    source.write_text("".join(json.dumps({"q": q}) + "\n" for q in questions), encoding="utf-8")
    out = tmp_path / "out"
    run = run_dag("hf_embed_file", run_conf={"inputs": source.as_uri(), "out": out.as_uri()})

    assert run.state == "success", run.states
    written = lines(out, "hf_embed_file", run.run_id)
    assert sorted(line["index"] for line in written) == list(range(10))
    assert all(line["embedding"] == embedding_vector(questions[line["index"]]) for line in written)
    assert sorted(len(batch) for batch in sent(fake_conn)) == [1, 3, 3, 3]  # two at once: any order
    assert run.xcom["embed"]["count"] == 10


def test_a_retry_sends_only_the_texts_without_a_vector(fake_conn, run_dag, tmp_path, capsys):
    texts = [f"text {i}" for i in range(9)]
    failed_once = []

    def plan(n, body):  # the third request fails, on the first try only
        if n == 2 and not failed_once:
            failed_once.append(body["input"])
            return Fault.status(500)
        return None

    fake_conn.embedding_fault_plan = plan
    run = run_dag("hf_embed_durable", run_conf={"items": texts, "out": tmp_path.as_uri()})

    assert run.state == "success", run.states
    # Try 1: texts 0-3 embedded, 4-5 fail, the task stops (6-8 not sent). Try 2: 4-8 alone.
    assert failed_once == [texts[4:6]]
    assert sent(fake_conn) == [texts[0:2], texts[2:4], texts[4:6], texts[4:6], texts[6:8], texts[8:]]
    written = lines(tmp_path, "hf_embed_durable", run.run_id)
    assert Counter(line["index"] for line in written) == Counter(range(9))  # each index once
    assert all(line["embedding"] == embedding_vector(texts[line["index"]]) for line in written)
    assert run.xcom["embed"]["count"] == 9
    log = capsys.readouterr().out
    assert "The batch failed: 2 failed, 3 not sent, 4 answered of 9 items." in log
    assert "Texts 4 to 5 failed: ServiceUnavailableError" in log
    assert "Resuming: 4 of 9 items were answered by an earlier try" in log


def test_a_changed_template_embeds_again_rather_than_reuse(fake_conn, tmp_path):
    from tests.batch.stubs import stub_context

    task = HuggingFaceEmbeddingOperator(
        task_id="embed",
        hf_conn_id="hf_fake",
        inputs=[{"t": "a"}, {"t": "b"}],
        text_template="{{item.t}}",
        output_path=tmp_path.as_uri(),
    )
    task.execute(stub_context())
    task.text_template = "x {{item.t}}"
    assert task.execute(stub_context())["count"] == 2
    assert sent(fake_conn) == [["a", "b"], ["x a", "x b"]]
    assert task.execute(stub_context())["count"] == 2  # unchanged now: all reused, nothing sent
    assert len(fake_conn.embedding_requests) == 2


def test_more_texts_than_the_xcom_holds_are_refused_before_any_request(fake_conn, run_dag, capsys, caplog):
    run = run_dag("hf_embed", run_conf={"items": [f"t{i}" for i in range(1001)]})
    assert run.states["embed"] == "failed"
    assert "More than 1,000 texts to embed without output_path" in task_log(capsys, caplog)
    assert fake_conn.embedding_requests == []


def test_a_bad_token_fails_with_its_fix_after_one_request(fake_conn, run_dag, capsys):
    fake_conn.valid_tokens = {"hf_someoneelsestoken00000000000"}
    run = run_dag("hf_embed", run_conf={"items": [f"t{i}" for i in range(20)]})
    assert run.states["embed"] == "failed"
    log = capsys.readouterr().out
    assert "InvalidTokenError" in log
    assert "Invalid API key: the token is incorrect or expired" in log
    assert len(fake_conn.embedding_requests) <= 4  # the first answer stops the batch; four were in flight


@pytest.mark.parametrize(
    ("switch", "words"),
    [
        ({"embedding_count_offset": 1}, "The server answered 3 vector(s) for 2 text(s)"),
        ({"embedding_ragged": True}, "2 vectors of different lengths (1 of 16 values, 1 of 15 values"),
    ],
)
def test_a_reply_that_is_not_one_vector_per_text_fails_the_task(fake_conn, run_dag, capsys, switch, words):
    for name, value in switch.items():
        setattr(fake_conn, name, value)
    run = run_dag("hf_embed", run_conf={"items": ["a b", "c d"]})
    assert run.states["embed"] == "failed"
    log = capsys.readouterr().out
    assert "MalformedResponseError" in log
    assert words in log


def test_documents_cut_into_chunks_keep_their_offsets(fake_conn, run_dag, tmp_path):
    docs = [
        {"id": "cats.md", "body": "Cats sleep most of the day. They hunt at dusk and dawn. A cat purrs."},
        {"body": "Bread needs flour, water, salt and yeast. Knead the dough, then let it rise."},
    ]
    run = run_dag("hf_embed_chunks", run_conf={"items": docs, "out": tmp_path.as_uri()})

    assert run.state == "success", run.states
    written = sorted(lines(tmp_path, "hf_embed_chunks", run.run_id), key=lambda line: line["index"])
    assert {line["document_id"] for line in written} == {"cats.md", 1}
    assert [line["index"] for line in written] == list(range(len(written)))
    for line in written:
        body = docs[0 if line["document_id"] == "cats.md" else 1]["body"]
        assert body[line["start"] : line["end"]] == line["text"]
        assert line["id"] == f"{line['document_id']}:{line['chunk']}"
        assert line["embedding"] == embedding_vector(line["text"])
    assert [line["chunk"] for line in written if line["document_id"] == 1] == [0, 1, 2]
    assert run.xcom["embed"]["count"] == len(written) == sum(map(len, sent(fake_conn)))


def test_the_token_is_in_no_log_xcom_or_file(fake_conn, run_dag, tmp_path, capsys, caplog):
    fake_conn.embedding_fault_plan = lambda n, body: (
        Fault.status(500, body={"error": f"token {TOKEN} rejected"}) if n == 1 else None
    )
    docs = [{"id": TOKEN[:8], "title": "t", "body": f"b{i}"} for i in range(6)]
    failed = run_dag("hf_embed_dicts", run_conf={"items": docs, "out": tmp_path.as_uri()})
    assert failed.states["embed"] == "failed"
    passed = run_dag("hf_embed", run_conf={"items": ["a", "b"]})
    assert passed.state == "success"

    out = capsys.readouterr()
    files = "".join(path.read_text() for path in tmp_path.rglob("*") if path.is_file())
    seen = {
        "stdout": without_supervisor_echo(out.out),
        "stderr": without_supervisor_echo(out.err),
        "log records": caplog.text,
        "failed run's XComs": json.dumps(failed.xcom),
        "passed run's XComs": json.dumps(passed.xcom),
        "files": files,
    }
    assert "rejected" in out.out  # the server's words are there, its copy of the token is not
    leaks = {
        place: text[max(0, text.find(TOKEN) - 300) :][:400] for place, text in seen.items() if TOKEN in text
    }
    assert not leaks


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"batch_size": 0}, "batch_size=0 is not valid"),
        ({"chunk_overlap": 5}, "chunk_overlap needs chunk_size"),
        ({"chunk_size": 10, "chunk_overlap": 10}, "chunk_size must be larger than overlap"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs, words):
    with pytest.raises(ConfigurationError, match=words):
        HuggingFaceEmbeddingOperator(task_id="embed", inputs=["a"], **kwargs)


def embedder(**kwargs) -> HuggingFaceEmbeddingOperator:
    kwargs.setdefault("hf_conn_id", "hf_fake")
    return HuggingFaceEmbeddingOperator(task_id="embed", **kwargs)


def test_a_server_that_takes_fewer_texts_gets_requests_of_its_size(fake_conn, tmp_path, capsys):
    from tests.batch.stubs import stub_context

    fake_conn.embedding_max_batch = 3
    texts = [f"text {i}" for i in range(20)]
    result = embedder(inputs=texts, batch_size=8, max_concurrency=2, output_path=tmp_path.as_uri()).execute(
        stub_context()
    )

    assert result["count"] == 20
    sizes = [len(batch) for batch in sent(fake_conn)]
    assert sizes.count(8) <= 2  # the requests in flight when the first 413 came; none after
    assert sum(size for size in sizes if size <= 3) == 20
    said = [line for line in capsys.readouterr().out.splitlines() if "fewer texts a request" in line]
    assert len(said) == 1
    assert "batch size 8 > maximum allowed batch size 3): 3 texts a request from now on" in said[0]
    written = lines(tmp_path, "d", "r", "batch")
    assert sorted(line["index"] for line in written) == list(range(20))
    assert all(line["embedding"] == embedding_vector(texts[line["index"]]) for line in written)


def test_vectors_all_come_from_the_first_model_that_answers(hub_redirect, use_connection, tmp_path):
    from tests.batch.stubs import stub_context

    use_connection("hf_router", password=TOKEN, extra={"max_retries": 0})
    hub_redirect.model_faults = {"sentence-transformers/all-MiniLM-L6-v2": Fault.status(410)}
    task = embedder(
        hf_conn_id="hf_router",
        inputs=[f"t{i}" for i in range(6)],
        batch_size=2,
        max_concurrency=1,
        fallback_models=["BAAI/bge-small-en-v1.5"],
        output_path=tmp_path.as_uri(),
    )
    assert task.execute(stub_context())["model"] == "BAAI/bge-small-en-v1.5"
    assert {line["model"] for line in lines(tmp_path, "d", "r", "batch")} == {"BAAI/bge-small-en-v1.5"}
    asked = [r.path.split("/models/")[1].split("/pipeline")[0] for r in hub_redirect.embedding_requests]
    assert asked == ["sentence-transformers/all-MiniLM-L6-v2", *["BAAI/bge-small-en-v1.5"] * 3]

    # A retry after the first model is back: the earlier vectors' model makes the rest too.
    hub_redirect.model_faults = {}
    task.inputs = [f"t{i}" for i in range(8)]
    assert task.execute(stub_context())["model"] == "BAAI/bge-small-en-v1.5"
    assert len(hub_redirect.embedding_requests) == 5  # t6 and t7 alone, from the same model
    assert {line["model"] for line in lines(tmp_path, "d", "r", "batch")} == {"BAAI/bge-small-en-v1.5"}


def test_lineage_names_the_files_the_model_and_the_calls(fake_conn, tmp_path):
    from tests.batch.stubs import stub_context

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(f"text number {i}") + "\n" for i in range(5)), encoding="utf-8")
    task = embedder(
        inputs=source.as_uri(),
        output_path=(tmp_path / "out").as_uri(),
        batch_size=2,
        text_template="{{item}}",
    )
    context = stub_context()
    task.execute(context)

    facts = task.lineage_facts
    assert (facts.operation, facts.model_requested, facts.endpoint) == ("embeddings", None, fake_conn.url)
    assert (facts.inputs, facts.outputs) == ([source.as_uri()], [(tmp_path / "out").as_uri()])
    assert (facts.calls, facts.failed_calls, facts.models_used) == (3, 0, ["fake-model"])
    assert facts.input_tokens == 15  # three words a text
    assert facts.prompt_version is not None  # the text_template's hash, never its text
    assert facts.prompt_templates is None
    assert context["ti"].pushed  # the model link was kept


def test_lineage_on_the_router_names_the_default_embedding_model(hub_redirect, use_connection):
    use_connection("hf_router", password=TOKEN)
    facts = embedder(hf_conn_id="hf_router", inputs=["a"]).begin_lineage()
    assert facts.model_requested == "sentence-transformers/all-MiniLM-L6-v2"  # not the chat default
    assert facts.operation == "embeddings"
