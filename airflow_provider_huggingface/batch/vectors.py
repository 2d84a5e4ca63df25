"""The parts of an embedding batch (:class:`~airflow_provider_huggingface.operators.embedding.
HuggingFaceEmbeddingOperator`) that a chat batch has not: the text of each input, or of each chunk
of it; the units of texts sent in one request; and where the vectors go: a JSON Lines file of the task
instance (:class:`VectorFile`), or the XCom (:class:`InMemoryVectors`).

A line of the file, written and flushed as its request's vectors arrive::

    {"index": 3, "id": "faq-2", "model": "...", "request": "<digest>", "embedding": [0.0123456789, ...]}

``id`` is the input's own (a dict's ``"id"``), if it has one; chunked inputs add ``document_id``,
``chunk``, ``start``, ``end`` and ``text``. ``model`` is the model that made the vector; ``request`` a
digest of what was asked (the endpoint, the model, the text and the settings): a retry of the task
instance keeps the vectors of the same requests and sends only the rest. The values are written with 9
significant digits, which keep a float32 exactly: every embedding server computes in float32 or less.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.batch.requests import preview
from airflow_provider_huggingface.batch.store import TaskFile, json_text
from airflow_provider_huggingface.exceptions import (
    ConfigurationError,
    MalformedResponseError,
    PromptTemplateError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from airflow.sdk import Context

    from airflow_provider_huggingface._internal.chat import TokenUsage
    from airflow_provider_huggingface._internal.embedding import EmbeddingResult, EmbedRequest
    from airflow_provider_huggingface.embeddings.chunking import TextChunker
    from airflow_provider_huggingface.exceptions import HuggingFaceError

    Item = tuple[int, Any, EmbedRequest]  # an item's index, its input and its one-text request

# Without output_path the vectors travel in the XCom, in the metadata DB: at 1,024 values a vector,
# 1,000 texts are about 20 MB of JSON already.
MAX_XCOM_TEXTS = 1_000
_CHUNK_FIELDS = ("id", "document_id", "chunk", "start", "end", "text")


class TextOf:
    """The text to embed of each input: ``template`` (Handlebars) rendered over it as ``{{item}}``, or
    the input itself when it is a string and there is no template. An input is data: ``{{...}}`` in
    it is never rendered.

    :param context: the task's context (the template's scope comes from it).
    :param template: the ``text_template``, or None.
    """

    def __init__(self, context: Context, template: str | None) -> None:
        self.template = template
        if template is not None:
            from airflow_provider_huggingface.prompts.renderer import render_prompt
            from airflow_provider_huggingface.prompts.scope import prompt_scope

            if not isinstance(template, str) or not template.strip():
                raise ConfigurationError(
                    f"text_template={template!r} is not valid: give a Handlebars template of each input, "
                    "e.g. '{{item.title}}: {{item.body}}', or leave it out for inputs that are strings."
                )
            self._render = render_prompt
            self._scope = prompt_scope(context, item=None)  # one scope: `item` is laid over it per input

    def __call__(self, index: int, item: Any) -> str:
        """:raises ConfigurationError, PromptTemplateError: naming the input's index."""
        if self.template is None:
            if isinstance(item, str):
                return item
            hint = " e.g. text_template='{{item.text}}'" if isinstance(item, dict) else ""
            raise ConfigurationError(
                f"inputs[{index}] ({preview(item)}) is a {type(item).__name__}, not a string: give "
                f"text_template, a Handlebars template that makes the text to embed of each input,{hint}."
            )
        try:
            return self._render(self.template, self._scope.with_values(item=item), field="text_template")
        except (PromptTemplateError, ConfigurationError) as error:
            raise type(error)(f"inputs[{index}] ({preview(item)}): {error}") from None


class Chunks:
    """The inputs as documents cut into chunks, read again on each pass: each chunk is an item
    ``{"id", "document_id", "chunk", "start", "end", "text"}`` (see :class:`~airflow_provider_huggingface.
    embeddings.chunking.Chunk`). A document's id is its input's ``"id"``, else the input's index.

    :param inputs: the inputs, iterable once per pass.
    :param chunker: how the documents are cut.
    :param text_of: the text of each input.
    """

    def __init__(self, inputs: Iterable[Any], chunker: TextChunker, text_of: TextOf) -> None:
        self.inputs = inputs
        self.chunker = chunker
        self.text_of = text_of

    def __str__(self) -> str:
        return f"chunks of {self.inputs}"

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for index, item in enumerate(self.inputs):
            document_id = item.get("id", index) if isinstance(item, dict) else index
            for chunk in self.chunker.chunk(self.text_of(index, item), document_id=document_id):
                entry = chunk.as_dict()
                entry["chunk"] = entry.pop("index")
                yield entry


def chunk_text(index: int, chunk: dict[str, Any]) -> str:
    """The text of a chunk of :class:`Chunks`."""
    return chunk["text"]


class RequestOf:
    """The checked one-text request of each item (its digest is what a stored vector is matched by).

    :param checked: a request holding every setting, built and checked once for the whole batch.
    :param text_of: the text of each item.
    :param limit: the most items allowed (the XCom's), or None.
    """

    def __init__(self, checked: EmbedRequest, text_of: Any, limit: int | None = None) -> None:
        self.checked = checked
        self.text_of = text_of
        self.limit = limit

    def __call__(self, index: int, item: Any) -> EmbedRequest:
        from airflow_provider_huggingface._internal.embedding import check_text

        if self.limit is not None and index >= self.limit:
            raise ConfigurationError(
                f"More than {self.limit:,} texts to embed without output_path: the vectors would go to the "
                "XCom, in Airflow's metadata database. Give output_path, a folder such as "
                "'file:///data/vectors/' or 's3://bucket/vectors/', for a file of vectors of any size."
            )
        text = self.text_of(index, item)
        try:
            check_text("the text", text)
        except ConfigurationError as error:
            raise ConfigurationError(f"inputs[{index}] ({preview(item)}): {error}") from None
        return self.checked.with_text(text)


@dataclass(frozen=True)
class Span:
    """A unit's items, as the log and errors name them: ``texts 64 to 95``."""

    noun: str
    first: int
    last: int

    def __str__(self) -> str:
        if self.first == self.last:
            return f"{self.noun.rstrip('s')} {self.first}"
        return f"{self.noun} {self.first} to {self.last}"


def units(pending: Iterator[Item], size: int, noun: str) -> Iterator[tuple[Span, list[Item], EmbedRequest]]:
    """The items still to embed in units of ``size`` texts, in order: ``(span, items, request)``."""
    batch: list[Item] = []
    for entry in pending:
        batch.append(entry)
        if len(batch) == size:
            yield _unit(batch, noun)
            batch = []
    if batch:
        yield _unit(batch, noun)


def _unit(batch: list[Item], noun: str) -> tuple[Span, list[Item], EmbedRequest]:
    texts = tuple(request.texts[0] for _, _, request in batch)
    return Span(noun, batch[0][0], batch[-1][0]), batch, dataclasses.replace(batch[0][2], texts=texts)


class _Vectors:
    """What every answer must agree with: the length of the vectors and the model that made them."""

    dimensions: int | None = None
    model: str | None = None

    def expect(self, result: EmbeddingResult) -> None:
        """:raises MalformedResponseError: when ``result`` does not fit the vectors so far."""
        if self.dimensions is None:
            self.dimensions, self.model = result["dimensions"], result["model"]
            return
        if (result["dimensions"], result["model"]) != (self.dimensions, self.model):
            raise MalformedResponseError(
                f"Vectors of {result['dimensions']} values from {result['model'] or 'the endpoint'} came "
                f"after vectors of {self.dimensions} values from {self.model or 'the endpoint'}: they are "
                "not points of one space, so they cannot go together. Did the model or the server change? "
                "Run the task anew with output_path in a new folder, or clear the file of this task."
            )

    def failed(self, key: Span, items: list[Item], request: EmbedRequest, error: HuggingFaceError) -> None:
        """Nothing is written for a failed unit: a text without a vector was not embedded."""


class VectorFile(_Vectors, TaskFile):
    """One task instance's file of vectors, resumed by the next try (see :class:`TaskFile`)."""

    count = 0

    def keep(self, indices: set[int]) -> TokenUsage:
        usage = super().keep(indices)
        self.count = len(indices)
        for entry in self._entries():  # the kept vectors: the later ones must be of their kind
            self.dimensions, self.model = len(entry["embedding"]), entry.get("model")
            break
        return usage

    def answered(self, key: Span, items: list[Item], request: EmbedRequest, result: EmbeddingResult) -> None:
        # Written by hand around the values of each item: json.dumps of the line takes 3 times as long.
        lines = []
        model = json.dumps(result["model"])
        for (index, item, asked), vector in zip(items, result["embeddings"], strict=True):
            own = ""
            if isinstance(item, dict):
                fields = _CHUNK_FIELDS if "chunk" in item and "document_id" in item else ("id",)
                if any(name in item for name in fields):
                    own = json_text({name: item[name] for name in fields if name in item})[1:-1] + ", "
            lines.append(
                f'{{"index": {index}, {own}"model": {model}, "request": "{request.digest_of(asked.texts)}", '
                f'"embedding": [{_values(vector)}]}}\n'
            )
        self._write_lines("".join(lines))
        self.count += len(lines)

    def xcom(self, summary: dict[str, Any], total: int, not_sent_message: str) -> dict[str, Any]:
        return {
            "path": str(self),
            "count": self.count,
            "dimensions": self.dimensions,
            "model": self.model,
            "usage": summary["usage"],
        }


class InMemoryVectors(_Vectors):
    """The vectors kept for the XCom, in input order, when there is no file to write them to."""

    def __init__(self) -> None:
        self._vectors: dict[int, list[float]] = {}

    def answered(self, key: Span, items: list[Item], request: EmbedRequest, result: EmbeddingResult) -> None:
        for (index, _, _), vector in zip(items, result["embeddings"], strict=True):
            self._vectors[index] = vector

    def xcom(self, summary: dict[str, Any], total: int, not_sent_message: str) -> dict[str, Any]:
        """Every text's vector in input order (None for one not embedded: only in ``partial_results``)."""
        return {
            "embeddings": [self._vectors.get(index) for index in range(total)],
            "dimensions": self.dimensions,
            "model": self.model,
            "usage": summary["usage"],
        }


def _values(vector: list[float]) -> str:
    """A vector's values as JSON, each with 9 significant digits: as many as keep a float32 exactly, the
    precision every embedding server computes in (or less)."""
    return _format(len(vector)) % tuple(vector)


@functools.lru_cache(maxsize=8)
def _format(size: int) -> str:
    return ", ".join(["%.9g"] * size)
