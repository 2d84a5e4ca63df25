"""HuggingFaceHook.embed and aembed against the local fake: the router's feature extraction (as
huggingface_hub sends it for hf-inference) and an endpoint's /v1/embeddings, over real HTTP, and the
recorded real answers of Hugging Face's API replayed by the fake."""

from __future__ import annotations

import asyncio
import math
import sys

import pytest

from airflow_provider_huggingface import exceptions as errors
from airflow_provider_huggingface.provider_info import DEFAULT_EMBEDDING_MODEL
from tests.conftest import HOOK_TOKEN as TOKEN
from tests.fakes.embeddings import embedding_vector, feature_extraction_path, load_recorded
from tests.fakes.hf_api import Fault

TEXTS = ["the cat sat on the mat", "a dog ran home", "river boats drift"]


def close(got: list[list[float]], texts: list[str], **kwargs) -> bool:
    """The router's vectors are float32 (numpy): equal to the fake's within float32's precision."""
    return all(
        a == pytest.approx(b, abs=1e-6)
        for vector, text in zip(got, texts, strict=True)
        for a, b in zip(vector, embedding_vector(text, **kwargs), strict=True)
    )


def test_an_endpoint_gets_openai_embeddings_requests(fake_hf, endpoint_hook):
    result = endpoint_hook.embed(TEXTS)

    assert result == {
        "embeddings": [embedding_vector(text) for text in TEXTS],
        "dimensions": 16,
        "model": "fake-model",  # the server's own name: none was sent
        "usage": {"prompt_tokens": 13, "completion_tokens": 0, "total_tokens": 13},  # words
    }
    (request,) = fake_hf.embedding_requests
    assert request.path == "/v1/embeddings"
    assert request.body == {"input": TEXTS}
    assert request.token == TOKEN


def test_an_endpoint_is_sent_the_model_named(fake_hf, endpoint_hook):
    result = endpoint_hook.embed(["x"], model="BAAI/bge-small-en-v1.5")
    assert fake_hf.embedding_requests[0].body == {"input": ["x"], "model": "BAAI/bge-small-en-v1.5"}
    assert result["model"] == "BAAI/bge-small-en-v1.5"


def test_the_router_goes_through_huggingface_hubs_feature_extraction(hub_redirect, router_hook):
    result = router_hook.embed(TEXTS)

    (request,) = hub_redirect.embedding_requests
    assert request.headers["host"] == "router.huggingface.co"
    assert request.path == feature_extraction_path(DEFAULT_EMBEDDING_MODEL)
    assert request.body == {"inputs": TEXTS, "truncate": True}
    assert request.token == TOKEN
    assert close(result["embeddings"], TEXTS)
    assert (result["dimensions"], result["model"], result["usage"]) == (16, DEFAULT_EMBEDDING_MODEL, None)
    assert all(type(value) is float for vector in result["embeddings"] for value in vector)  # plain JSON


@pytest.mark.parametrize("route", ["router", "endpoint"])
def test_aembed_gives_what_embed_gives(hub_redirect, make_hook, route):
    conn = {"host": hub_redirect.url} if route == "endpoint" else {}
    hook = make_hook(password=TOKEN, **conn)
    assert asyncio.run(hook.aembed(TEXTS)) == hook.embed(TEXTS)
    assert len(hub_redirect.embedding_requests) == 2


def test_a_recorded_sentence_transformers_answer_is_one_vector(hub_redirect, router_hook):
    recorded = load_recorded("feature_extraction_all-MiniLM-L6-v2")
    hub_redirect.embedding_reply = recorded.body
    result = router_hook.embed([recorded.request["body"]["inputs"]])
    assert result["dimensions"] == 384
    assert result["embeddings"][0] == pytest.approx(recorded.body, abs=1e-7)


def test_a_recorded_per_token_answer_is_refused_naming_its_shape(hub_redirect, make_hook):
    hook = make_hook(password=TOKEN, extra={"max_retries": 0})
    recorded = load_recorded("feature_extraction_bart-base_two_texts")
    hub_redirect.add_model(
        "facebook/bart-base", pipeline_tag="feature-extraction", providers={"hf-inference": "live"}
    )
    hub_redirect.embedding_reply = recorded.body
    with pytest.raises(errors.MalformedResponseError) as info:
        hook.embed(recorded.request["body"]["inputs"], model="facebook/bart-base")
    assert "features of shape 2 x 1 x 3 x 768, not one vector per text" in str(info.value)
    assert DEFAULT_EMBEDDING_MODEL in str(info.value)


@pytest.mark.parametrize("route", ["router", "endpoint"])
@pytest.mark.parametrize(("offset", "got"), [(1, 4), (-1, 2)])
def test_a_wrong_number_of_vectors_is_refused(hub_redirect, make_hook, route, offset, got):
    hook = make_hook(
        password=TOKEN,
        extra={"max_retries": 1},
        **({"host": hub_redirect.url} if route == "endpoint" else {}),
    )
    hub_redirect.embedding_count_offset = offset
    with pytest.raises(
        errors.MalformedResponseError, match=f"answered {got} vector\\(s\\) for 3 text\\(s\\)"
    ):
        hook.embed(TEXTS)
    assert len(hub_redirect.embedding_requests) == 2  # retried once: a proxy's fault may pass


def test_ragged_vectors_on_an_endpoint_are_refused_naming_their_lengths(fake_hf, make_hook):
    hook = make_hook(host=fake_hf.url, extra={"max_retries": 0})
    fake_hf.embedding_ragged = True
    with pytest.raises(errors.MalformedResponseError) as info:
        hook.embed(TEXTS)
    assert "3 vectors of different lengths (2 of 16 values, 1 of 15 values; text 1 got 15" in str(info.value)
    assert "not an embedding reply" not in str(info.value)  # its own words, not the general advice


def test_ragged_vectors_on_the_router_are_refused(hub_redirect, make_hook):
    hook = make_hook(password=TOKEN, extra={"max_retries": 0})
    hub_redirect.embedding_ragged = True
    with pytest.raises(errors.MalformedResponseError, match="vectors of different lengths"):
        hook.embed(TEXTS)


def test_normalize_gives_unit_vectors_whatever_the_server_gives(fake_hf, endpoint_hook):
    fake_hf.embedding_reply = lambda body: {
        "data": [{"index": i, "embedding": [3.0, 4.0]} for i in range(len(body["input"]))]
    }
    assert endpoint_hook.embed(["a", "b"])["embeddings"] == [[3.0, 4.0], [3.0, 4.0]]
    result = endpoint_hook.embed(["a", "b"], normalize=True)
    assert result["embeddings"] == [[0.6, 0.8], [0.6, 0.8]]
    assert result["usage"] is None  # no usage in that reply


def test_vectors_are_read_by_their_index(fake_hf, endpoint_hook):
    fake_hf.embedding_reply = {
        "data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]
    }
    assert endpoint_hook.embed(["first", "second"])["embeddings"] == [[1.0, 0.0], [0.0, 1.0]]


def test_a_413_cuts_the_request_to_the_size_the_server_names(fake_hf, endpoint_hook, capsys):
    fake_hf.embedding_max_batch = 2
    texts = [f"text {i}" for i in range(5)]
    result = endpoint_hook.embed(texts)

    assert result["embeddings"] == [embedding_vector(text) for text in texts]
    assert [len(r.body["input"]) for r in fake_hf.embedding_requests] == [5, 2, 2, 1]
    assert result["usage"]["prompt_tokens"] == 10  # the parts' usage summed
    said = [line for line in capsys.readouterr().out.splitlines() if "fewer texts a request" in line]
    assert len(said) == 1
    assert "HTTP 413: batch size 5 > maximum allowed batch size 2): 2 texts a request from now on" in said[0]


def test_batch_size_sends_the_texts_in_several_requests_in_order(fake_hf, endpoint_hook):
    texts = [f"text {i}" for i in range(5)]
    result = endpoint_hook.embed(texts, batch_size=2)
    assert [r.body["input"] for r in fake_hf.embedding_requests] == [texts[:2], texts[2:4], texts[4:]]
    assert result["embeddings"] == [embedding_vector(text) for text in texts]


def test_transient_failures_are_retried(fake_hf, endpoint_hook):
    fake_hf.enqueue(
        Fault.rate_limited(retry_after=0).at("/v1/embeddings"), Fault.server_error(502).at("/v1/embeddings")
    )
    assert endpoint_hook.embed(["a"])["embeddings"] == [embedding_vector("a")]
    assert len(fake_hf.embedding_requests) == 3


@pytest.mark.parametrize("route", ["router", "endpoint"])
def test_a_bad_token_fails_at_once_with_its_fix(hub_redirect, make_hook, route):
    hub_redirect.valid_tokens = {"hf_theonlygoodtokenxxxxxxxxxxxxxxxxx"}
    conn = {"host": hub_redirect.url} if route == "endpoint" else {}
    hook = make_hook(password=TOKEN, extra={"max_retries": 3}, **conn)
    with pytest.raises(errors.InvalidTokenError, match="Invalid API key") as info:
        hook.embed(["a"])
    assert TOKEN not in str(info.value)
    assert len(hub_redirect.embedding_requests) == 1


def test_an_endpoint_without_embeddings_is_named_with_the_path_added(fake_hf, endpoint_hook):
    fake_hf.enqueue(Fault.status(404).at("/v1/embeddings"))
    with pytest.raises(errors.ModelNotFoundError, match=r"no embeddings API there.*/v1/embeddings is added"):
        endpoint_hook.embed(["a"])


@pytest.mark.parametrize(
    ("texts", "words"),
    [
        ("just one text", "texts must be a list of strings"),
        (["fine", "  "], r"texts\[1\] is empty"),
        (["fine", 3], r"texts\[1\] is int, not text"),
        (["x\ud83dy"], r"texts\[0\] is not valid Unicode"),
    ],
)
def test_bad_texts_fail_before_any_request(fake_hf, endpoint_hook, texts, words):
    with pytest.raises(errors.ConfigurationError, match=words):
        endpoint_hook.embed(texts)
    assert fake_hf.embedding_requests == []


def test_a_provider_without_embeddings_is_refused_before_any_request(hub_redirect, make_hook):
    hook = make_hook(password=TOKEN, extra={"provider": "groq"})
    with pytest.raises(errors.ConfigurationError, match=r"'groq' does not serve embeddings.*hf-inference"):
        hook.embed(["a"])
    assert hub_redirect.requests == []


def test_without_numpy_the_router_names_the_extra_and_an_endpoint_needs_none(
    hub_redirect, make_hook, monkeypatch
):
    router_hook = make_hook("hf_router", password=TOKEN)
    endpoint_hook = make_hook("hf_endpoint", host=hub_redirect.url)
    monkeypatch.setitem(sys.modules, "numpy", None)  # as if it were not installed
    with pytest.raises(
        errors.ConfigurationError, match=r"pip install 'airflow-provider-huggingface\[embeddings\]'"
    ):
        router_hook.embed(["a"])
    assert hub_redirect.embedding_requests == []
    assert endpoint_hook.embed(["a"])["dimensions"] == 16


def test_the_model_check_refuses_a_chat_model_before_any_request(hub_redirect, router_hook):
    with pytest.raises(
        errors.ModelNotSupportedError, match=r"Mistral-7B-Instruct-v0\.3 cannot embed.*text-generation"
    ):
        router_hook.embed(["a"], model="mistralai/Mistral-7B-Instruct-v0.3", validate_model=True)
    assert hub_redirect.embedding_requests == []
    assert router_hook.embed(["a"], model="BAAI/bge-small-en-v1.5", validate_model=True)["dimensions"] == 16


def test_a_fallback_model_answers_when_the_first_cannot(hub_redirect, router_hook, capsys):
    hub_redirect.model_faults = {DEFAULT_EMBEDDING_MODEL: Fault.status(410)}
    result = router_hook.embed(TEXTS, fallback_models=["BAAI/bge-small-en-v1.5"])
    assert result["model"] == "BAAI/bge-small-en-v1.5"
    assert [r.path for r in hub_redirect.embedding_requests] == [
        feature_extraction_path(DEFAULT_EMBEDDING_MODEL),
        feature_extraction_path("BAAI/bge-small-en-v1.5"),
    ]
    assert f"Model {DEFAULT_EMBEDDING_MODEL} cannot answer: gone (HTTP 410)" in capsys.readouterr().out


def test_usage_counts_in_the_budget(fake_hf, endpoint_hook):
    with pytest.raises(errors.BudgetExhaustedError, match="max_total_tokens=8"):
        endpoint_hook.embed(TEXTS, batch_size=1, max_total_tokens=8)
    assert len(fake_hf.embedding_requests) == 2  # 6 tokens, then 4: no third request starts


def test_unit_vectors_are_unit_length(fake_hf, endpoint_hook):
    vector = endpoint_hook.embed(["a"], normalize=True)["embeddings"][0]
    assert math.fsum(v * v for v in vector) == pytest.approx(1.0)
