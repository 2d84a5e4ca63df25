"""What the fake HF API answers to embedding calls, and real answers recorded from Hugging Face.

Two routes (``FakeHF`` routes them; this module builds the bodies):

- the router's feature extraction for provider ``hf-inference``, as huggingface_hub 1.x and 2.x send it:
  ``POST /hf-inference/models/{model}/pipeline/feature-extraction`` with ``{"inputs": str | [str],
  "normalize", "truncate", "dimensions", ...}`` (parameters at the root of the body). The answer is a bare
  JSON array: one vector for a string input, a list of vectors for a list, as the serverless API answered
  a sentence-transformers model (see ``recorded/``);
- the OpenAI-compatible ``POST /v1/embeddings`` of TEI, vLLM and llama.cpp: ``{"model", "input": str |
  [str], "dimensions", "encoding_format"}`` -> ``{"object": "list", "data": [{"object": "embedding",
  "index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}``.

Vectors are a pure function of the text (:func:`embedding_vector`), so a test can compute what any text
must come back as, on either route.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_EMBEDDING_DIM",
    "FEATURE_EXTRACTION_PATH",
    "OPENAI_EMBEDDINGS_PATH",
    "RecordedResponse",
    "embedding_vector",
    "feature_extraction_path",
    "load_recorded",
]

DEFAULT_EMBEDDING_DIM = 16
OPENAI_EMBEDDINGS_PATH = "/v1/embeddings"
FEATURE_EXTRACTION_PATH = re.compile(r"^/hf-inference/models/(?P<model>.+?)/pipeline/feature-extraction/?$")
RECORDED = Path(__file__).with_name("recorded")


def feature_extraction_path(model: str) -> str:
    """The router path huggingface_hub posts feature extraction to for ``provider="hf-inference"``."""
    return f"/hf-inference/models/{model}/pipeline/feature-extraction"


def embedding_vector(text: str, dim: int = DEFAULT_EMBEDDING_DIM, *, normalize: bool = True) -> list[float]:
    """The fake's vector for ``text``: values in [-1, 1) drawn from a hash of the text (SHAKE-256), so the
    same text always gives the same vector; a smaller ``dim`` gives a prefix of the larger one (before
    normalising), like Matryoshka models asked for fewer ``dimensions``. Rounded to 6 decimals, as JSON
    carries them."""
    stream = hashlib.shake_256(text.encode("utf-8")).digest(4 * dim)
    values = [n / 2**31 - 1.0 for n in struct.unpack(f"<{dim}I", stream)]
    if normalize:
        norm = math.sqrt(math.fsum(v * v for v in values)) or 1.0
        values = [v / norm for v in values]
    return [round(v, 6) for v in values]


def is_embedding(method: str, path: str) -> bool:
    """Whether a request is an embedding call, on either route."""
    path = path.rstrip("/")
    return method == "POST" and (
        path.endswith(OPENAI_EMBEDDINGS_PATH) or bool(FEATURE_EXTRACTION_PATH.match(path))
    )


def embedding_model(path: str, body: Any) -> str | None:
    """The model a call names: in the path on the router, in the body on ``/v1/embeddings``."""
    match = FEATURE_EXTRACTION_PATH.match(path)
    if match:
        return match.group("model")
    return body.get("model") if isinstance(body, dict) else None


def shape_vectors(vectors: list[list[float]], *, count_offset: int, ragged: bool) -> list[list[float]]:
    """Apply the fake's error switches: ``count_offset`` vectors more (copies of the last) or fewer, and
    ``ragged`` makes every second vector one value short."""
    if count_offset < 0:
        vectors = vectors[: max(0, len(vectors) + count_offset)]
    elif count_offset > 0 and vectors:
        vectors = vectors + [vectors[-1]] * count_offset
    if ragged:
        vectors = [v[:-1] if i % 2 else v for i, v in enumerate(vectors)]
    return vectors


def openai_payload(
    model: str, vectors: list[list[float]], prompt_tokens: int, encoding_format: str | None
) -> dict[str, Any]:
    """The ``/v1/embeddings`` answer; ``encoding_format="base64"`` packs vectors as little-endian float32."""

    def encode(vector: list[float]) -> Any:
        if encoding_format == "base64":
            return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        return vector

    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def batch_too_large(count: int, limit: int, *, openai: bool) -> dict[str, Any]:
    """TEI's 413 body for more inputs than ``--max-client-batch-size`` (native or OpenAI-compatible shape)."""
    message = f"batch size {count} > maximum allowed batch size {limit}"
    if openai:
        return {"message": message, "code": 413, "type": "Validation"}
    return {"error": message, "error_type": "Validation"}


# --------------------------------------------------------------------------------------------- recorded


@dataclass(frozen=True)
class RecordedResponse:
    """A real answer of Hugging Face's API, as recorded in huggingface_hub's own test cassettes.

    :param name: the file's name in ``tests/fakes/recorded/`` without ``.json``.
    :param source: where it was recorded and where the recording comes from.
    :param request: the method, URL and JSON body that was sent.
    :param status: the HTTP status of the answer.
    :param headers: the answer's content type and Hugging Face headers.
    :param body: the answer's JSON body, unchanged.
    """

    name: str
    source: dict[str, str]
    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: Any


def load_recorded(name: str) -> RecordedResponse:
    """A recorded answer by name, e.g. ``load_recorded("feature_extraction_all-MiniLM-L6-v2")``."""
    data = json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))
    response = data["response"]
    return RecordedResponse(
        name=name,
        source=data["source"],
        request=data["request"],
        status=response["status"],
        headers=response["headers"],
        body=response["body"],
    )
