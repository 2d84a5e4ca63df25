"""OpenLineage for the provider's operators: what a task read, which model answered, at what cost.

An operator fills a :class:`LineageFacts` while it runs (``self.lineage_facts``) and inherits
:class:`OpenLineageMixin`, whose ``get_openlineage_facets_on_start``/``_on_complete``/``_on_failure``
Airflow's OpenLineage provider calls. They are effective only when
``apache-airflow-providers-openlineage`` is installed and configured; without it nothing calls them,
and this module imports nothing of it (OpenLineage classes are imported inside the methods).

What the events carry:

- **Inputs**: the files the task read (a batch's or an embedding's input file) and the model, one
  dataset per model that answered (after fallbacks), else the one requested.
- **Outputs**: the files the task wrote (``output_path``).
- **Run facet** ``huggingface`` (:data:`FACET_SCHEMA_URL`): the operation, the model requested and the
  models that answered, the inference provider requested and those that served, the endpoint's host,
  the prompt templates' hash (``promptVersion``, see :func:`hash_templates`), token usage and call
  counts. Never the prompt or reply text, nor a token: the templates' text only when the operator is
  asked for it (``LineageFacts.set_prompts(..., include_text=True)``), and then as written in the DAG,
  never rendered with upstream data.

Dataset naming follows the OpenLineage naming spec (namespace = ``scheme://authority``, name = path):

=====================================  ==============================  =======================
location                               namespace                       name
=====================================  ==============================  =======================
``/data/in.jsonl``, ``file:///data/…``  ``file``                        ``/data/in.jsonl``
``file://host/data/in.jsonl``          ``file://host``                 ``/data/in.jsonl``
``s3://bucket/runs/in.jsonl``          ``s3://bucket``                 ``runs/in.jsonl``
``gs://`` / ``gcs://bucket/key``       ``gs://bucket``                 ``key``
model ``Qwen/Qwen2.5-72B-Instruct``    ``hf://models``                 ``Qwen/Qwen2.5-72B-Instruct``
model on an endpoint connection        ``https://xyz.endpoints…cloud``  the model id, else ``/``
=====================================  ==============================  =======================

Sources: the naming spec's table (local file system: namespace ``file``, name the path; S3, GCS:
``s3://{bucket}``/``gs://{bucket}`` and the object key), as Airflow's common-io provider names a file
asset and ``ObjectStoragePath.namespace``/``key`` name object storage (an ``ObjectStoragePath``'s
connection id, ``s3://my_conn@bucket/…``, is not part of the name). Models use huggingface_hub's
canonical Hub URI, which always writes the type (``HfUri.to_uri``: ``hf://models/<owner>/<name>``;
datasets are ``hf://datasets/<owner>/<name>``, the assets of Airflow's Hugging Face datasets provider,
whose ``sanitize_uri`` reads ``datasets`` as the URI's authority), split as every URI is: the type is
the authority, the repository id the name.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow.providers.openlineage.extractors import OperatorLineage

__all__ = [
    "FACET_NAME",
    "FACET_SCHEMA_URL",
    "LineageFacts",
    "file_dataset_name",
    "hash_templates",
    "model_dataset_name",
    "operator_lineage",
]

SOURCE_URL = "https://github.com/airflow-provider-huggingface/airflow-provider-huggingface"
FACET_NAME = "huggingface"
FACET_SCHEMA_URL = (
    f"{SOURCE_URL}/blob/main/airflow_provider_huggingface/observability/HuggingFaceRunFacet.json"
    "#/$defs/HuggingFaceRunFacet"
)
HUB_MODELS_NAMESPACE = "hf://models"
# Schemes that name the same store under two spellings; OpenLineage's naming spec uses the first.
_SCHEMES = {"gcs": "gs", "local": "file", "s3a": "s3", "s3n": "s3"}
# One lock for every LineageFacts: a lock per instance would make the dataclass impossible to deepcopy,
# and Airflow copies operators (and whatever they hold) before running them.
_LOCK = threading.Lock()


def hash_templates(templates: Mapping[str, Any]) -> str:
    """A stable "prompt version": 16 hex digits of the SHA-256 of the templates as written in the DAG.

    ``templates`` maps a name (``"system_prompt"``, ``"user_prompt"``, ``"messages"``) to its template
    text, or to a list of messages; ``None`` values are left out, so a task without a system prompt
    hashes as if the key were absent. The hash is over canonical JSON (sorted keys), so it does not
    depend on dict order, and changes with any edit to any template's text.
    """
    present = {name: value for name, value in templates.items() if value is not None}
    canonical = json.dumps(present, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _scheme(name: str) -> str:
    name = name.lower()
    return _SCHEMES.get(name, name)


def _host(netloc: str) -> str:
    """A URL's host[:port] without the user info (an ObjectStoragePath's connection id, or credentials)."""
    return netloc.rpartition("@")[2]


def file_dataset_name(location: Any) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a file: an ``ObjectStoragePath``, a URI or a local path.

    See the module's table. Raises ``ValueError`` for anything else.
    """
    if hasattr(location, "protocol") and hasattr(location, "key"):  # an ObjectStoragePath
        protocol = location.protocol
        scheme = _scheme(protocol[0] if isinstance(protocol, tuple | list) else protocol)
        # Airflow 3.0 and 3.1 keep the connection id in the bucket (``my_conn@bucket``).
        host, path = _host(getattr(location, "bucket", "") or ""), "/" + location.key
    elif isinstance(location, str) and "://" in location:
        parts = urlsplit(location)
        scheme, host, path = _scheme(parts.scheme), _host(parts.netloc), parts.path
    elif isinstance(location, str | os.PathLike):
        return "file", os.path.abspath(os.fspath(location))
    else:
        raise ValueError(f"{location!r} is not a file location: give an ObjectStoragePath, a URI or a path")
    if scheme == "file":
        return (f"file://{host}" if host else "file"), path or "/"
    if host:
        return f"{scheme}://{host}", path.lstrip("/") or "/"
    return scheme, path.lstrip("/") or "/"


def _endpoint_parts(endpoint: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of an endpoint URL; a bare host means https, as the hook reads it."""
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    return parts.scheme, _host(parts.netloc)


def _hub_repo_id(model: str) -> str:
    """The repository of a router model id: ``owner/name:provider`` or ``:fastest`` names the repo too."""
    return model.partition(":")[0]


def model_dataset_name(model: str | None, *, endpoint: str | None = None) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a model: on the Hub, on an endpoint, or a URL itself.

    :param model: a Hub model id (``owner/name``), or a URL (the hook accepts one as the model).
    :param endpoint: the connection's endpoint URL (its ``host``); None for the Hugging Face router.
    """
    if model and "://" in model:
        parts = urlsplit(model)
        return f"{parts.scheme}://{_host(parts.netloc)}", parts.path or "/"
    if endpoint:
        scheme, host = _endpoint_parts(endpoint)
        return f"{scheme}://{host}", model or "/"
    if not model:
        raise ValueError("a model dataset needs a model id or an endpoint")
    return HUB_MODELS_NAMESPACE, _hub_repo_id(model)


def _distinct_append(values: list[str], value: str | None) -> None:
    if value and value not in values:
        values.append(value)


@dataclass
class LineageFacts:
    """What a task did, recorded while it runs; the OpenLineage methods read it.

    Fill the fields known before any call (``model_requested``, ``endpoint``, ``inference_provider``,
    ``inputs``, ``outputs``, :meth:`set_prompts`), then :meth:`record_call` once per model call (safe
    from several threads). Locations in ``inputs``/``outputs`` are anything :func:`file_dataset_name`
    takes. Nothing here holds prompt or reply text, unless :meth:`set_prompts` is asked to.

    :param operation: ``"chat"`` or ``"embeddings"``.
    :param model_requested: the model the task asked for (rendered), before any fallback.
    :param endpoint: the connection's endpoint URL, None for the Hugging Face router.
    :param inference_provider: the provider the connection asks for (``"auto"``, ``"together"``, ...).
    :param inputs: files read.
    :param outputs: files written.
    """

    operation: str = "chat"
    model_requested: str | None = None
    endpoint: str | None = None
    inference_provider: str | None = None
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    prompt_version: str | None = None
    prompt_templates: dict[str, Any] | None = None
    models_used: list[str] = field(default_factory=list)
    providers_used: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    failed_calls: int = 0

    def set_prompts(self, templates: Mapping[str, Any], *, include_text: bool = False) -> None:
        """Record the prompt templates' hash (:func:`hash_templates`); their text only if asked.

        :param templates: the templates as written in the DAG, by name; never rendered prompts.
        :param include_text: also put the templates' text in the run facet (a documented operator
            option must ask for this; off by default).
        """
        self.prompt_version = hash_templates(templates)
        self.prompt_templates = (
            {name: value for name, value in templates.items() if value is not None} if include_text else None
        )

    def record_call(
        self,
        *,
        model: str | None = None,
        provider: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        failed: bool = False,
    ) -> None:
        """Count one model call.

        :param model: the model that answered (the reply's ``model``, or the fallback that was used).
        :param provider: the inference provider that served the reply, when the router says.
        :param input_tokens: prompt tokens, when the server reports usage.
        :param output_tokens: completion tokens, when the server reports usage.
        :param failed: the call ended in an error (after the hook's retries).
        """
        with _LOCK:
            if failed:
                self.failed_calls += 1
                return
            self.calls += 1
            self.input_tokens += input_tokens or 0
            self.output_tokens += output_tokens or 0
            _distinct_append(self.models_used, model)
            _distinct_append(self.providers_used, provider)

    def call_figures(self) -> dict[str, Any]:
        """What the calls recorded so far add up to, as plain JSON: what a deferral carries to the
        resumed task (a trigger's event, a task's ``next_kwargs``), added back with
        :meth:`add_call_figures`. No prompt or reply text is in it."""
        with _LOCK:
            return {
                "calls": self.calls,
                "failed_calls": self.failed_calls,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "models_used": list(self.models_used),
                "providers_used": list(self.providers_used),
            }

    def add_call_figures(self, figures: Mapping[str, Any] | None) -> None:
        """Add calls made elsewhere (:meth:`call_figures` of a trigger or of an earlier part of this
        try); None or ``{}`` adds nothing."""
        if not figures:
            return
        with _LOCK:
            self.calls += int(figures.get("calls") or 0)
            self.failed_calls += int(figures.get("failed_calls") or 0)
            self.input_tokens += int(figures.get("input_tokens") or 0)
            self.output_tokens += int(figures.get("output_tokens") or 0)
            for model in figures.get("models_used") or ():
                _distinct_append(self.models_used, model)
            for provider in figures.get("providers_used") or ():
                _distinct_append(self.providers_used, provider)

    def facet_fields(self) -> dict[str, Any]:
        """The run facet's fields (camelCase, as OpenLineage facets spell them); None where unknown."""
        endpoint_host = _endpoint_parts(self.endpoint)[1] if self.endpoint else None
        with _LOCK:
            return {
                "operation": self.operation,
                "modelRequested": self.model_requested,
                "modelsUsed": list(self.models_used),
                "inferenceProvider": self.inference_provider,
                "providersUsed": list(self.providers_used),
                "endpointHost": endpoint_host,
                "promptVersion": self.prompt_version,
                "promptTemplates": self.prompt_templates,
                "inputTokens": self.input_tokens,
                "outputTokens": self.output_tokens,
                "calls": self.calls,
                "failedCalls": self.failed_calls,
            }

    def model_datasets(self) -> list[tuple[str, str]]:
        """``(namespace, name)`` of each model that answered, else of the one requested."""
        models: Iterable[str | None] = self.models_used or [self.model_requested]
        names: list[tuple[str, str]] = []
        for model in models:
            if model or self.endpoint:
                name = model_dataset_name(model, endpoint=self.endpoint)
                if name not in names:
                    names.append(name)
        return names


@functools.cache
def _facet_class() -> type:
    """The run facet's class, built on first use: it subclasses OpenLineage's ``RunFacet``."""
    import attrs
    from openlineage.client.facet_v2 import RunFacet

    @attrs.define
    class HuggingFaceRunFacet(RunFacet):  # camelCase fields, as OpenLineage facets spell them
        operation: str
        modelRequested: str | None = None
        modelsUsed: list[str] = attrs.Factory(list)
        inferenceProvider: str | None = None
        providersUsed: list[str] = attrs.Factory(list)
        endpointHost: str | None = None
        promptVersion: str | None = None
        promptTemplates: dict[str, Any] | None = None
        inputTokens: int = 0
        outputTokens: int = 0
        calls: int = 0
        failedCalls: int = 0

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA_URL

    HuggingFaceRunFacet.__module__ = __name__
    HuggingFaceRunFacet.__qualname__ = "HuggingFaceRunFacet"
    return HuggingFaceRunFacet


def producer() -> str:
    """The ``_producer`` of the run facet: this package's source at its version."""
    from airflow_provider_huggingface import __version__

    return f"{SOURCE_URL}/tree/{__version__}"


def run_facet(facts: LineageFacts) -> Any:
    """The ``huggingface`` run facet of ``facts`` (an OpenLineage ``RunFacet``)."""
    return _facet_class()(**facts.facet_fields(), producer=producer())


def _model_dataset(namespace: str, name: str) -> Any:
    from openlineage.client.event_v2 import Dataset

    try:
        from openlineage.client.facet_v2 import dataset_type_dataset
    except ImportError:  # an openlineage-python older than the dataset type facet (1.24)
        return Dataset(namespace=namespace, name=name)
    return Dataset(
        namespace=namespace,
        name=name,
        facets={"datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(datasetType="MODEL")},
    )


def operator_lineage(facts: LineageFacts) -> OperatorLineage:
    """Airflow's ``OperatorLineage`` for ``facts``: file and model datasets, and the run facet."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset

    files_in = [Dataset(*file_dataset_name(location)) for location in facts.inputs]
    files_out = [Dataset(*file_dataset_name(location)) for location in facts.outputs]
    models = [_model_dataset(*name) for name in facts.model_datasets()]
    return OperatorLineage(
        inputs=[*files_in, *models], outputs=files_out, run_facets={FACET_NAME: run_facet(facts)}
    )
