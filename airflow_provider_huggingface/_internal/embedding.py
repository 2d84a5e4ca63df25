"""What an embedding call sends and gets back: the checked request, the reply read and checked (one
vector per text, in order, all of one length), and the two ways it is sent.

- On the router, huggingface_hub's ``feature_extraction`` (it picks each provider's URL and body, and
  returns a numpy array: numpy is the ``embeddings`` extra of this package).
- On an endpoint connection (TEI, vLLM, llama.cpp with ``--embedding``, an Inference Endpoint), the
  OpenAI-compatible ``POST {endpoint}/v1/embeddings`` with ``{"model", "input": [...]}``: given a URL,
  ``feature_extraction`` would post ``{"inputs": ...}`` to it unchanged, which those servers refuse.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from airflow_provider_huggingface._internal.chat import UnreadableReply, check_encodable, served_model
from airflow_provider_huggingface.exceptions import ConfigurationError
from airflow_provider_huggingface.provider_info import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_huggingface._internal.chat import TokenUsage
    from airflow_provider_huggingface._internal.connection import ConnectionSettings

EXTRA_HINT = "pip install 'airflow-provider-huggingface[embeddings]'"
_NUMPY_SHAPE_ERROR = "inhomogeneous"  # what numpy says of rows of different lengths


class EmbeddingResult(TypedDict):
    """An embedding call's result: plain JSON, the XCom of the embedding operator without a file."""

    embeddings: list[list[float]]  # one vector per text, in order
    dimensions: int
    model: str | None
    usage: TokenUsage | None  # None where the server gives none (the router's feature extraction)


@dataclass(frozen=True)
class EmbedRequest:
    """A checked embedding call, ready to send.

    :param where: where it goes, for log lines and errors.
    :param model: the model id (router), or the name an endpoint is sent (None: its own model).
    :param texts: the texts, each to get one vector.
    :param normalize: scale each vector to unit length (done here, the same on every server).
    :param truncate: on the router, let the server cut texts longer than the model takes.
    :param endpoint: the endpoint's base URL, or None for the router.
    """

    task: ClassVar[str] = "feature-extraction"

    where: str
    model: str | None
    texts: tuple[str, ...]
    normalize: bool = False
    truncate: bool = True
    endpoint: str | None = None

    @property
    def digest(self) -> str:
        """A fingerprint of what is asked: a stored vector is reused only for the same request."""
        return self.digest_of(self.texts)

    def digest_of(self, texts: tuple[str, ...]) -> str:
        """The digest of this request with ``texts`` instead (a batch's file has one per text)."""
        import hashlib

        digest = hashlib.blake2b(
            _settings(self.where, self.model, self.normalize, self.truncate), digest_size=16
        )
        for text in texts:  # each text's length, then the text: texts are delimited, not joined
            data = text.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()

    def with_text(self, text: str) -> EmbedRequest:
        """This request for ``text`` alone (quicker than ``dataclasses.replace``, once per input)."""
        return EmbedRequest(self.where, self.model, (text,), self.normalize, self.truncate, self.endpoint)

    def __str__(self) -> str:
        model = self.model or "(the endpoint's own)"
        size = sum(len(text) for text in self.texts)
        return f"{self.where}, model {model}, {len(self.texts)} text(s), {size} characters"

    def parts(self, size: int) -> list[EmbedRequest]:
        """The request cut into requests of at most ``size`` texts, in order."""
        from dataclasses import replace

        return [replace(self, texts=self.texts[i : i + size]) for i in range(0, len(self.texts), size)]


@functools.lru_cache(maxsize=64)
def _settings(where: str, model: str | None, normalize: bool, truncate: bool) -> bytes:
    """What a digest covers besides the texts, as bytes: the same for every text of a batch."""
    import json

    return json.dumps([where, model, normalize, truncate]).encode("ascii")


def build_embed_request(
    settings: ConnectionSettings,
    texts: Sequence[str],
    *,
    model: str | None = None,
    normalize: bool = False,
    truncate: bool = True,
) -> EmbedRequest:
    """The request of an embedding call on this connection, every argument checked; nothing is sent.

    The model is the one given, else :data:`DEFAULT_EMBEDDING_MODEL` on the router (the connection's
    ``default_model`` is a chat model's), else the endpoint's own.
    """
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise ConfigurationError(
            f"texts must be a list of strings (one vector each), not {type(texts).__name__}: "
            "for one text, give [text]."
        )
    for index, text in enumerate(texts):
        check_text(f"texts[{index}]", text)
    if model is not None and not isinstance(model, str):
        raise ConfigurationError(
            f"model={model!r} is not valid: it must be a model id string, e.g. "
            f"model='{DEFAULT_EMBEDDING_MODEL}' (or leave it out for that default)."
        )
    for name, value in (("normalize", normalize), ("truncate", truncate)):
        if not isinstance(value, bool):
            raise ConfigurationError(f"{name}={value!r} is not valid: give True or False.")
    chosen = (model or "").strip() or None
    if settings.base_url is None:
        from airflow_provider_huggingface._internal.connection import check_model_id

        chosen = chosen or DEFAULT_EMBEDDING_MODEL
        check_model_id(chosen)
        check_router_embeddings(settings)
    return EmbedRequest(
        where=settings.where,
        model=chosen,
        texts=tuple(texts),
        normalize=normalize,
        truncate=truncate,
        endpoint=settings.base_url,
    )


def check_text(field: str, text: Any) -> None:
    """A text to embed: a string with something in it (servers refuse or fail on an empty one)."""
    if not isinstance(text, str):
        raise ConfigurationError(f"{field} is {type(text).__name__}, not text: each input must be a string.")
    if not text.strip():
        raise ConfigurationError(
            f"{field} is empty: there is nothing to embed (servers refuse it, or fail). Leave out empty "
            "texts before this task."
        )
    check_encodable(field, text)


def check_router_embeddings(settings: ConnectionSettings) -> None:
    """Before any call: the connection's provider serves feature extraction, and numpy is there to
    read its answer (huggingface_hub returns a numpy array, and imports numpy only after the call)."""
    from airflow_provider_huggingface._internal.hub_compat import embedding_providers

    providers = embedding_providers()
    if settings.provider != "auto" and settings.provider not in providers:
        raise ConfigurationError(
            f"Connection '{settings.conn_id}': the inference provider '{settings.provider}' does not serve "
            f"embeddings (feature extraction). Set the connection's provider to 'auto', or one of: "
            f"{', '.join(providers)}; or use a connection to an embedding server (TEI, vLLM, llama.cpp)."
        )
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "Embeddings on the Hugging Face router need numpy (huggingface_hub returns the vectors as a "
            f"numpy array): {EXTRA_HINT}."
        ) from None


# ------------------------------------------------------------------------------------------------ replies


def router_result(array: Any, request: EmbedRequest) -> EmbeddingResult:
    """The result of feature extraction's numpy array: one row per text.

    :raises UnreadableReply: when it is not one vector per text (per-token features, a wrong count).
    """
    shape = tuple(getattr(array, "shape", ()))
    count = len(request.texts)
    if len(shape) == 1 and count == 1 and shape[0] > 0:
        vectors = [array.tolist()]
    elif len(shape) == 2 and shape[0] == count and shape[1] > 0:
        vectors = array.tolist()
    elif len(shape) > 2:
        raise UnreadableReply(
            f"The server answered features of shape {_shape(shape)}, not one vector per text: the model "
            "gives a vector per token (it has no pooling). Choose a sentence-embedding model, e.g. "
            f"{DEFAULT_EMBEDDING_MODEL} or BAAI/bge-small-en-v1.5.",
            reply=f"an array of shape {_shape(shape)}",
        )
    else:
        raise UnreadableReply(_wrong_count(shape[0] if shape else 0, count), reply=f"shape {_shape(shape)}")
    return _result(vectors, request, request.model, None)


def unreadable_array(error: ValueError) -> Exception:
    """numpy's refusal of rows of different lengths as the unreadable reply it is; another error as it is."""
    said = str(error)
    if _NUMPY_SHAPE_ERROR not in said:
        return error
    return UnreadableReply(
        "The server answered vectors of different lengths, so they are not points of one space: a "
        "server or proxy fault. Try again later, or another provider.",
        reply=said,
    )


def endpoint_result(body: Any, request: EmbedRequest) -> EmbeddingResult:
    """The result of an OpenAI-compatible ``/v1/embeddings`` answer: ``data[i].embedding`` by ``index``.

    :raises UnreadableReply: when it is not one vector per text, each of one length.
    """
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise UnreadableReply(None, reply=body)
    try:
        ordered = sorted(data, key=lambda entry: entry["index"])
        indices = [entry["index"] for entry in ordered]
        vectors = [entry["embedding"] for entry in ordered]
    except (KeyError, TypeError):
        raise UnreadableReply(None, reply=body) from None
    if len(vectors) != len(request.texts):
        raise UnreadableReply(_wrong_count(len(vectors), len(request.texts)), reply=body)
    if indices != list(range(len(vectors))):
        raise UnreadableReply(
            f"The server numbered its vectors {indices[:10]}, not 0 to {len(vectors) - 1}: which text each "
            "belongs to is unknown.",
            reply=body,
        )
    if not all(isinstance(vector, list) and vector for vector in vectors):
        raise UnreadableReply(
            "The server's embeddings are not lists of numbers (base64, or empty): this provider asks for "
            "floats and reads nothing else.",
            reply=body,
        )
    usage = body.get("usage")
    return _result(vectors, request, request.model or served_model(_Named(body)), _usage(usage))


def _result(
    vectors: list[list[float]], request: EmbedRequest, model: str | None, usage: TokenUsage | None
) -> EmbeddingResult:
    lengths = Counter(len(vector) for vector in vectors)
    if len(lengths) > 1:
        odd = next(i for i, vector in enumerate(vectors) if len(vector) != len(vectors[0]))
        counted = ", ".join(f"{n} of {length} values" for length, n in lengths.most_common())
        raise UnreadableReply(
            f"The server answered {len(vectors)} vectors of different lengths ({counted}; text {odd} "
            f"got {len(vectors[odd])} and text 0 got {len(vectors[0])}), so they are not points of one "
            "space: a server or proxy fault. Try again later, or another server.",
            reply=f"vectors of {sorted(lengths)} values",
        )
    if not all(all(map(math.isfinite, vector)) for vector in vectors):
        raise UnreadableReply(
            "The server answered a vector holding NaN or infinity: no distance can be measured to it. "
            "A server fault (an overflow in half precision?): try again, or another server.",
            reply="a vector holding NaN or infinity",
        )
    if request.normalize:
        vectors = [_unit(vector) for vector in vectors]
    return {"embeddings": vectors, "dimensions": len(vectors[0]), "model": model, "usage": usage}


def _unit(vector: list[float]) -> list[float]:
    norm = math.hypot(*vector)
    return vector if norm == 0 else [value / norm for value in vector]


def _wrong_count(got: int, sent: int) -> str:
    return (
        f"The server answered {got} vector(s) for {sent} text(s): each text must get one vector, in order, "
        "so none can be trusted. A server or proxy fault: try again later, or another server."
    )


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in shape) or "()"


def _usage(usage: Any) -> TokenUsage | None:
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": 0,
        "total_tokens": int(usage.get("total_tokens") or prompt),
    }


class _Named:
    """A parsed reply as :func:`served_model` reads it (an attribute ``model``)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.model = body.get("model")


# ----------------------------------------------------------------------------------------------- sending


def endpoint_call(
    request: EmbedRequest, settings: ConnectionSettings
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The URL, JSON body and headers of ``POST {endpoint}/v1/embeddings``."""
    body: dict[str, Any] = {"input": list(request.texts)}
    if request.model is not None:
        body["model"] = request.model
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    if settings.bill_to:
        headers["X-HF-Bill-To"] = settings.bill_to
    return f"{request.endpoint}/v1/embeddings", body, headers


def send(client: Any, request: EmbedRequest, settings: ConnectionSettings) -> EmbeddingResult:
    """Send one request with a synchronous ``InferenceClient`` (the router) or huggingface_hub's HTTP
    session (an endpoint)."""
    if request.endpoint is not None:
        from huggingface_hub.utils import get_session

        url, body, headers = endpoint_call(request, settings)
        response = get_session().post(url, json=body, headers=headers, timeout=settings.timeout)
        return endpoint_reply(response, request)
    try:
        array = client.feature_extraction(list(request.texts), model=request.model, truncate=request.truncate)
    except ValueError as error:
        raise unreadable_array(error) from None
    return router_result(array, request)


async def asend(client: Any, request: EmbedRequest, settings: ConnectionSettings) -> EmbeddingResult:
    """:func:`send` with an ``AsyncInferenceClient`` (an endpoint's request on the client's own session)."""
    if request.endpoint is not None:
        from airflow_provider_huggingface._internal.hub_compat import http_session

        url, body, headers = endpoint_call(request, settings)
        session = await http_session(client)
        response = await session.post(url, json=body, headers=headers, timeout=settings.timeout)
        return endpoint_reply(response, request)
    try:
        array = await client.feature_extraction(
            list(request.texts), model=request.model, truncate=request.truncate
        )
    except ValueError as error:
        raise unreadable_array(error) from None
    return router_result(array, request)


def endpoint_reply(response: Any, request: EmbedRequest) -> EmbeddingResult:
    """An endpoint's HTTP response read: an error status raised as huggingface_hub raises it, so the
    one error mapper reads it like any other; else its vectors."""
    from huggingface_hub.utils import hf_raise_for_status

    hf_raise_for_status(response)
    return endpoint_result(response.json(), request)
