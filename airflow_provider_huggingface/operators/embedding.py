"""``HuggingFaceEmbeddingOperator``: a vector for every input, or every chunk of it, many requests at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.validation import COUNT, check_number
from airflow_provider_huggingface.operators.base import HuggingFaceBaseOperator
from airflow_provider_huggingface.provider_info import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_huggingface._internal.chat import TokenUsage
    from airflow_provider_huggingface._internal.chat_flow import ChatSession
    from airflow_provider_huggingface._internal.embedding import EmbedRequest
    from airflow_provider_huggingface.batch.vectors import VectorFile
    from airflow_provider_huggingface.observability.lineage import LineageFacts

# A DAG file imports this module at every parse: the batch package is imported when a task runs.


class HuggingFaceEmbeddingOperator(HuggingFaceBaseOperator):
    """Embed every input: one vector per text, in input order, ``batch_size`` texts a request and many
    requests at once. On the router through feature extraction (the ``embeddings`` extra brings numpy);
    on an endpoint connection (TEI, vLLM, llama.cpp with ``--embedding``) through ``/v1/embeddings``.

    The text of an input is the input itself when it is a string, else ``text_template``, a Handlebars
    template rendered over it as ``{{item}}`` (``{{item.title}}: {{item.body}}``) beside the prompts'
    usual names (upstream return values by task id, ``params``...). An input is data: ``{{...}}`` inside
    it is never rendered. Every text is made and checked before the first request, so a template
    mistake or an empty text fails the task at once, naming the input's index.

    The requests run as the batch chat operator's: at most ``max_concurrency`` at once, halved on 429
    or 503 and grown back a slot at a time, ``max_calls_per_second`` spacing their starts, each retried
    under the connection's policy, a progress line every few seconds. A server that takes fewer texts
    a request (TEI answers 413 ``batch size 32 > maximum allowed batch size 8``) gets requests of its
    size from then on; the log says so once. Any request that fails for good fails the task, after the
    requests in flight end.

    **Where the vectors go.** With ``output_path`` (or, without it, under Airflow's XCom object storage
    folder when one is configured), to a JSON Lines file of this task instance, a line per text as
    its request's vectors arrive, flushed: ``<folder>/<dag_id>/<run_id>/<task_id>.jsonl``
    (``.../<task_id>/<map_index>.jsonl`` when mapped). A line is ``{"index", "embedding", "model",
    "request"}``, with the input's ``"id"`` when it has one (see :mod:`~airflow_provider_huggingface.
    batch.vectors`). A retry of the task instance keeps the vectors written for the same requests and
    sends only the texts without one; each index is then written once. A failed task keeps its file,
    and its error says how many texts were embedded, failed and not sent. The XCom is
    ``{"path", "count", "dimensions", "model", "usage"}``. Without a file the XCom is ``{"embeddings",
    "dimensions", "model", "usage"}``, the vectors in input order, for at most 1,000 texts (more is
    refused before any request: give ``output_path``). ``usage`` sums the tokens of this try's
    requests where the server reports them (endpoints do; the router's feature extraction does not),
    else it is zero.

    **Chunking.** With ``chunk_size``, each input is a document cut into chunks of at most that many
    characters, consecutive ones sharing about ``chunk_overlap`` (see
    :func:`~airflow_provider_huggingface.embeddings.chunk_documents`), and each chunk gets a vector.
    A line then also holds ``"document_id"`` (the input's ``"id"``, else its index), ``"chunk"`` (its
    position in the document), ``"start"``, ``"end"`` (its offsets: ``text[start:end]``), ``"text"`` and
    ``"id"`` (``"<document_id>:<chunk>"``), so a vector store can be loaded from the file alone.

    It takes :class:`~airflow_provider_huggingface.operators.base.HuggingFaceBaseOperator`'s ``model``
    (default on the router ``sentence-transformers/all-MiniLM-L6-v2``; on an endpoint its own),
    ``hf_conn_id``, ``validate_model`` (whether the Hub says the model does feature extraction, asked
    once, before the first request) and ``fallback_models``: the first model that answers makes every
    vector of the task (two models' vectors are not comparable), kept by a retry that resumes. And:

    :param inputs: the items: a list (of strings, or of dicts with ``text_template``), an upstream
        task's output (an XComArg), or a JSON Lines (``.jsonl``) or CSV file given as an
        ``ObjectStoragePath`` or URI, read a line at a time. Jinja-rendered like the other fields.
    :param text_template: the text of each input (Handlebars, over ``{{item}}``); needed when the inputs
        are not strings.
    :param output_path: a folder (``ObjectStoragePath`` or URI) for this task instance's file of
        vectors. Templated.
    :param batch_size: texts a request (default 32), lowered to what the server takes.
    :param max_concurrency: the most requests in flight at once (the adaptive limit starts here).
    :param max_calls_per_second: start at most this many requests a second, retries included; default
        None: no pacing. Templated.
    :param normalize: scale every vector to unit length (L2); ``False`` (the default) keeps them as the
        model gives them (most sentence-embedding models give unit vectors already).
    :param truncate: on the router, let the server cut a text longer than the model takes (default);
        an endpoint applies its own setting (TEI: ``--auto-truncate``).
    :param chunk_size: cut each input into chunks of at most this many characters; default None: the
        input is one text.
    :param chunk_overlap: characters a chunk may repeat from the end of the one before (default a fifth
        of ``chunk_size``).
    """

    template_fields: Sequence[str] = (
        "inputs",
        "model",
        "hf_conn_id",
        "fallback_models",
        "output_path",
        "max_calls_per_second",
    )
    template_fields_renderers = {"inputs": "json"}
    #: Seconds between two progress lines in the task log.
    progress_interval: float = 5.0
    lineage_operation = "embeddings"

    def __init__(
        self,
        *,
        inputs: Any,
        text_template: str | None = None,
        output_path: Any = None,
        batch_size: int = 32,
        max_concurrency: int = 8,
        max_calls_per_second: float | str | None = None,
        normalize: bool = False,
        truncate: bool = True,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.inputs = inputs
        self.text_template = text_template
        self.output_path = output_path
        self.batch_size = check_number("batch_size", batch_size, COUNT, optional=False)
        self.max_concurrency = check_number("max_concurrency", max_concurrency, COUNT, optional=False)
        self.max_calls_per_second = max_calls_per_second  # templated: checked at execute time
        self.normalize = normalize
        self.truncate = truncate
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        if chunk_size is not None or chunk_overlap is not None:
            self.chunker()  # checked when the DAG is parsed

    def chunker(self) -> Any:
        from airflow_provider_huggingface.embeddings.chunking import TextChunker

        if self.chunk_size is None:
            from airflow_provider_huggingface.exceptions import ConfigurationError

            raise ConfigurationError("chunk_overlap needs chunk_size: give chunk_size=1000, say.")
        return TextChunker(chunk_size=self.chunk_size, overlap=self.chunk_overlap)

    def begin_lineage(self) -> LineageFacts:
        facts = super().begin_lineage()
        # The connection's default_model is a chat model's: the vectors come from this one.
        named = self.model.strip() if isinstance(self.model, str) else ""
        facts.model_requested = named or (None if facts.endpoint else DEFAULT_EMBEDDING_MODEL)
        return facts

    def lineage_templates(self) -> dict[str, Any]:
        return {} if self.text_template is None else {"text_template": self.text_template}

    def lineage_locations(self) -> tuple[list[Any], list[Any]]:
        return self.batch_locations(self.inputs, self.output_path)

    def vector_file(self, context: Context) -> VectorFile | None:
        """This task instance's file of vectors under ``output_path`` (or the XCom storage folder)."""
        from airflow_provider_huggingface.batch.store import output_folder, task_instance_file
        from airflow_provider_huggingface.batch.vectors import VectorFile

        folder = output_folder(self.output_path)
        if folder is None:
            self.log.info("Vectors go to XCom only: a retry of this task embeds every text again.")
            return None
        return VectorFile(task_instance_file(folder, context["ti"]))

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_huggingface._internal.budget import Budget
        from airflow_provider_huggingface._internal.embed_flow import TextsPerRequest
        from airflow_provider_huggingface.batch.engine import BatchSettings
        from airflow_provider_huggingface.batch.inputs import open_inputs
        from airflow_provider_huggingface.batch.runner import run_batch
        from airflow_provider_huggingface.batch.vectors import (
            MAX_XCOM_TEXTS,
            Chunks,
            InMemoryVectors,
            RequestOf,
            TextOf,
            chunk_text,
            units,
        )

        hook = self.hook
        settings = BatchSettings.checked(
            max_concurrency=self.max_concurrency,
            max_calls_per_second=self.max_calls_per_second,
            progress_interval=self.progress_interval,
        )
        # Every setting checked once, before anything is read or sent.
        checked = hook.prepare_embed(
            ["-"], model=self.model, normalize=self.normalize, truncate=self.truncate
        )
        text_of: Any = TextOf(context, self.text_template)
        inputs: Any = open_inputs(self.inputs)
        noun = "texts"
        if self.chunk_size is not None:
            inputs, noun = Chunks(inputs, self.chunker(), text_of), "chunks"
            text_of = chunk_text
        replies = self.vector_file(context)
        outcomes = InMemoryVectors() if replies is None else replies
        build = RequestOf(checked, text_of, limit=None if replies is not None else MAX_XCOM_TEXTS)
        per_request = TextsPerRequest(self.batch_size)

        facts = self.begin_lineage()

        def session_of(
            first: EmbedRequest, *, calls: int, usage: TokenUsage | None, **logs: Any
        ) -> ChatSession:
            session = hook.chat_session(
                first,
                fallback_models=self.fallback_models,
                validate_model=self.validate_model,
                budget=Budget(calls=calls, usage=usage),
                lineage=facts,
                one_model=True,
                **logs,
            )
            if outcomes.model is not None and outcomes.model in session.fallback.models:
                session.fallback.choose(outcomes.model)  # a retry goes on with the earlier vectors' model
            return session

        async def send(request: EmbedRequest, client: Any, session: ChatSession) -> Any:
            result = await hook.aembed(request, batch_size=per_request, client=client, session=session)
            outcomes.expect(result)
            return result

        result = run_batch(
            hook=hook,
            inputs=inputs,
            build=build,
            replies=replies,
            settings=settings,
            session_of=session_of,
            log=self.log,
            push_partial=lambda summary: context["ti"].xcom_push(key="partial_results", value=summary),
            group=lambda pending: units(pending, self.batch_size, noun),
            send=send,
            size_of=lambda request: len(request.texts),
            outcomes=outcomes,
        )
        self.publish_model(context, result["model"] or facts.model_requested)
        return result
