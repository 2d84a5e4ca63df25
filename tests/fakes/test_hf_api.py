"""Tests of the fake Hugging Face API, driven by the real huggingface_hub clients (no mocks)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import huggingface_hub
import numpy as np
import pytest
from huggingface_hub import AsyncInferenceClient, HfApi, InferenceClient, get_session
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    InferenceTimeoutError,
    OverloadedError,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import _http

from tests.fakes.embeddings import (
    OPENAI_EMBEDDINGS_PATH,
    embedding_vector,
    feature_extraction_path,
    load_recorded,
)
from tests.fakes.hf_api import SERVED_BY_HEADER, FakeHF, Fault, _httpx_module, redirect_hub_to

if TYPE_CHECKING:
    from huggingface_hub import ChatCompletionOutput

httpx = _httpx_module()
# huggingface_hub 1.x converts only the builtin TimeoutError, which httpx's timeouts are not, so its
# clients let httpx.ReadTimeout escape; 2.x wraps them in InferenceTimeoutError. map_error takes both.
CLIENT_TIMEOUT = (
    httpx.TimeoutException if huggingface_hub.__version__.startswith("1.") else InferenceTimeoutError
)
MISTRAL = "mistralai/Mistral-7B-Instruct-v0.3"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to me"}]


def client(fake: FakeHF, **kwargs: object) -> InferenceClient:
    return InferenceClient(base_url=fake.url, token="hf_x", **kwargs)  # type: ignore[arg-type]


def chat(fake: FakeHF, **kwargs: object) -> ChatCompletionOutput:
    timeout = kwargs.pop("timeout", None)
    return client(fake, timeout=timeout).chat_completion(MESSAGES, **kwargs)  # type: ignore[arg-type]


def stream_text(fake: FakeHF, **kwargs: object) -> str:
    # The client must outlive the iteration: in huggingface_hub 2.4 its ExitStack owns the response,
    # and garbage-collecting the client closes the stream (httpx2.StreamClosed).
    inference = client(fake)
    chunks = inference.chat_completion(MESSAGES, stream=True, **kwargs)  # type: ignore[arg-type]
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# ------------------------------------------------------------------------------------------------ happy paths


def test_chat_completion_parses_and_records(fake_hf: FakeHF) -> None:
    out = client(fake_hf, bill_to="my-org").chat_completion(MESSAGES, max_tokens=50, temperature=0.2, seed=7)

    assert out.choices[0].message.content == "Hello from the fake"
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].finish_reason == "stop"
    assert out.object == "chat.completion"
    assert out.id.startswith("chatcmpl-")
    # base_url mode sends model "dummy" when none is given; like TGI, the fake answers with its own name.
    assert out.model == "fake-model"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (6, 4, 10)

    (rec,) = fake_hf.chat_requests
    assert rec.path == "/v1/chat/completions"
    assert rec.status == 200
    assert rec.headers["authorization"] == "Bearer hf_x"
    assert rec.token == "hf_x"
    assert rec.headers["x-hf-bill-to"] == "my-org"
    assert rec.body["max_tokens"] == 50
    assert rec.body["seed"] == 7
    assert rec.body["stream"] is False
    assert rec.body["messages"] == MESSAGES


def test_stream_yields_text_finish_reason_and_usage(fake_hf: FakeHF) -> None:
    fake_hf.reply = "one two three four five"
    inference = client(fake_hf)
    chunks = list(
        inference.chat_completion(
            MESSAGES, model="my-model", stream=True, stream_options={"include_usage": True}
        )
    )

    text_chunks = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content for c in text_chunks) == "one two three four five"
    assert len(text_chunks) == 5
    assert [c.choices[0].finish_reason for c in text_chunks] == [None] * 4 + ["stop"]
    assert all(c.object == "chat.completion.chunk" and c.model == "my-model" for c in chunks)
    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens == 6 + 5


def test_stream_without_include_usage_has_no_usage_chunk(fake_hf: FakeHF) -> None:
    inference = client(fake_hf)
    chunks = list(inference.chat_completion(MESSAGES, stream=True))
    assert all(c.choices and c.usage is None for c in chunks)
    assert fake_hf.chat_requests[0].body["stream"] is True


def test_stream_dies_with_its_client(fake_hf: FakeHF) -> None:
    # Pins a huggingface_hub 2.4 behaviour hooks must respect: keep the InferenceClient referenced
    # while iterating, or the response is closed under the iterator.
    chunks = client(fake_hf).chat_completion(MESSAGES, stream=True)
    with pytest.raises(httpx.StreamClosed):
        list(chunks)


def test_reply_callable_max_tokens_and_stop(fake_hf: FakeHF) -> None:
    fake_hf.reply = lambda body: f"echo: {body['messages'][-1]['content']}"
    assert chat(fake_hf).choices[0].message.content == "echo: Say hello to me"

    out = chat(fake_hf, max_tokens=2)
    assert out.choices[0].message.content == "echo: Say"
    assert out.choices[0].finish_reason == "length"
    assert chat(fake_hf, stop=["hello"]).choices[0].message.content == "echo: Say "


def test_models_and_health_routes(fake_hf: FakeHF) -> None:
    session = get_session()
    assert session.get(f"{fake_hf.url}/health").json() == {"status": "ok"}
    models = session.get(f"{fake_hf.url}/v1/models", headers={"Authorization": "Bearer hf_x"}).json()
    assert models["data"][0]["id"] == "fake-model"

    fake_hf.valid_tokens = {"hf_good"}
    assert session.get(f"{fake_hf.url}/v1/models").status_code == 401
    assert session.get(f"{fake_hf.url}/health").status_code == 200


# ---------------------------------------------------------------------------------------------- router / Hub


def test_router_mode_is_redirected(hub_redirect: FakeHF) -> None:
    out = InferenceClient(token="hf_x").chat_completion(MESSAGES, model=MISTRAL)

    assert out.model == MISTRAL
    rec = hub_redirect.chat_requests[-1]
    assert rec.path == "/v1/chat/completions"
    # The original Host header survives the rewrite, so tests can tell router calls from Hub calls.
    assert rec.headers["host"] == "router.huggingface.co"
    assert rec.body["model"] == MISTRAL


def test_named_provider_looks_up_the_model_then_posts(hub_redirect: FakeHF) -> None:
    InferenceClient(model=MISTRAL, provider="hf-inference", token="hf_x").chat_completion(MESSAGES)

    paths = [(r.headers["host"], r.path) for r in hub_redirect.requests]
    assert ("huggingface.co", f"/api/models/{MISTRAL}") in paths
    assert paths[-1] == ("router.huggingface.co", f"/hf-inference/models/{MISTRAL}/v1/chat/completions")


def test_async_client_is_redirected_too(hub_redirect: FakeHF) -> None:
    async def run() -> tuple[str, str]:
        async with AsyncInferenceClient(token="hf_x") as ac:
            out = await ac.chat_completion(MESSAGES, model=MISTRAL)
            chunks = await ac.chat_completion(MESSAGES, model=MISTRAL, stream=True)
            text = "".join([c.choices[0].delta.content async for c in chunks])
            return out.choices[0].message.content, text

    assert asyncio.run(run()) == ("Hello from the fake", "Hello from the fake")


def test_whoami(hub_redirect: FakeHF) -> None:
    me = HfApi(token="hf_anything").whoami()
    assert me["name"] == "fake-user"
    assert me["auth"]["accessToken"]["role"] == "read"

    hub_redirect.valid_tokens = {"hf_good"}
    assert HfApi(token="hf_good").whoami()["type"] == "user"
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(token="hf_bad").whoami()
    assert exc.value.response.status_code == 401
    assert hub_redirect.requests[-1].path == "/api/whoami-v2"


def test_model_info_registry(hub_redirect: FakeHF) -> None:
    api = HfApi(token="hf_x")
    info = api.model_info(MISTRAL)
    assert info.pipeline_tag == "text-generation"
    assert "conversational" in info.tags
    assert [(m.provider, m.status, m.task) for m in info.inference_provider_mapping] == [
        ("hf-inference", "live", "conversational")
    ]

    # With `expand`, only the requested properties come back (like the Hub).
    expanded = api.model_info(MISTRAL, expand=["inferenceProviderMapping"])
    assert expanded.pipeline_tag is None
    assert expanded.inference_provider_mapping
    assert hub_redirect.requests[-1].query == {"expand": ["inferenceProviderMapping"]}

    assert api.model_info("bigcode/starcoder2-15b").inference_provider_mapping == []
    assert api.model_info("google-bert/bert-base-uncased").pipeline_tag == "fill-mask"
    errored = api.model_info("fake-org/errored-chat-model").inference_provider_mapping
    assert errored[0].status == "error"

    hub_redirect.add_model("me/new-model", tags=["conversational"], providers={"together": "staging"})
    assert api.model_info("me/new-model").inference_provider_mapping[0].provider == "together"


def test_gated_private_and_missing_models(hub_redirect: FakeHF) -> None:
    # As on the Hub, a gated model's card is public; auth-check tells whether this token may use it.
    assert HfApi(token="hf_x").model_info(LLAMA).gated == "manual"
    with pytest.raises(GatedRepoError) as gated:
        HfApi(token="hf_x").auth_check(LLAMA)
    assert gated.value.response.status_code == 403
    hub_redirect.repo_access = {"hf_granted"}
    HfApi(token="hf_granted").auth_check(LLAMA)
    hub_redirect.gate_model_info = True
    with pytest.raises(GatedRepoError) as anonymous:
        HfApi().model_info(LLAMA)
    assert anonymous.value.response.status_code == 401

    with pytest.raises(RepositoryNotFoundError) as missing:
        HfApi(token="hf_x").model_info("nobody/nothing")
    assert missing.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token="hf_x").model_info("fake-org/private-chat-model")

    hub_redirect.repo_access = {"hf_granted"}
    assert HfApi(token="hf_granted").model_info(LLAMA).gated == "manual"
    assert HfApi(token="hf_granted").model_info("fake-org/private-chat-model").private is True


def test_redirect_undo_restores_previous_factory(fake_hf: FakeHF) -> None:
    before = _http._GLOBAL_CLIENT_FACTORY
    undo = redirect_hub_to(fake_hf.url)
    assert _http._GLOBAL_CLIENT_FACTORY is not before
    undo()
    assert _http._GLOBAL_CLIENT_FACTORY is before


def test_served_by_is_named_by_the_router_only(hub_redirect: FakeHF) -> None:
    hub_redirect.served_by = "together"
    seen: list[str | None] = []
    session = get_session()
    hooks = session.event_hooks
    session.event_hooks = {
        **hooks,
        "response": [*hooks["response"], lambda r: seen.append(r.headers.get(SERVED_BY_HEADER))],
    }
    try:
        InferenceClient(token="hf_x").chat_completion([{"role": "user", "content": "Hi"}], model=MISTRAL)
        InferenceClient(base_url=hub_redirect.url, token="hf_x").chat_completion(
            [{"role": "user", "content": "Hi"}]
        )
    finally:
        session.event_hooks = hooks
    # The router's answer names who served it; a server reached directly (an endpoint) never does.
    assert seen[-2:] == ["together", None]


# ------------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limited_fault_exposes_retry_after(fake_hf: FakeHF, stream: bool) -> None:
    fake_hf.enqueue(Fault.rate_limited(retry_after=3))
    with pytest.raises(HfHubHTTPError) as exc:
        stream_text(fake_hf) if stream else chat(fake_hf)
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "3"
    # One-shot: the next call succeeds.
    assert chat(fake_hf).choices[0].message.content == "Hello from the fake"


@pytest.mark.parametrize(
    ("fault", "status", "text"),
    [
        (Fault.loading(estimated_time=2.0), 503, "is currently loading"),
        (Fault.server_error(), 500, "Internal Server Error"),
        (Fault.server_error(504), 504, "Gateway Timeout"),
        (Fault.status(403, {"error": "no permission"}), 403, "no permission"),
        (Fault.html(502), 502, "502"),
    ],
)
def test_status_faults_raise_hf_http_error(fake_hf: FakeHF, fault: Fault, status: int, text: str) -> None:
    fake_hf.enqueue(fault)
    with pytest.raises(HfHubHTTPError) as exc:
        chat(fake_hf)
    assert exc.value.response.status_code == status
    assert text in str(exc.value)
    assert fake_hf.chat_requests[0].status == status
    assert fake_hf.chat_requests[0].fault is fault


def test_loading_body_has_estimated_time(fake_hf: FakeHF) -> None:
    fake_hf.enqueue(Fault.loading(estimated_time=2.5))
    with pytest.raises(HfHubHTTPError) as exc:
        chat(fake_hf, model=MISTRAL)
    assert exc.value.response.json() == {
        "error": f"Model {MISTRAL} is currently loading",
        "estimated_time": 2.5,
    }


def test_invalid_token_is_401(fake_hf: FakeHF) -> None:
    fake_hf.valid_tokens = {"hf_good"}
    with pytest.raises(HfHubHTTPError) as exc:
        chat(fake_hf)
    assert exc.value.response.status_code == 401
    assert exc.value.server_message == "Invalid username or password."
    assert InferenceClient(base_url=fake_hf.url, token="hf_good").chat_completion(MESSAGES).choices


def test_reset_raises_a_transport_error(fake_hf: FakeHF) -> None:
    fake_hf.enqueue(Fault.reset())
    with pytest.raises(httpx.TransportError):
        chat(fake_hf)
    assert fake_hf.chat_requests[0].status is None
    assert chat(fake_hf).choices  # the pool recovers


@pytest.mark.parametrize("stream", [False, True])
def test_cut_response_raises_remote_protocol_error(fake_hf: FakeHF, stream: bool) -> None:
    fake_hf.enqueue(Fault.cut_stream(after_chunks=2))
    with pytest.raises(httpx.RemoteProtocolError):
        stream_text(fake_hf) if stream else chat(fake_hf)


def test_cut_stream_delivers_chunks_before_failing(fake_hf: FakeHF) -> None:
    fake_hf.enqueue(Fault.cut_stream(after_chunks=2))
    got: list[str] = []
    inference = client(fake_hf)
    stream = inference.chat_completion(MESSAGES, stream=True)
    with pytest.raises(httpx.RemoteProtocolError):  # noqa: PT012 - the chunks before the cut are the point
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert got == ["Hello ", "from "]


def test_stream_error_event_raises_overloaded(fake_hf: FakeHF) -> None:
    fake_hf.enqueue(Fault.stream_error("too busy"))
    with pytest.raises(OverloadedError, match="too busy"):
        stream_text(fake_hf)


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_json_raises_value_error(fake_hf: FakeHF, stream: bool) -> None:
    fake_hf.enqueue(Fault.malformed_json())
    with pytest.raises(json.JSONDecodeError):
        stream_text(fake_hf) if stream else chat(fake_hf)


def test_html_page_with_200(fake_hf: FakeHF) -> None:
    fake_hf.enqueue(Fault.html())
    with pytest.raises(json.JSONDecodeError):
        chat(fake_hf)
    # A stream answered by an HTML page has no `data:` lines: huggingface_hub yields nothing, silently.
    fake_hf.enqueue(Fault.html())
    assert stream_text(fake_hf) == ""


def test_empty_choices(fake_hf: FakeHF) -> None:
    fake_hf.enqueue(Fault.empty_choices(), Fault.empty_choices())
    assert chat(fake_hf).choices == []
    assert stream_text(fake_hf) == ""


def test_hang_times_out_and_reset_releases_it(fake_hf: FakeHF) -> None:
    fake_hf.enqueue(Fault.hang(30))
    start = time.monotonic()
    with pytest.raises(CLIENT_TIMEOUT):
        chat(fake_hf, timeout=0.5)
    assert time.monotonic() - start < 3

    # A client without a timeout is released as soon as the fake is reset.
    fake_hf.enqueue(Fault.hang(30))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            chat(fake_hf)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    fake_hf.wait_for_requests(2)
    time.sleep(0.1)
    fake_hf.reset()
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert isinstance(errors[0], httpx.TransportError)


def test_delay_and_latency_slow_down_but_succeed(fake_hf: FakeHF) -> None:
    fake_hf.enqueue(Fault.delay(0.3))
    start = time.monotonic()
    assert chat(fake_hf).choices[0].message.content == "Hello from the fake"
    assert time.monotonic() - start >= 0.3

    fake_hf.latency = 0.2
    start = time.monotonic()
    chat(fake_hf)
    assert time.monotonic() - start >= 0.2


def test_fault_plan_decides_per_request(fake_hf: FakeHF) -> None:
    fake_hf.fault_plan = lambda n, body: Fault.server_error(503) if n % 3 == 2 else None
    outcomes = []
    for _ in range(6):
        try:
            chat(fake_hf)
            outcomes.append(200)
        except HfHubHTTPError as exc:
            outcomes.append(exc.response.status_code)
    assert outcomes == [200, 200, 503, 200, 200, 503]


def test_fault_aimed_at_another_route(hub_redirect: FakeHF) -> None:
    hub_redirect.enqueue(Fault.server_error(503), path_prefix="/api/whoami-v2")
    hub_redirect.enqueue(Fault.rate_limited(5).at("/api/models/"))
    assert chat(hub_redirect).choices  # chat is not affected
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(token="hf_x").whoami()
    assert exc.value.response.status_code == 503
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(token="hf_x").model_info(MISTRAL)
    assert exc.value.response.status_code == 429
    assert hub_redirect.pending_faults == []


# ------------------------------------------------------------------------------------------------ load


def test_max_in_flight_counts_concurrent_requests(fake_hf: FakeHF) -> None:
    # Plain HTTP: huggingface_hub 1.18's shared sync client runs only about 10 calls at once. Each
    # request is held a second: on a busy 2-core machine 40 threads need more than 0.3 s to start.
    fake_hf.latency = 1.0
    body = json.dumps({"messages": MESSAGES}).encode()

    def post(_: int) -> dict:
        request = urllib.request.Request(
            f"{fake_hf.url}/v1/chat/completions",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": "Bearer hf_x"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    with ThreadPoolExecutor(max_workers=40) as pool:
        outs = list(pool.map(post, range(40)))
    assert len(outs) == 40
    assert all(o["choices"][0]["message"]["content"] for o in outs)
    assert fake_hf.max_in_flight >= 30
    assert len(fake_hf.chat_requests) == 40


def test_rate_limit_answers_429_past_the_limit(fake_hf: FakeHF) -> None:
    fake_hf.rate_limit = 5
    statuses = []
    retry_after = []
    for _ in range(8):
        try:
            chat(fake_hf)
            statuses.append(200)
        except HfHubHTTPError as exc:
            statuses.append(exc.response.status_code)
            retry_after.append(int(exc.response.headers["Retry-After"]))
    assert statuses == [200] * 5 + [429] * 3
    assert min(retry_after) >= 1


def test_stop_does_not_wait_for_hanging_handlers() -> None:
    fake = FakeHF().start()
    fake.enqueue(Fault.hang(60))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            chat(fake)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    fake.wait_for_requests(1)
    start = time.monotonic()
    fake.stop()
    assert time.monotonic() - start < 2
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert errors


# ------------------------------------------------------------------------------------------------ embeddings


MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = ["the first text", "a second one", "the first text"]


def embed_over_http(
    fake: FakeHF, body: dict, path: str = OPENAI_EMBEDDINGS_PATH, token: str = "hf_x"
) -> object:
    return get_session().post(f"{fake.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"})


def test_feature_extraction_through_the_router_for_hf_inference(hub_redirect: FakeHF) -> None:
    client = InferenceClient(provider="hf-inference", token="hf_x")
    vectors = client.feature_extraction(TEXTS, model=MINILM)

    assert vectors.shape == (3, 16)
    assert np.allclose(vectors, [embedding_vector(t) for t in TEXTS], atol=1e-6)
    (call,) = hub_redirect.embedding_requests
    # The URL and body huggingface_hub sends (the same in 1.x and 2.x): parameters at the body's root,
    # the unset ones left out.
    assert call.headers["host"] == "router.huggingface.co"
    assert (
        call.path
        == feature_extraction_path(MINILM)
        == f"/hf-inference/models/{MINILM}/pipeline/feature-extraction"
    )
    assert call.body == {"inputs": TEXTS}
    assert call.token == "hf_x"
    # Before posting, huggingface_hub checks on the Hub that the model does feature extraction.
    assert [r.path for r in hub_redirect.requests if r.path.startswith("/api/")] == [f"/api/models/{MINILM}"]

    client.feature_extraction(TEXTS[:1], model=MINILM, normalize=False, truncate=True, dimensions=8)
    assert hub_redirect.embedding_requests[-1].body == {
        "inputs": TEXTS[:1],
        "normalize": False,
        "truncate": True,
        "dimensions": 8,
    }


def test_feature_extraction_with_the_default_provider_reads_the_mapping(hub_redirect: FakeHF) -> None:
    vector = InferenceClient(token="hf_x").feature_extraction("one text", model=MINILM)

    # One string gives one vector, as the serverless API answers a sentence-transformers model.
    assert vector.shape == (16,)
    assert vector.tolist() == pytest.approx(embedding_vector("one text"))
    lookup = next(r for r in hub_redirect.requests if r.path == f"/api/models/{MINILM}")
    assert lookup.query == {"expand": ["inferenceProviderMapping"]}
    assert hub_redirect.embedding_requests[-1].path == feature_extraction_path(MINILM)


def test_async_feature_extraction_is_redirected_too(hub_redirect: FakeHF) -> None:
    async def run() -> list[list[float]]:
        async with AsyncInferenceClient(provider="hf-inference", token="hf_x") as client:
            batches = await asyncio.gather(
                *(client.feature_extraction(TEXTS[i : i + 1], model=MINILM) for i in range(3))
            )
            return [batch[0].tolist() for batch in batches]

    assert np.allclose(asyncio.run(run()), [embedding_vector(t) for t in TEXTS], atol=1e-6)


def test_openai_embeddings_route(fake_hf: FakeHF) -> None:
    answer = embed_over_http(fake_hf, {"model": MINILM, "input": TEXTS}).json()

    assert answer["object"] == "list"
    assert answer["model"] == MINILM
    assert [item["index"] for item in answer["data"]] == [0, 1, 2]
    assert {item["object"] for item in answer["data"]} == {"embedding"}
    assert [item["embedding"] for item in answer["data"]] == [embedding_vector(t) for t in TEXTS]
    assert answer["usage"] == {"prompt_tokens": 9, "total_tokens": 9}  # one token a word
    (call,) = fake_hf.embedding_requests
    assert (call.path, call.body, call.embedding_index, call.chat_index) == (
        "/v1/embeddings",
        {"model": MINILM, "input": TEXTS},
        0,
        None,
    )

    one = embed_over_http(fake_hf, {"input": "the first text", "dimensions": 4}).json()
    assert one["model"] == "fake-model"
    assert [item["embedding"] for item in one["data"]] == [embedding_vector("the first text", 4)]


def test_vectors_depend_on_the_text_alone(hub_redirect: FakeHF) -> None:
    openai = embed_over_http(hub_redirect, {"input": ["b", "a"]}).json()["data"]
    router = InferenceClient(provider="hf-inference", token="hf_x").feature_extraction(
        ["a", "b"], model=MINILM
    )

    assert openai[0]["embedding"] == pytest.approx(router[1].tolist())
    assert openai[1]["embedding"] == pytest.approx(router[0].tolist())
    assert router[0].tolist() != pytest.approx(router[1].tolist())
    # Unit length unless the call asks for normalize=false, as TEI does.
    assert float((router[0] ** 2).sum()) == pytest.approx(1.0, abs=1e-5)
    raw = InferenceClient(provider="hf-inference", token="hf_x").feature_extraction(
        ["a"], model=MINILM, normalize=False
    )
    assert float((raw[0] ** 2).sum()) != pytest.approx(1.0, abs=1e-3)


def test_embedding_dim_and_base64(fake_hf: FakeHF) -> None:
    fake_hf.embedding_dim = 384
    data = embed_over_http(fake_hf, {"input": ["x"], "encoding_format": "base64"}).json()["data"]

    packed = base64.b64decode(data[0]["embedding"])
    assert len(packed) == 384 * 4
    assert list(struct.unpack("<384f", packed)) == pytest.approx(embedding_vector("x", 384), abs=1e-6)
    too_many = embed_over_http(fake_hf, {"input": ["x"], "dimensions": 385})
    assert too_many.status_code == 422


def test_wrong_count_and_ragged_switches(hub_redirect: FakeHF) -> None:
    client = InferenceClient(provider="hf-inference", token="hf_x")
    hub_redirect.embedding_count_offset = -1
    assert client.feature_extraction(TEXTS, model=MINILM).shape == (2, 16)
    assert len(embed_over_http(hub_redirect, {"input": TEXTS}).json()["data"]) == 2

    hub_redirect.embedding_count_offset = 2
    assert client.feature_extraction(TEXTS, model=MINILM).shape == (5, 16)

    hub_redirect.embedding_count_offset = 0
    hub_redirect.embedding_ragged = True
    data = embed_over_http(hub_redirect, {"input": TEXTS}).json()["data"]
    assert [len(item["embedding"]) for item in data] == [16, 15, 16]
    # huggingface_hub hands ragged vectors to numpy, which refuses them: the hook must name the problem.
    with pytest.raises(ValueError, match="inhomogeneous"):
        client.feature_extraction(TEXTS, model=MINILM)


def test_client_batch_limit_answers_tei_413(hub_redirect: FakeHF) -> None:
    hub_redirect.embedding_max_batch = 2
    with pytest.raises(HfHubHTTPError) as exc:
        InferenceClient(provider="hf-inference", token="hf_x").feature_extraction(TEXTS, model=MINILM)
    assert exc.value.response.status_code == 413
    assert exc.value.response.json() == {
        "error": "batch size 3 > maximum allowed batch size 2",
        "error_type": "Validation",
    }
    openai = embed_over_http(hub_redirect, {"input": TEXTS})
    assert openai.status_code == 413
    assert openai.json() == {
        "message": "batch size 3 > maximum allowed batch size 2",
        "code": 413,
        "type": "Validation",
    }
    assert embed_over_http(hub_redirect, {"input": TEXTS[:2]}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [({"input": []}, 400), ({"input": [1, 2]}, 422), ({"input": {"text": "x"}}, 422), ({}, 422)],
)
def test_bad_embedding_inputs(fake_hf: FakeHF, body: dict, status: int) -> None:
    assert embed_over_http(fake_hf, body).status_code == status


def test_embedding_faults_latency_and_tokens(hub_redirect: FakeHF) -> None:
    client = InferenceClient(provider="hf-inference", token="hf_x")
    route = feature_extraction_path(MINILM)
    hub_redirect.enqueue(Fault.rate_limited(retry_after=2).at(route))
    hub_redirect.enqueue(Fault.server_error(503).at(OPENAI_EMBEDDINGS_PATH))
    assert chat(hub_redirect).choices  # a chat call meets neither
    with pytest.raises(HfHubHTTPError) as exc:
        client.feature_extraction(TEXTS, model=MINILM)
    assert exc.value.response.headers["Retry-After"] == "2"
    assert embed_over_http(hub_redirect, {"input": TEXTS}).status_code == 503
    assert client.feature_extraction(TEXTS, model=MINILM).shape == (3, 16)

    hub_redirect.reset()  # embedding calls are numbered from 0 after a reset
    hub_redirect.embedding_fault_plan = lambda n, body: Fault.server_error(502) if n == 1 else None
    hub_redirect.model_faults = {"org/gone": Fault.status(410)}
    statuses = [embed_over_http(hub_redirect, {"input": "x"}).status_code for _ in range(3)]
    assert statuses == [200, 502, 200]
    assert embed_over_http(hub_redirect, {"model": "org/gone", "input": "x"}).status_code == 410

    hub_redirect.valid_tokens = {"hf_good"}
    assert embed_over_http(hub_redirect, {"input": "x"}, token="hf_bad").status_code == 401

    hub_redirect.reset()
    hub_redirect.latency = 0.5  # long enough for four threads to start on a busy machine
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: embed_over_http(hub_redirect, {"input": "x"}), range(4)))
    assert time.monotonic() - start >= 0.5
    assert hub_redirect.max_in_flight == 4  # held together, not one after another


def test_recorded_answers_replay_through_the_client(hub_redirect: FakeHF) -> None:
    pooled = load_recorded("feature_extraction_all-MiniLM-L6-v2")
    hub_redirect.embedding_reply = pooled.body
    vector = InferenceClient(provider="hf-inference", token="hf_x").feature_extraction(
        pooled.request["body"]["inputs"], model=MINILM
    )
    assert vector.shape == (384,)
    assert vector.tolist() == pytest.approx(pooled.body)

    # A model without pooling answers per-token features: 4 dimensions for a list of texts, not 2.
    per_token = load_recorded("feature_extraction_bart-base_two_texts")
    hub_redirect.embedding_reply = lambda body: per_token.body
    features = InferenceClient(provider="hf-inference", token="hf_x").feature_extraction(
        ["Hi", "Hey"], model=MINILM
    )
    assert features.shape == (2, 1, 3, 768)


def test_a_fake_that_keeps_no_requests_still_counts_them() -> None:
    with FakeHF(keep_requests=False) as fake:
        chat(fake)
        embed_over_http(fake, {"input": ["x", "y"]})
        embed_over_http(fake, {"input": "z"})
        assert fake.requests == []
        assert fake.call_counts == {"chat": 1, "embedding": 2}
