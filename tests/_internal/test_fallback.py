"""Fallback models: which failures move to the next model, through the hook and the trigger over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_huggingface._internal.fallback import why_model_cannot_answer
from airflow_provider_huggingface.exceptions import (
    ConfigurationError,
    InvalidRequestError,
    InvalidTokenError,
    ModelAccessError,
    ModelNotFoundError,
    ModelNotSupportedError,
    PaymentRequiredError,
    RateLimitError,
    ServiceUnavailableError,
)
from airflow_provider_huggingface.triggers.huggingface import HuggingFaceChatTrigger
from tests.fakes.hf_api import Fault

TOKEN = "hf_fallbackunitcanary00001"
NOT_SUPPORTED = "The requested model 'org/a' is not supported by any provider you have enabled."


@pytest.mark.parametrize(
    ("error", "moves"),
    [
        (ModelNotFoundError("x", status_code=404), True),
        (ModelNotSupportedError("cannot chat"), True),  # the Hub's model check, no HTTP status
        (InvalidRequestError("x", status_code=410), True),
        (ServiceUnavailableError("x", status_code=503), True),
        (InvalidRequestError("x", status_code=400, server_message=NOT_SUPPORTED), True),
        (
            InvalidRequestError(
                "x", status_code=400, server_message="Model not supported by provider together"
            ),
            True,
        ),
        (InvalidRequestError("x", status_code=400, server_message="max_tokens must be at most 4096"), False),
        # A setting the model refuses, not the model: another model would be sent the same setting.
        (
            InvalidRequestError(
                "x", status_code=400, server_message="The model 'org/a' does not support parameter 'logprobs'"
            ),
            False,
        ),
        (
            InvalidRequestError(
                "x", status_code=400, server_message="Parameter 'tools' is not supported for model org/a"
            ),
            False,
        ),
        (
            InvalidRequestError(
                "x", status_code=400, server_message="'response_format' is not supported with this model"
            ),
            False,
        ),
        (InvalidRequestError("x", status_code=400, server_message="Model org/a is not available"), True),
        (InvalidRequestError("x", status_code=422), False),
        (InvalidTokenError("x", status_code=401), False),
        (PaymentRequiredError("x", status_code=402), False),
        (ModelAccessError("x", status_code=403), False),
        (RateLimitError("x", status_code=429), False),
        (ServiceUnavailableError("x", status_code=500), False),
    ],
)
def test_which_failures_move_to_the_next_model(error, moves):
    assert (why_model_cannot_answer(error) is not None) is moves


@pytest.fixture
def hook(fake_hf, make_hook):
    return make_hook(host=fake_hf.url, password=TOKEN, extra={"max_retries": 1})


def asked(fake_hf) -> list[str]:
    return [r.body["model"] for r in fake_hf.chat_requests]


def test_chat_answers_with_the_first_model_that_can(fake_hf, hook, capsys):
    fake_hf.model_faults = {"org/a": Fault.status(400, {"error": NOT_SUPPORTED})}
    result = hook.chat(user_prompt="Hi", model="org/a", fallback_models=["org/b", "org/c"])
    assert result["model"] == "org/b"
    assert asked(fake_hf) == ["org/a", "org/b"]
    log = capsys.readouterr().out  # the task log
    assert "Model org/a cannot answer: not supported by the provider (HTTP 400); asking org/b next" in log
    assert "model org/b" in log.split("Model org/a cannot answer")[1]  # the call's line names the answerer


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (
            Fault.status(402, {"error": "You have exceeded your monthly included credits"}),
            PaymentRequiredError,
        ),
        (Fault.status(403, {"error": "Access to model org/a is restricted"}), ModelAccessError),
        (Fault.status(400, {"error": "max_tokens must be at most 4096"}), InvalidRequestError),
        (Fault.status(422, {"error": "Input validation error"}), InvalidRequestError),
    ],
)
def test_the_token_the_account_or_the_request_never_moves_to_another_model(fake_hf, hook, fault, error):
    fake_hf.model_faults = {"org/a": fault}
    with pytest.raises(error):
        hook.chat(user_prompt="Hi", model="org/a", fallback_models=["org/b"])
    assert asked(fake_hf) == ["org/a"]


def test_a_rejected_token_never_moves_to_another_model(fake_hf, hook):
    fake_hf.valid_tokens = {"hf_someoneelse"}
    with pytest.raises(InvalidTokenError):
        hook.chat(user_prompt="Hi", model="org/a", fallback_models=["org/b"])
    assert asked(fake_hf) == ["org/a"]


def test_when_no_model_can_answer_the_error_names_each(fake_hf, hook):
    fake_hf.model_faults = {"org/a": Fault.status(404), "org/b": Fault.status(410)}
    with pytest.raises(InvalidRequestError) as info:
        hook.chat(user_prompt="Hi", model="org/a", fallback_models=["org/b"])
    assert info.value.status_code == 410
    assert "No fallback model could answer either: org/a: not found" in str(info.value)
    assert "org/b: gone (HTTP 410)" in str(info.value)


def test_without_fallback_models_an_error_is_raised_as_it_was(fake_hf, hook, capsys):
    fake_hf.model_faults = {"org/a": Fault.status(404)}
    with pytest.raises(ModelNotFoundError) as info:
        hook.chat(user_prompt="Hi", model="org/a")
    assert "fallback" not in str(info.value)
    assert "cannot answer" not in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["org/b", [""], [None], {"org/b"}])
def test_fallback_models_must_be_a_list_of_model_ids(fake_hf, hook, bad):
    with pytest.raises(ConfigurationError, match="fallback_models"):
        hook.chat(user_prompt="Hi", model="org/a", fallback_models=bad)
    assert asked(fake_hf) == []


def test_a_batch_skips_a_model_that_failed_for_the_rest_of_the_batch(fake_hf, hook):
    fake_hf.model_faults = {"org/a": Fault.status(404)}
    request = hook.prepare_chat(user_prompt="Hi", model="org/a")
    session = hook.chat_session(request, fallback_models=["org/b"])

    async def batch() -> list[dict]:
        first = await hook.achat(request, session=session)
        rest = await asyncio.gather(*(hook.achat(request, session=session) for _ in range(3)))
        return [first, *rest]

    results = asyncio.run(batch())
    assert [r["model"] for r in results] == ["org/b"] * 4
    assert asked(fake_hf) == ["org/a", "org/b", "org/b", "org/b", "org/b"]
    assert session.fallback.skipped == {"org/a": "not found or not served by the provider (HTTP 404)"}


def test_a_batch_whose_models_all_failed_fails_its_next_items_without_a_call(fake_hf, hook):
    request = hook.prepare_chat(user_prompt="Hi", model="org/a")
    session = hook.chat_session(request, fallback_models=["org/b"])
    fallback = session.fallback
    fallback.failed("org/a", ModelNotFoundError("x", status_code=404), "org/b")
    fallback.failed("org/b", ModelNotFoundError("x", status_code=404), None)
    assert fallback.candidates() == []
    with pytest.raises(ModelNotFoundError, match="No model can answer: org/a: not found"):
        hook.chat(request, session=session)
    assert asked(fake_hf) == []


def test_the_trigger_carries_its_fallback_models(fake_hf, hook):
    fake_hf.model_faults = {"org/a": Fault.loading(estimated_time=0.01)}
    request = hook.prepare_chat(user_prompt="Hi", model="org/a")
    trigger = HuggingFaceChatTrigger(
        hf_conn_id=hook.hf_conn_id,
        model=request.model,
        messages=request.messages,
        generation=request.generation,
        fallback_models=["org/b"],
    )
    _, kwargs = trigger.serialize()
    assert kwargs["fallback_models"] == ["org/b"]

    async def run() -> dict:
        (event,) = [e async for e in HuggingFaceChatTrigger(**kwargs).run()]
        return event.payload

    payload = asyncio.run(run())
    assert payload["status"] == "success"
    assert payload["result"]["model"] == "org/b"
    assert asked(fake_hf) == ["org/a", "org/a", "org/b"]  # one retry of the 503, then the next model


def test_a_model_the_hub_does_not_know_moves_to_the_next_on_the_router(hub_redirect, make_hook):
    hook = make_hook(password=TOKEN)
    result = hook.chat(
        user_prompt="Hi",
        model="org/unknown-model",
        fallback_models=["mistralai/Mistral-7B-Instruct-v0.3"],
        validate_model=True,
    )
    assert result["model"] == "mistralai/Mistral-7B-Instruct-v0.3"
    # The unknown model was refused by the Hub's check: no chat call was paid for it.
    assert asked(hub_redirect) == ["mistralai/Mistral-7B-Instruct-v0.3"]


def test_an_unsupported_parameter_does_not_move_to_the_next_model(fake_hf, hook):
    refusal = {"error": "model org/a: parameter 'logprobs' is not supported"}
    fake_hf.model_faults = {"org/a": Fault.status(400, body=refusal)}
    with pytest.raises(InvalidRequestError, match="parameter 'logprobs' is not supported"):
        hook.chat(user_prompt="Hi", model="org/a", fallback_models=["org/b"])
    assert asked(fake_hf) == ["org/a"]


def test_a_sticky_fallback_keeps_the_first_model_that_answers():
    from airflow_provider_huggingface._internal.fallback import ModelFallback
    from airflow_provider_huggingface.exceptions import HuggingFaceError

    fallback = ModelFallback(["a", "b", "c"], sticky=True)
    assert fallback.failed("a", ModelNotFoundError("x", status_code=404), "b")
    fallback.answered("b")
    assert fallback.candidates("a") == ["b"]  # even the request's own model is not asked again
    with pytest.raises(
        HuggingFaceError, match="Model c answered, but this task's earlier answers came from b"
    ):
        fallback.answered("c")

    resumed = ModelFallback(["a", "b"], sticky=True)
    resumed.choose("b")  # a retry goes on with the model of the earlier answers
    assert resumed.candidates("a") == ["b"]

    plain = ModelFallback(["a", "b"])
    plain.answered("b")
    assert plain.candidates("a") == ["a", "b"]
