"""The parts of an embedding batch (batch/vectors.py): texts of inputs, chunks, units, and the file of
vectors as a retry reads it back."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy
import pytest

from airflow_provider_huggingface._internal.embedding import EmbedRequest
from airflow_provider_huggingface.batch.store import as_storage_path, task_instance_file
from airflow_provider_huggingface.batch.vectors import (
    Chunks,
    InMemoryVectors,
    RequestOf,
    Span,
    TextOf,
    VectorFile,
    units,
)
from airflow_provider_huggingface.embeddings import TextChunker
from airflow_provider_huggingface.exceptions import (
    ConfigurationError,
    MalformedResponseError,
    PromptTemplateError,
)
from tests.batch.stubs import stub_context

CHECKED = EmbedRequest(where="w", model="m", texts=("-",))


def result(*vectors, model="m") -> dict:
    return {"embeddings": list(vectors), "dimensions": len(vectors[0]), "model": model, "usage": None}


@pytest.fixture
def vector_file(tmp_path):
    folder = as_storage_path(tmp_path.as_uri() + "/", field="output_path")
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="embed", map_index=-1)
    return VectorFile(task_instance_file(folder, ti))


def test_text_of_an_input_is_itself_or_its_template():
    assert TextOf({}, None)(0, "plain") == "plain"
    with pytest.raises(
        ConfigurationError, match=r"inputs\[2\] \(\{'a': 1\}\) is a dict.*text_template='\{\{item.text\}\}'"
    ):
        TextOf({}, None)(2, {"a": 1})
    with pytest.raises(ConfigurationError, match=r"inputs\[0\] \(3\) is a int, not a string"):
        TextOf({}, None)(0, 3)
    with pytest.raises(ConfigurationError, match="text_template='  ' is not valid"):
        TextOf({}, "  ")


def test_a_template_renders_each_input_and_never_the_data_inside_it():
    text_of = TextOf({**stub_context(), "params": {"lang": "en"}}, "{{params.lang}}: {{item.title}}")
    assert text_of(0, {"title": "{{params.lang}} stays"}) == "en: {{params.lang}} stays"
    with pytest.raises(PromptTemplateError, match=r"inputs\[1\]"):
        text_of(1, {"other": "x"})


def test_request_of_checks_each_text_and_the_xcoms_limit():
    build = RequestOf(CHECKED, TextOf({}, None), limit=2)
    assert build(0, "a").texts == ("a",)
    assert build(0, "a").model == "m"
    with pytest.raises(ConfigurationError, match=r"inputs\[1\] \('  '\): the text is empty"):
        build(1, "  ")
    with pytest.raises(ConfigurationError, match="More than 2 texts to embed without output_path"):
        build(2, "c")


def test_chunks_of_documents_carry_their_document_and_offsets():
    docs = [{"id": "a.md", "body": "One two three four five six seven."}, {"body": "Eight nine."}]
    chunks = list(
        Chunks(docs, TextChunker(chunk_size=12, overlap=4), TextOf(stub_context(), "{{item.body}}"))
    )
    assert [(c["document_id"], c["chunk"]) for c in chunks][:2] == [("a.md", 0), ("a.md", 1)]
    assert chunks[-1] == {
        "id": "1:0",
        "document_id": 1,
        "chunk": 0,
        "start": 0,
        "end": 11,
        "text": "Eight nine.",
    }
    assert all(docs[0]["body"][c["start"] : c["end"]] == c["text"] for c in chunks[:-1])
    assert (
        list(Chunks(docs, TextChunker(chunk_size=12, overlap=4), TextOf(stub_context(), "{{item.body}}")))
        == chunks
    )


def test_units_group_the_items_in_order_and_name_themselves():
    pending = ((i, f"t{i}", CHECKED.with_text(f"t{i}")) for i in range(5))
    made = list(units(pending, 2, "texts"))
    assert [unit[2].texts for unit in made] == [("t0", "t1"), ("t2", "t3"), ("t4",)]
    assert [str(unit[0]) for unit in made] == ["texts 0 to 1", "texts 2 to 3", "text 4"]
    assert str(Span("chunks", 7, 7)) == "chunk 7"


def test_the_file_holds_a_line_per_text_its_vector_last_with_float32_precision(vector_file):
    vector_file.open()
    items = [(0, "a", CHECKED.with_text("a")), (1, {"id": "x", "body": "b"}, CHECKED.with_text("b"))]
    value = float(numpy.float32(0.1234567891))
    vector_file.answered(Span("texts", 0, 1), items, CHECKED, result([value, 1e-12], [-2.0, 3.0]))
    vector_file.close()

    raw = vector_file.path.read_text().splitlines()
    assert raw[0].endswith('"embedding": [0.123456791, 1e-12]}')
    lines = [json.loads(line) for line in raw]
    assert lines[0] == {
        "index": 0,
        "model": "m",
        "request": CHECKED.with_text("a").digest,
        "embedding": [0.123456791, 1e-12],
    }
    assert lines[1]["id"] == "x"
    assert numpy.float32(lines[0]["embedding"][0]) == numpy.float32(value)  # the float32, exactly
    assert vector_file.count == 2


def test_a_retry_keeps_the_vectors_read_back_and_expects_their_kind(vector_file):
    vector_file.open()
    items = [(i, t, CHECKED.with_text(t)) for i, t in enumerate("abc")]
    vector_file.answered(
        Span("texts", 0, 2), items, CHECKED, result([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], model="org/m")
    )
    vector_file.close()

    again = VectorFile(vector_file.path)
    assert again.earlier_answers() == {i: CHECKED.with_text(t).digest for i, t in enumerate("abc")}
    again.keep({0, 2})
    assert (again.count, again.dimensions, again.model) == (2, 2, "org/m")
    assert [json.loads(line)["index"] for line in again.path.read_text().splitlines()] == [0, 2]
    again.expect(result([0.5, 0.5], model="org/m"))
    with pytest.raises(
        MalformedResponseError, match="Vectors of 3 values from org/m came after vectors of 2"
    ):
        again.expect(result([0.5, 0.5, 0.5], model="org/m"))
    with pytest.raises(
        MalformedResponseError, match="from other/m came after vectors of 2 values from org/m"
    ):
        again.expect(result([0.5, 0.5], model="other/m"))


def test_vectors_for_the_xcom_are_in_input_order():
    kept = InMemoryVectors()
    kept.expect(result([1.0]))
    kept.answered(Span("texts", 2, 3), [(2, "c", None), (3, "d", None)], CHECKED, result([3.0], [4.0]))
    kept.answered(Span("texts", 0, 0), [(0, "a", None)], CHECKED, result([1.0]))
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert kept.xcom({"usage": usage}, 4, "") == {
        "embeddings": [[1.0], None, [3.0], [4.0]],
        "dimensions": 1,
        "model": "m",
        "usage": usage,
    }
