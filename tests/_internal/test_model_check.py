"""Model validation against the local fake of the Hub (huggingface_hub's own HfApi, redirected)."""

from __future__ import annotations

import pytest

from airflow_provider_huggingface import exceptions as errors
from tests.fakes.hf_api import Fault

TOKEN = "hf_canarytokenformodeltests01"


LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture
def hook(hub_redirect, make_hook):
    return make_hook(password=TOKEN, extra={"max_retries": 0})


def chat(hook, model):
    return hook.chat(user_prompt="Hi", model=model, validate_model=True)


def test_a_live_chat_model_passes_and_is_checked_once(hub_redirect, hook):
    assert chat(hook, "mistralai/Mistral-7B-Instruct-v0.3")["text"]
    chat(hook, "mistralai/Mistral-7B-Instruct-v0.3")
    hub_calls = [r for r in hub_redirect.requests if r.path.startswith("/api/models/")]
    assert len(hub_calls) == 1
    assert hub_calls[0].token == TOKEN
    assert len(hub_redirect.chat_requests) == 2


@pytest.mark.parametrize(
    ("model", "cls", "words"),
    [
        ("nobody/no-such-model", errors.ModelNotFoundError, "try the default model"),
        (
            LLAMA,
            errors.ModelAccessError,
            f"Accept the model's license agreement on https://huggingface.co/{LLAMA}",
        ),
        ("bigcode/starcoder2-15b", errors.ModelNotSupportedError, "without a chat template"),
        ("google-bert/bert-base-uncased", errors.ModelNotSupportedError, "fill-mask model"),
        (
            "fake-org/errored-chat-model",
            errors.ModelNotSupportedError,
            "not served by any live inference provider",
        ),
    ],
)
def test_unusable_models_fail_before_any_generation_call(hub_redirect, hook, model, cls, words):
    with pytest.raises(cls, match=words.replace(".", r"\.").replace("?", r"\?")):
        chat(hook, model)
    assert hub_redirect.chat_requests == []


def test_a_granted_gated_model_passes(hub_redirect, hook):
    hub_redirect.repo_access = {TOKEN}
    assert chat(hook, LLAMA)["text"]


def test_a_provider_that_does_not_serve_the_model(hub_redirect, make_hook):
    hook = make_hook(password=TOKEN, extra={"provider": "groq"})
    with pytest.raises(errors.ModelNotFoundError, match="'groq' does not serve"):
        chat(hook, "mistralai/Mistral-7B-Instruct-v0.3")
    assert hub_redirect.chat_requests == []


def test_an_unreachable_hub_is_a_warning_not_a_failure(hub_redirect, hook, capsys):
    hub_redirect.enqueue(Fault.server_error(503).at("/api/models/"))
    assert chat(hook, "mistralai/Mistral-7B-Instruct-v0.3")["text"]
    assert "going on without the check" in capsys.readouterr().out


def test_validation_is_off_by_default_on_the_hook_and_on_endpoints(hub_redirect, hook, make_hook, fake_hf):
    hook.chat(user_prompt="Hi", model="nobody/no-such-model")
    make_hook("hf_endpoint", host=fake_hf.url).chat(user_prompt="Hi", model="local", validate_model=True)
    assert not [r for r in hub_redirect.requests if r.path.startswith("/api/models/")]


def test_images_for_a_model_that_does_not_read_them_are_a_warning(hub_redirect, hook, capsys):
    image = "https://example.org/cat.png"
    hook.chat(
        user_prompt="What is this?",
        images=image,
        model="mistralai/Mistral-7B-Instruct-v0.3",
        validate_model=True,
    )
    hook.chat(
        user_prompt="And this?",
        images=[image, image],
        model="mistralai/Mistral-7B-Instruct-v0.3",
        validate_model=True,
    )
    log = capsys.readouterr().out
    assert "is a text-generation model, not image-text-to-text: it may reject or ignore the 1 image(s)" in log
    assert "ignore the 2 image(s)" in log  # the second call is warned too, without asking the Hub again
    assert len([r for r in hub_redirect.requests if r.path.startswith("/api/models/")]) == 1
    assert len(hub_redirect.chat_requests) == 2


def test_a_vision_model_takes_images_without_a_warning(hub_redirect, hook, capsys):
    vision = "Qwen/Qwen2.5-VL-7B-Instruct"
    hub_redirect.add_model(
        vision,
        pipeline_tag="image-text-to-text",
        tags=["image-text-to-text", "conversational"],
        providers={"hf-inference": "live"},
    )
    hook.chat(
        user_prompt="What is this?", images="https://example.org/cat.png", model=vision, validate_model=True
    )
    assert "not image-text-to-text" not in capsys.readouterr().out
    (request,) = hub_redirect.chat_requests
    assert request.body["messages"][0]["content"][1]["image_url"]["url"] == "https://example.org/cat.png"


def embed(hook, model):
    return hook.embed(["Hi"], model=model, validate_model=True)


@pytest.mark.parametrize("model", ["sentence-transformers/all-MiniLM-L6-v2", "BAAI/bge-small-en-v1.5"])
def test_sentence_similarity_and_feature_extraction_models_embed(hub_redirect, hook, model, capsys):
    assert embed(hook, model)["dimensions"] == 16
    assert f"Model {model} is served for embeddings on the Hugging Face router." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("model", "cls", "words"),
    [
        (
            "mistralai/Mistral-7B-Instruct-v0.3",
            errors.ModelNotSupportedError,
            "cannot embed: it is a text-generation",
        ),
        (
            "google-bert/bert-base-uncased",
            errors.ModelNotSupportedError,
            "cannot embed: it is a fill-mask model",
        ),
        ("nobody/no-such-model", errors.ModelNotFoundError, "sentence-transformers/all-MiniLM-L6-v2"),
    ],
)
def test_models_that_cannot_embed_fail_before_any_embedding_call(hub_redirect, hook, model, cls, words):
    with pytest.raises(cls, match=words):
        embed(hook, model)
    assert hub_redirect.embedding_requests == []


def test_a_model_checked_for_chat_is_checked_again_for_embeddings(hub_redirect, hook):
    # The same model and token, another task: the cached answer of one must not pass the other.
    chat(hook, "mistralai/Mistral-7B-Instruct-v0.3")
    with pytest.raises(errors.ModelNotSupportedError, match="cannot embed"):
        embed(hook, "mistralai/Mistral-7B-Instruct-v0.3")


def test_a_provider_that_does_not_serve_the_model_for_embeddings(hub_redirect, make_hook):
    hook = make_hook(password=TOKEN, extra={"provider": "together"})
    with pytest.raises(
        errors.ModelNotFoundError, match=r"'together' does not serve .* for embeddings.*hf-inference"
    ):
        embed(hook, "BAAI/bge-small-en-v1.5")
    assert hub_redirect.embedding_requests == []
