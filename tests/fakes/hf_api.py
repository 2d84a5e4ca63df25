"""A fake of the Hugging Face HTTP API (Hub, router, OpenAI-style chat and embeddings) on real HTTP, with
fault injection.

Routes: ``POST .../chat/completions`` (JSON or SSE stream; tool calls: :mod:`tests.fakes.tool_calls`),
``POST .../v1/embeddings``, ``POST /hf-inference/models/{id}/pipeline/feature-extraction`` (the router's
feature extraction, see :mod:`tests.fakes.embeddings`), ``GET /v1/models``, ``GET /health``,
``GET /api/whoami-v2``, ``GET /api/models/{id}[/revision/{rev}]``, ``GET /api/tasks`` and
``GET /api/agent-harnesses``; anything else is a JSON 404.

    with FakeHF() as fake:
        fake.reply = "hi"
        fake.enqueue(Fault.rate_limited(retry_after=2), Fault.reset())
        InferenceClient(base_url=fake.url, token="hf_x").chat_completion(...)

The server is stdlib only; ``redirect_hub_to`` imports huggingface_hub lazily.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes import embeddings, tool_calls

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "DEFAULT_REDIRECT_HOSTS",
    "FakeHF",
    "Fault",
    "Recorded",
    "clear_hub_caches",
    "default_models",
    "make_model",
    "redirect_hub_to",
]

DEFAULT_REPLY = "Hello from the fake"
DEFAULT_MODEL = "fake-model"
# Hosts that huggingface_hub talks to by default: the router (inference) and the Hub (HF_ENDPOINT).
DEFAULT_REDIRECT_HOSTS = frozenset({"router.huggingface.co", "huggingface.co"})

_MODEL_PATH = re.compile(r"^/api/models/(?P<id>[^/]+(?:/[^/]+)?)(?:/revision/(?P<rev>[^/]+))?/?$")
_AUTH_CHECK_PATH = re.compile(r"^/api/models/(?P<id>[^/]+/[^/]+)/auth-check/?$")
# Splits text after each run of whitespace, so the pieces concatenate back to the exact text.
_PIECE_SPLIT = re.compile(r"(?<=\s)(?=\S)")
_INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
_INVALID_USER = "Invalid username or password."
# What `GET /api/tasks` gives InferenceClient when it needs a recommended model (model=None).
_TASKS = {
    task: {"widgetModels": [model]}
    for task, model in (
        ("conversational", "mistralai/Mistral-7B-Instruct-v0.3"),
        ("text-generation", "mistralai/Mistral-7B-Instruct-v0.3"),
        ("fill-mask", "google-bert/bert-base-uncased"),
    )
}


# --------------------------------------------------------------------------------------------------- faults


@dataclass
class Fault:
    """One injected misbehaviour; build it with the classmethods (``Fault.rate_limited()``...).

    ``path`` (a path prefix) makes the fault target a route other than chat completions.
    """

    kind: str
    code: int = 200
    body: Any = None
    headers: dict[str, str] | None = None
    seconds: float = 0.0
    after_chunks: int = 0
    message: str = ""
    error_type: str = ""
    path: str | None = None

    @classmethod
    def status(
        cls, code: int, body: Any = None, headers: dict[str, str] | None = None, *, after: float = 0.0
    ) -> Fault:
        """Any HTTP status with a JSON body (default ``{"error": <reason>}``, like the real API),
        ``after`` seconds."""
        return cls("status", code=code, body=body, headers=headers, seconds=after)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> Fault:
        """429; with a ``Retry-After`` header when ``retry_after`` is given."""
        headers = {"Retry-After": _fmt_seconds(retry_after)} if retry_after is not None else None
        return cls.status(429, {"error": "Rate limit reached. Please retry later."}, headers)

    @classmethod
    def loading(cls, estimated_time: float = 2.0) -> Fault:
        """503 "model is currently loading", as the serverless Inference API answers a cold model."""
        return cls("loading", code=503, seconds=estimated_time)

    @classmethod
    def server_error(cls, code: int = 500) -> Fault:
        """A 5xx with a JSON error body."""
        return cls.status(code)

    @classmethod
    def malformed_json(cls) -> Fault:
        """200 ``application/json`` with a truncated body."""
        return cls("malformed_json")

    @classmethod
    def html(cls, status: int = 200) -> Fault:
        """An HTML page, as a proxy or load balancer error page would be."""
        return cls("html", code=status)

    @classmethod
    def empty_choices(cls) -> Fault:
        """200 with ``"choices": []`` (and, when streaming, chunks without choices)."""
        return cls("empty_choices")

    @classmethod
    def cut_stream(cls, after_chunks: int = 2) -> Fault:
        """Send ``after_chunks`` events then close without ``[DONE]`` (non-stream: a short body)."""
        return cls("cut_stream", after_chunks=after_chunks)

    @classmethod
    def stream_error(
        cls, message: str = "Model is overloaded", error_type: str = "overloaded", after_chunks: int = 1
    ) -> Fault:
        """An ``{"error", "error_type"}`` event inside a 200 stream (non-stream: 503 with that body)."""
        return cls("stream_error", message=message, error_type=error_type, after_chunks=after_chunks)

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then reset the connection (RST, no response at all)."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        """Read the request and answer nothing for ``seconds`` (ended early by ``stop()``/``reset()``)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds``, then answer normally."""
        return cls("delay", seconds=seconds)

    def at(self, path: str) -> Fault:
        """The same fault, aimed at requests whose path starts with ``path``."""
        return _with_path(self, path)


def _with_path(fault: Fault, path: str) -> Fault:
    clone = copy.copy(fault)
    clone.path = path
    return clone


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --------------------------------------------------------------------------------------------------- records


@dataclass
class Recorded:
    """One request as the fake saw it. ``query`` values are lists (keys may repeat)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw: bytes
    time: float
    status: int | None = None
    fault: Fault | None = None
    chat_index: int | None = None
    embedding_index: int | None = None

    @property
    def is_chat(self) -> bool:
        """Whether this is a chat-completion call."""
        return _is_chat(self.method, self.path)

    @property
    def is_embedding(self) -> bool:
        """Whether this is an embedding call (``/v1/embeddings`` or the router's feature extraction)."""
        return embeddings.is_embedding(self.method, self.path)

    @property
    def is_inference(self) -> bool:
        """Whether this is a chat or an embedding call: what ``latency``, ``rate_limit`` and
        ``max_in_flight`` apply to."""
        return self.is_chat or self.is_embedding

    @property
    def token(self) -> str | None:
        """The bearer token, if any."""
        return _bearer(self.headers.get("authorization"))


def _is_chat(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/").endswith("/chat/completions")


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# --------------------------------------------------------------------------------------------------- models


def make_model(
    repo_id: str,
    *,
    pipeline_tag: str | None = "text-generation",
    tags: Iterable[str] = (),
    gated: bool | str = False,
    private: bool = False,
    providers: dict[str, str] | None = None,
    task: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A model-info document as ``GET /api/models/{id}`` returns it.

    ``providers`` maps a provider name to its status ("live", "staging", "error"); the mapping's task
    defaults to "conversational" for conversational models, else to the pipeline tag.
    """
    tags = list(tags)
    if task is None:
        task = "conversational" if "conversational" in tags else pipeline_tag
    mapping = {
        name: {"status": status, "providerId": repo_id, "task": task}
        for name, status in (providers or {}).items()
    }
    author = repo_id.split("/")[0] if "/" in repo_id else None
    doc: dict[str, Any] = {
        "_id": uuid.uuid5(uuid.NAMESPACE_URL, repo_id).hex[:24],
        "id": repo_id,
        "modelId": repo_id,
        "author": author,
        "sha": uuid.uuid5(uuid.NAMESPACE_DNS, repo_id).hex + "00000000",
        "lastModified": "2024-07-01T00:00:00.000Z",
        "createdAt": "2024-01-01T00:00:00.000Z",
        "private": private,
        "gated": gated,
        "disabled": False,
        "downloads": 1000,
        "likes": 10,
        "library_name": "transformers",
        "pipeline_tag": pipeline_tag,
        "tags": tags,
        "inferenceProviderMapping": mapping,
        "siblings": [],
    }
    doc.update(extra)
    return doc


def default_models() -> dict[str, dict[str, Any]]:
    """A fresh copy of the registry every ``reset()`` goes back to."""
    chat_tags = ["transformers", "safetensors", "text-generation", "conversational"]
    embedding_tags = ["sentence-transformers", "pytorch", "safetensors", "bert", "feature-extraction", "en"]
    models = [
        make_model(
            "mistralai/Mistral-7B-Instruct-v0.3",
            tags=["mistral", *chat_tags],
            providers={"hf-inference": "live"},
        ),
        make_model(
            "meta-llama/Llama-3.1-8B-Instruct",
            tags=["llama", *chat_tags],
            gated="manual",
            providers={"hf-inference": "live"},
        ),
        make_model(
            "bigcode/starcoder2-15b",
            tags=["transformers", "safetensors", "starcoder2", "text-generation", "code"],
        ),
        make_model(
            "google-bert/bert-base-uncased",
            pipeline_tag="fill-mask",
            tags=["transformers", "pytorch", "bert", "fill-mask", "en"],
            providers={"hf-inference": "live"},
        ),
        make_model(
            "fake-org/errored-chat-model",
            tags=list(chat_tags),
            providers={"hf-inference": "error"},
        ),
        make_model(
            "fake-org/private-chat-model",
            tags=list(chat_tags),
            private=True,
            providers={"hf-inference": "live"},
        ),
        # Embedding models as the Hub describes them: a sentence-transformers model is tagged
        # sentence-similarity, and huggingface_hub accepts it for feature extraction by its tags.
        make_model(
            "sentence-transformers/all-MiniLM-L6-v2",
            pipeline_tag="sentence-similarity",
            tags=[*embedding_tags, "sentence-similarity"],
            library_name="sentence-transformers",
            providers={"hf-inference": "live"},
            task="feature-extraction",
        ),
        make_model(
            "BAAI/bge-small-en-v1.5",
            pipeline_tag="feature-extraction",
            tags=[*embedding_tags, "sentence-similarity"],
            library_name="sentence-transformers",
            providers={"hf-inference": "live"},
        ),
    ]
    return {doc["id"]: doc for doc in models}


# --------------------------------------------------------------------------------------------------- server


class _Aborted(Exception):
    """A wait was cut short by ``stop()`` or ``reset()``."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog (5) drops SYNs when ~40 clients connect at once; retransmits cost 1 s each.
    # 1,024 lets a benchmark open a thousand connections at once (the kernel caps it at somaxconn).
    request_queue_size = 1024

    fake: FakeHF

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer is normal here (timeouts, faults); keep stderr quiet.
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            self.fake._note_error(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHF/1.0"
    # Headers and body go out as separate writes; with Nagle on, the body waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: _Server

    # ---- plumbing

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log."""

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_POST

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        fake = self.server.fake
        raw = self._read_body()
        split = urlsplit(self.path)
        path = unquote(split.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._rec = fake._record(
            Recorded(
                method=self.command,
                path=path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw=raw,
                time=time.monotonic(),
            )
        )
        self._abort = fake._abort_event
        self._headers_sent = False
        try:
            if self._rec.is_inference:
                generation = fake._enter_chat()
                try:
                    self._route()
                finally:
                    fake._leave_chat(generation)
            else:
                self._route()
        except _Aborted:
            self.close_connection = True
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug in the fake or in a reply callable: answer 500 and keep it
            fake._note_error(exc)
            if self._headers_sent:
                self.close_connection = True
            else:
                self._json(500, {"error": f"fake server error: {type(exc).__name__}: {exc}"})

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self._abort.wait(seconds):
            raise _Aborted

    # ---- routing

    def _route(self) -> None:
        fake = self.server.fake
        rec = self._rec
        if rec.is_inference:
            self._wait(fake.latency or 0.0)
        fault = fake._take_fault(rec)
        if fault is not None:
            rec.fault = fault
            if self._apply_fault(fault):
                return
        path = rec.path.rstrip("/") or "/"
        if rec.is_chat:
            self._chat()
        elif rec.is_embedding:
            self._embeddings()
        elif path == "/health" and self.command == "GET":
            self._json(200, {"status": "ok"})
        elif path.endswith("/v1/models") and self.command == "GET":
            if self._check_token(_INVALID_USER):
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": DEFAULT_MODEL, "object": "model", "owned_by": "fake"}],
                    },
                )
        elif path == "/api/whoami-v2" and self.command == "GET":
            self._whoami()
        elif path == "/api/agent-harnesses" and self.command == "GET":
            # Fetched once per process by huggingface_hub's user-agent code unless telemetry is disabled.
            self._json(200, {"standardEnvVars": [], "harnesses": {}})
        elif path == "/api/tasks" and self.command == "GET":
            self._json(200, _TASKS)
        elif (m := _AUTH_CHECK_PATH.match(rec.path)) and self.command == "GET":
            self._model_info(m.group("id"), gate=True, body={})
        elif (m := _MODEL_PATH.match(rec.path)) and self.command == "GET":
            self._model_info(m.group("id"))
        else:
            self._json(404, {"error": "Not Found"})

    def _check_token(self, message: str, *, required: bool = False) -> bool:
        """Send a 401 and return False unless the request's token is acceptable."""
        token = self._rec.token
        fake = self.server.fake
        if token is None and not required and fake.valid_tokens is None:
            return True
        if token is not None and fake._token_ok(token):
            return True
        self._json(401, {"error": message}, {"X-Error-Message": message})
        return False

    def _whoami(self) -> None:
        if not self._check_token(_INVALID_CREDENTIALS, required=True):
            return
        self._json(
            200,
            {
                "type": "user",
                "id": "0123456789abcdef01234567",
                "name": "fake-user",
                "fullname": "Fake User",
                "email": "fake-user@example.com",
                "emailVerified": True,
                "isPro": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "airflow", "role": "read"}},
            },
        )

    def _model_info(self, repo_id: str, *, gate: bool | None = None, body: dict | None = None) -> None:
        """Model info, or with ``body`` the Hub's auth-check (which always enforces gating)."""
        fake = self.server.fake
        token = self._rec.token
        # The Hub rejects a bad token on every API route, before looking at the repo.
        if token is not None and not fake._token_ok(token):
            self._json(401, {"error": _INVALID_CREDENTIALS}, {"X-Error-Message": _INVALID_CREDENTIALS})
            return
        doc = fake.models.get(repo_id)
        granted = token is not None and token in fake.repo_access
        if doc is None or (doc.get("private") and not granted):
            msg = "Repository not found"
            self._json(404, {"error": msg}, {"X-Error-Code": "RepoNotFound", "X-Error-Message": msg})
            return
        if doc.get("gated") and not granted and (fake.gate_model_info if gate is None else gate):
            if token is None:
                code = 401
                msg = (
                    f"Access to model {repo_id} is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in."
                )
            else:
                code = 403
                msg = (
                    f"Access to model {repo_id} is restricted and you are not in the authorized list. "
                    f"Visit https://huggingface.co/{repo_id} to ask for access."
                )
            self._json(code, {"error": msg}, {"X-Error-Code": "GatedRepo", "X-Error-Message": msg})
            return
        if body is not None:
            self._json(200, body)
            return
        doc = copy.deepcopy(doc)
        doc.setdefault("id", repo_id)
        doc.setdefault("modelId", repo_id)
        expand = self._rec.query.get("expand", []) + self._rec.query.get("expand[]", [])
        if expand:
            # Like the Hub: with `expand`, only the ids and the requested properties come back.
            doc = {k: v for k, v in doc.items() if k in ("_id", "id") or k in expand}
        self._json(200, doc)

    # ---- chat completions

    def _admitted(self) -> bool:
        """Check an inference call's token and the rate limit; answer 401 or 429 and return False if not."""
        if not self._check_token(_INVALID_USER):
            return False
        retry_after = self.server.fake._admit()
        if retry_after is not None:
            self._json(
                429,
                {"error": "Rate limit reached. Please retry later."},
                {"Retry-After": str(retry_after)},
            )
            return False
        return True

    def _chat(self) -> None:
        if not self._admitted():
            return
        fake = self.server.fake
        body = self._rec.body if isinstance(self._rec.body, dict) else {}
        refused = tool_calls.refusal(fake.refuse_tools, body)
        if refused is not None:
            self._json(*refused)
            return
        reply = self._reply()
        message: dict[str, Any] | None = None
        if tool_calls.is_tool_reply(reply):
            message, completion = tool_calls.tool_message(
                reply, new_id=fake._call_ids, as_object=fake.tool_arguments_as_object
            )
            text, finish = "", "tool_calls"
        else:
            text, finish = _apply_limits(str(reply), body)
            completion = _count_words(text)
        model = _answer_model(body)
        prompt = _count_words(" ".join(_message_texts(body.get("messages"))))
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            reported = usage if include_usage and fake.report_usage else None
            if message is None:
                self._stream(_chunks(model, text, finish, reported))
            else:
                self._stream(_delta_chunks(model, list(tool_calls.stream_deltas(message)), finish, reported))
        else:
            answer = _completion(model, text, finish, usage, message=message)
            if not fake.report_usage:
                del answer["usage"]
            self._json(200, answer)

    # ---- embeddings

    def _embeddings(self) -> None:
        fake = self.server.fake
        rec = self._rec
        if not self._admitted():
            return
        body = rec.body if isinstance(rec.body, dict) else {}
        openai = rec.path.rstrip("/").endswith(embeddings.OPENAI_EMBEDDINGS_PATH)
        inputs = body.get("input" if openai else "inputs")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            key = "input" if openai else "inputs"
            self._json(
                422, {"error": f"`{key}` must be a string or a list of strings", "error_type": "Validation"}
            )
            return
        if not texts:
            self._json(400, {"error": "`inputs` cannot be empty", "error_type": "Empty"})
            return
        if fake.embedding_max_batch is not None and len(texts) > fake.embedding_max_batch:
            self._json(413, embeddings.batch_too_large(len(texts), fake.embedding_max_batch, openai=openai))
            return
        if fake.embedding_reply is not None:
            reply = fake.embedding_reply
            self._json(200, reply(body) if callable(reply) else reply)
            return
        dim = body.get("dimensions") or fake.embedding_dim
        if not isinstance(dim, int) or not 0 < dim <= fake.embedding_dim:
            message = f"`dimensions` must be between 1 and {fake.embedding_dim}, got {dim!r}"
            self._json(422, {"error": message, "error_type": "Validation"})
            return
        # TEI normalises unless told not to; OpenAI-compatible servers always do.
        normalize = openai or body.get("normalize") is not False
        vectors = embeddings.shape_vectors(
            [embeddings.embedding_vector(text, dim, normalize=normalize) for text in texts],
            count_offset=fake.embedding_count_offset,
            ragged=fake.embedding_ragged,
        )
        if openai:
            words = sum(_count_words(text) for text in texts)
            payload = embeddings.openai_payload(
                _answer_model(body), vectors, words, body.get("encoding_format")
            )
            self._json(200, payload)
        else:
            # Like the serverless API: one vector for a string, a list of vectors for a list.
            one = isinstance(inputs, str) and len(vectors) == 1
            self._json(200, vectors[0] if one else vectors)

    def _reply(self) -> Any:
        """``fake.reply`` for this request: text, or a dict that calls tools."""
        reply = self.server.fake.reply
        body = self._rec.body if isinstance(self._rec.body, dict) else {}
        return reply(body) if callable(reply) else reply

    def _reply_text(self) -> str:
        """The reply's text, for the faults that send part of it (a tool-call reply's content, or none)."""
        return tool_calls.reply_content(self._reply()) or ""

    # ---- faults

    def _apply_fault(self, fault: Fault) -> bool:
        """Carry out ``fault``; return False when normal handling should follow (``delay``)."""
        kind = fault.kind
        streaming = self._rec.is_chat and bool(
            isinstance(self._rec.body, dict) and self._rec.body.get("stream")
        )
        model = (self._rec.body or {}).get("model") if isinstance(self._rec.body, dict) else None
        model = model or DEFAULT_MODEL
        if kind == "delay":
            self._wait(fault.seconds)
            return False
        if kind == "status":
            if fault.seconds:
                self._wait(fault.seconds)
            body = fault.body
            if body is None:
                body = {"error": self.responses.get(fault.code, ("Error",))[0]}
            self._json(fault.code, body, fault.headers)
        elif kind == "loading":
            self._json(
                503,
                {"error": f"Model {model} is currently loading", "estimated_time": fault.seconds},
            )
        elif kind == "malformed_json":
            broken = '{"id": "chatcmpl-broken", "object": "chat.completion", "choi'
            if streaming:
                self._stream([broken])
            else:
                self._raw(200, "application/json", broken.encode())
        elif kind == "html":
            page = (
                "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
            )
            self._raw(fault.code, "text/html; charset=utf-8", page.encode())
        elif kind == "empty_choices":
            if streaming:
                chunk = {**_chunk_base(model), "choices": []}
                self._stream([chunk])
            else:
                usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
                self._json(200, {**_completion(model, "", "stop", usage), "choices": []})
        elif kind == "cut_stream":
            if streaming:
                chunks = _chunks(model, self._reply_text(), "stop", None)[: fault.after_chunks]
                self._stream(chunks, finish=False)
            else:
                usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                data = json.dumps(_completion(model, "cut", "stop", usage)).encode()
                self._raw(200, "application/json", data[: len(data) // 2], length=len(data))
            self.close_connection = True
        elif kind == "stream_error":
            error = {"error": fault.message, "error_type": fault.error_type}
            if streaming:
                chunks = _chunks(model, self._reply_text(), None, None)[: fault.after_chunks]
                self._stream([*chunks, error], done=False)
            else:
                self._json(503, error)
        elif kind == "reset":
            self._reset_connection()
        elif kind == "hang":
            with contextlib.suppress(_Aborted):
                self._wait(fault.seconds)
            self.close_connection = True
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        return True

    def _reset_connection(self) -> None:
        # SO_LINGER with a zero timeout turns close() into an RST; closing the fd ourselves (after
        # detaching it) keeps socketserver from sending a FIN first through shutdown(SHUT_WR).
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        socket.close(self.connection.detach())
        self.close_connection = True

    # ---- writers

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        headers = {"X-Request-Id": uuid.uuid4().hex, **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self._headers_sent = True
        self._rec.status = status

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._raw(status, "application/json", json.dumps(obj).encode(), headers=headers)

    def _raw(
        self,
        status: int,
        content_type: str,
        data: bytes,
        *,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        all_headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(data) if length is None else length),
        }
        all_headers.update(headers or {})
        self._start(status, all_headers)
        if self.command != "HEAD":  # a HEAD answer has headers only, or keep-alive framing breaks
            self.wfile.write(data)
            self.wfile.flush()

    def _stream(self, events: list[Any], *, finish: bool = True, done: bool = True) -> None:
        """Server-sent events over chunked encoding; ``finish=False`` drops the connection mid-body.

        Events are JSON-encoded unless already a string.
        """
        self._start(
            200,
            {
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "Transfer-Encoding": "chunked",
            },
        )
        payloads = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
        if finish and done:
            payloads.append("data: [DONE]\n\n")
        for payload in payloads:
            data = payload.encode()
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        if finish:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        else:
            # Without the terminating chunk the client sees an incomplete body: a cut stream.
            self.close_connection = True


# --------------------------------------------------------------------------------------------------- payloads


def _message_texts(messages: Any) -> list[str]:
    texts: list[str] = []
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(part["text"] for part in content if isinstance(part, dict) and "text" in part)
    return texts


def _answer_model(body: dict[str, Any]) -> str:
    """Like TGI, a server that was sent no real model name answers with its own."""
    return body.get("model") if body.get("model") not in (None, "", "dummy") else DEFAULT_MODEL


def _count_words(text: str) -> int:
    return len(text.split())


def _apply_limits(text: str, body: dict[str, Any]) -> tuple[str, str]:
    """Honour ``stop`` and ``max_tokens`` (1 token = 1 word) and pick the finish reason."""
    stop = body.get("stop")
    for marker in [stop] if isinstance(stop, str) else stop or []:
        if marker and marker in text:
            text = text[: text.index(marker)]
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens >= 0 and _count_words(text) > max_tokens:
        words = list(re.finditer(r"\S+", text))
        return text[: words[max_tokens - 1].end() if max_tokens else 0], "length"
    return text, "stop"


def _chunk_base(model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fake-fp",
    }


def _completion(
    model: str, text: str, finish: str, usage: dict[str, int], *, message: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A chat completion whose message is ``text``, or ``message`` when given (a tool-call reply's)."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fake-fp",
        "choices": [
            {
                "index": 0,
                "message": message or {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": usage,
    }


def _chunks(model: str, text: str, finish: str | None, usage: dict[str, int] | None) -> list[dict[str, Any]]:
    """Stream chunks TGI-style: one per word, the last one carrying ``finish_reason``."""
    pieces = [p for p in _PIECE_SPLIT.split(text) if p] or [""]
    return _delta_chunks(model, [{"role": "assistant", "content": piece} for piece in pieces], finish, usage)


def _delta_chunks(
    model: str, deltas: list[dict[str, Any]], finish: str | None, usage: dict[str, int] | None
) -> list[dict[str, Any]]:
    """One chunk per delta, the last one carrying ``finish_reason``; then the usage chunk, if any."""
    base = _chunk_base(model)
    chunks = [
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": None,
                    "finish_reason": finish if i == len(deltas) - 1 else None,
                }
            ],
        }
        for i, delta in enumerate(deltas)
    ]
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


# --------------------------------------------------------------------------------------------------- control


class FakeHF:
    """The fake Hugging Face API and its thread-safe control surface.

    Knobs (all restored by ``reset()``): ``reply`` (str, or a dict that calls tools, or
    ``callable(body)`` returning either: see :mod:`tests.fakes.tool_calls`), ``latency``
    (seconds before each chat or embedding answer), ``rate_limit`` (chat and embedding requests per
    sliding second), ``valid_tokens`` (None: any ``hf_`` token, and no token on chat or embeddings),
    ``repo_access`` (tokens that see gated/private repos), ``gate_model_info`` (gated repos answer 401/403
    on model info), ``fault_plan``, ``model_faults`` (a fault per model a chat or embedding call names)
    and ``models``. Tool calling: ``tool_arguments_as_object`` (a call's arguments as a JSON object, as
    TGI sends them, instead of JSON text) and ``refuse_tools`` (``"llama.cpp"`` or ``"vllm"``: refuse
    ``tools`` as that server does without tool calling switched on).

    Embedding knobs: ``embedding_dim`` (the vectors' length, default 16; a call's ``dimensions`` may ask
    for fewer), ``embedding_reply`` (a fixed JSON answer, or ``callable(body) -> answer``, e.g. a recorded
    one), ``embedding_count_offset`` (answer that many vectors more, or fewer when negative, than texts
    sent), ``embedding_ragged`` (every second vector one value short), ``embedding_max_batch`` (more
    texts in one call answer TEI's 413) and ``embedding_fault_plan`` (like ``fault_plan``, numbered by
    embedding call). One-shot faults reach embeddings when aimed at their path:
    ``fake.enqueue(Fault.rate_limited().at("/v1/embeddings"))``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, keep_requests: bool = True) -> None:
        """``keep_requests=False`` numbers chat and embedding calls but keeps none of them (``requests``
        stays empty): for benchmarks of a hundred thousand calls, whose records would outgrow them."""
        self._host = host
        self._port = port
        self._keep_requests = keep_requests
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._abort_event = threading.Event()
        self.errors: list[BaseException] = []
        self._clear()

    # ---- lifecycle

    def start(self) -> FakeHF:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._abort_event = threading.Event()
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        # A short poll interval keeps stop() quick.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hf", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; ends hanging handlers and drops open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._abort_event.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            # Unblocks handler threads waiting for the next request on a keep-alive connection.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeHF:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self._server is None:
            raise RuntimeError("FakeHF is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Back to defaults: no faults, records, latency or rate limit; default models, reply and tokens.

        Also ends any request that is hanging or sleeping.
        """
        with self._lock:
            old, self._abort_event = self._abort_event, threading.Event()
            self._clear()
        old.set()

    def _clear(self) -> None:
        self.reply: Any = DEFAULT_REPLY  # str | tool-call dict | Callable[[dict], str | dict]
        self.tool_arguments_as_object = False
        self.refuse_tools: tool_calls.ToolServer | None = None
        self._call_ids = tool_calls.CallIds()
        self.report_usage = True  # False: replies without usage, as some servers send
        self.latency: float = 0.0
        self.rate_limit: int | None = None
        self.valid_tokens: set[str] | None = None
        self.repo_access: set[str] = set()
        # Like the Hub, a gated model's metadata is public; access is enforced by auth-check and calls.
        self.gate_model_info: bool = False
        self.fault_plan: Callable[[int, Any], Fault | None] | None = None
        # A fault every chat or embedding call naming this model meets, e.g. {"org/gone": Fault.status(410)}.
        self.model_faults: dict[str, Fault] = {}
        # Embeddings: the vectors' length, a fixed answer (or callable(body) -> answer) instead of them,
        # vectors more or fewer than texts, every second vector one short, TEI's client batch limit, and
        # a fault_plan of their own (indexed by embedding call).
        self.embedding_dim: int = embeddings.DEFAULT_EMBEDDING_DIM
        self.embedding_reply: Any = None
        self.embedding_count_offset: int = 0
        self.embedding_ragged: bool = False
        self.embedding_max_batch: int | None = None
        self.embedding_fault_plan: Callable[[int, Any], Fault | None] | None = None
        self.models: dict[str, dict[str, Any]] = default_models()
        self._faults: list[Fault] = []
        self._requests: list[Recorded] = []
        self._chat_count = 0
        self._embedding_count = 0
        self._in_flight = 0
        self._generation = getattr(self, "_generation", 0) + 1
        self._max_in_flight = 0
        self._connections_opened = 0
        # Connections accepted since the last reset: a test counts only its own, not the keep-alive
        # sockets an earlier test's client still holds.
        self._opened_since_reset: set[socket.socket] = set()
        self._admitted: deque[float] = deque()
        self.errors = []

    # ---- faults

    def enqueue(self, *faults: Fault, path_prefix: str | None = None) -> None:
        """Queue one-shot faults for the next matching requests (chat completions unless a path is set)."""
        with self._lock:
            for fault in faults:
                self._faults.append(_with_path(fault, path_prefix) if path_prefix is not None else fault)

    @property
    def pending_faults(self) -> list[Fault]:
        """Queued faults not used yet."""
        with self._lock:
            return list(self._faults)

    def _take_fault(self, rec: Recorded) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if (fault.path is None and rec.is_chat) or (
                    fault.path is not None and rec.path.startswith(fault.path)
                ):
                    return self._faults.pop(i)
            if rec.is_chat:
                model = rec.body.get("model") if isinstance(rec.body, dict) else None
            else:
                model = embeddings.embedding_model(rec.path, rec.body) if rec.is_embedding else None
            if model in self.model_faults:
                return self.model_faults[model]
            if rec.is_embedding:
                plan, n = self.embedding_fault_plan, rec.embedding_index
            else:
                plan, n = self.fault_plan, rec.chat_index
        if plan is not None and n is not None:
            return plan(n, rec.body)
        return None

    # ---- records

    def _record(self, rec: Recorded) -> Recorded:
        with self._changed:
            if rec.is_chat:
                rec.chat_index = self._chat_count
                self._chat_count += 1
            elif rec.is_embedding:
                rec.embedding_index = self._embedding_count
                self._embedding_count += 1
            if self._keep_requests:
                self._requests.append(rec)
            self._changed.notify_all()
        return rec

    @property
    def requests(self) -> list[Recorded]:
        """Every request so far (a snapshot), faulted ones included."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[Recorded]:
        """The chat-completion requests so far."""
        return [r for r in self.requests if r.is_chat]

    @property
    def embedding_requests(self) -> list[Recorded]:
        """The embedding requests so far, on either route."""
        return [r for r in self.requests if r.is_embedding]

    @property
    def call_counts(self) -> dict[str, int]:
        """How many ``chat`` and ``embedding`` calls arrived since the last reset (kept or not)."""
        with self._lock:
            return {"chat": self._chat_count, "embedding": self._embedding_count}

    def wait_for_requests(
        self, count: int, *, timeout: float = 5.0, chat_only: bool = True
    ) -> list[Recorded]:
        """Block until ``count`` (chat) requests arrived; raise TimeoutError otherwise."""

        def matching() -> list[Recorded]:
            return [r for r in self._requests if r.is_chat or not chat_only]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                raise TimeoutError(f"got {len(matching())} requests, wanted {count}")
            return matching()

    @property
    def max_in_flight(self) -> int:
        """Most chat requests handled at once since the last reset."""
        with self._lock:
            return self._max_in_flight

    def _enter_chat(self) -> int:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            return self._generation

    def _leave_chat(self, generation: int) -> None:
        with self._lock:
            # A request that began before the last reset() was not counted by the current counters.
            if generation == self._generation:
                self._in_flight -= 1

    def _admit(self) -> int | None:
        """Sliding 1 s window: None if the request may go on, else the Retry-After in seconds."""
        with self._lock:
            now = time.monotonic()
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.popleft()
            if self.rate_limit is not None and len(self._admitted) >= self.rate_limit:
                return max(1, int(self._admitted[0] + 1.0 - now + 0.999))
            self._admitted.append(now)
            return None

    def _token_ok(self, token: str) -> bool:
        valid = self.valid_tokens
        return token.startswith("hf_") if valid is None else token in valid

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self._opened_since_reset.add(conn)
                self._connections_opened += 1
            else:
                self._connections.discard(conn)
                self._opened_since_reset.discard(conn)

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted since the last reset (a shared client reuses them)."""
        with self._lock:
            return self._connections_opened

    @property
    def open_connections(self) -> int:
        """TCP connections accepted since the last reset and open right now (a closed client leaves none)."""
        with self._lock:
            return len(self._opened_since_reset)

    def _note_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    # ---- models

    def add_model(self, repo_id: str, **kwargs: Any) -> dict[str, Any]:
        """Register a model built by ``make_model`` (same keyword arguments) and return its document."""
        doc = make_model(repo_id, **kwargs)
        self.models[repo_id] = doc
        return doc


# --------------------------------------------------------------------------------------------------- redirect


def _httpx_module() -> Any:
    """The HTTP library huggingface_hub itself uses: httpx2 (2.x) or httpx (1.x)."""
    from huggingface_hub.utils import _http

    return getattr(_http, "httpx2", None) or _http.httpx


def clear_hub_caches() -> None:
    """Forget the provider mappings and task checks huggingface_hub caches per process.

    ``InferenceClient`` memoises Hub lookups (``lru_cache``), so without this a registry edit made in one
    test would not be seen by a later one.
    """
    import importlib

    for module_name, names in (
        ("huggingface_hub.inference._providers._common", ("_fetch_inference_provider_mapping",)),
        (
            "huggingface_hub.inference._providers.hf_inference",
            ("_check_supported_task", "_fetch_recommended_models"),
        ),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in names:
            func = getattr(module, name, None)
            if hasattr(func, "cache_clear"):
                func.cache_clear()


def redirect_hub_to(url: str, hosts: Iterable[str] = DEFAULT_REDIRECT_HOSTS) -> Callable[[], None]:
    """Send huggingface_hub's requests for the Hub and the router to ``url``; return ``undo()``.

    Installs client factories built like huggingface_hub's defaults but with a transport that swaps
    scheme/host/port of requests to ``hosts``, keeping path, query and the original ``Host`` header.
    """
    import huggingface_hub
    from huggingface_hub.utils import _http

    httpx = _httpx_module()
    target = httpx.URL(url)
    hosts = frozenset(h.lower() for h in hosts)

    def rewrite(request: Any) -> Any:
        if (request.url.host or "").lower() not in hosts:
            return request
        new_url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
        # A new request, so the caller's response.request keeps the public URL: huggingface_hub parses
        # repo ids out of it when it turns errors into exceptions.
        return httpx.Request(
            request.method,
            new_url,
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )

    class _Transport(httpx.BaseTransport):
        def __init__(self) -> None:
            self._inner = httpx.HTTPTransport()

        def handle_request(self, request: Any) -> Any:
            return self._inner.handle_request(rewrite(request))

        def close(self) -> None:
            self._inner.close()

    class _AsyncTransport(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: Any) -> Any:
            return await self._inner.handle_async_request(rewrite(request))

        async def aclose(self) -> None:
            await self._inner.aclose()

    # Copy hooks, redirects and timeout from a default client rather than naming huggingface_hub's hook
    # functions, which differ between versions.
    template = _http.default_client_factory()
    settings = {
        "event_hooks": template.event_hooks,
        "follow_redirects": template.follow_redirects,
        "timeout": template.timeout,
    }
    template.close()
    async_template = _http.default_async_client_factory()
    async_settings = {
        "event_hooks": async_template.event_hooks,
        "follow_redirects": async_template.follow_redirects,
        "timeout": async_template.timeout,
    }

    def client_factory() -> Any:
        return httpx.Client(transport=_Transport(), **settings)

    def async_client_factory() -> Any:
        return httpx.AsyncClient(transport=_AsyncTransport(), **async_settings)

    previous = (
        getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory),
        getattr(_http, "_GLOBAL_ASYNC_CLIENT_FACTORY", _http.default_async_client_factory),
    )
    huggingface_hub.set_client_factory(client_factory)
    huggingface_hub.set_async_client_factory(async_client_factory)

    def undo() -> None:
        huggingface_hub.set_client_factory(previous[0])
        huggingface_hub.set_async_client_factory(previous[1])

    return undo
