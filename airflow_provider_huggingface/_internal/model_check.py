"""Model validation before any generation or embedding call: does the model exist, can this token use
it, can it do the task (chat, or embed: feature extraction), and does a live provider serve it for that?
Asked of the Hub once per process."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.error_mapping import map_error, redact
from airflow_provider_huggingface.exceptions import ModelNotFoundError, ModelNotSupportedError
from airflow_provider_huggingface.provider_info import DEFAULT_EMBEDDING_MODEL, DEFAULT_MODEL

if TYPE_CHECKING:
    from airflow_provider_huggingface._internal.connection import ConnectionSettings
    from airflow_provider_huggingface._internal.retry import TaskLog

# Pipelines whose models take chat messages when they carry a chat template.
_CHAT_PIPELINES = {"text-generation", "image-text-to-text"}
_VISION_PIPELINE = "image-text-to-text"
# What a provider mapping's task says a model is served for, and the pipelines huggingface_hub's
# feature extraction accepts (it takes the two as one for hf-inference).
_EMBEDDING_PIPELINES = {"feature-extraction", "sentence-similarity"}
_SERVED_FOR = {"conversational": {"conversational"}, "feature-extraction": _EMBEDDING_PIPELINES}
_DOING = {"conversational": "chat", "feature-extraction": "embeddings"}
# The pipeline tag of each model checked, so a later call with images can be warned without asking again.
_checked: dict[tuple[str, str, int, str], str | None] = {}
_lock = threading.Lock()


def check_model(
    model: str,
    settings: ConnectionSettings,
    log: TaskLog,
    *,
    images: int = 0,
    task: str = "conversational",
) -> None:
    """Fail with the user guide's advice when ``model`` cannot do ``task`` on the router.

    :param task: ``"conversational"`` (chat) or ``"feature-extraction"`` (embeddings).

    A Hub that cannot be reached is no reason to fail a task: the call itself will tell. With
    ``images``, warn when the model is not tagged as one that reads images (image-text-to-text):
    a warning, not a failure, since tags lag behind what providers serve.
    """
    key = (model, settings.provider, hash(settings.token), task)
    if key in _checked:
        _warn_if_blind(model, _checked[key], images, log)
        return
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    api = HfApi(token=settings.token)
    unanswered = None
    try:
        info = api.model_info(
            model,
            expand=["gated", "pipeline_tag", "tags", "inferenceProviderMapping"],
            timeout=settings.timeout,
        )
        if info.gated:
            api.auth_check(model)
    except (GatedRepoError, RepositoryNotFoundError) as exc:
        raise map_error(
            exc, model=model, where="Hugging Face Hub", secrets=(settings.token,), task=task
        ) from None
    except Exception as exc:
        unanswered = redact(f"{type(exc).__name__}: {exc}"[:300], (settings.token,))
    if unanswered is not None:
        # Logged outside the except block: a log handler that fails prints the exception being
        # handled, whose server message may quote the token.
        log.warning(
            "Could not ask the Hub about model %s (%s); going on without the check.", model, unanswered
        )
        return
    _check_info(model, info, settings.provider, task)
    with _lock:
        _checked[key] = info.pipeline_tag
    log.info("Model %s is served for %s on the Hugging Face router.", model, _DOING[task])
    _warn_if_blind(model, info.pipeline_tag, images, log)


def _warn_if_blind(model: str, pipeline_tag: str | None, images: int, log: TaskLog) -> None:
    if images and pipeline_tag != _VISION_PIPELINE:
        log.warning(
            "Model %s is a %s model, not image-text-to-text: it may reject or ignore the %d image(s). "
            "Choose a vision-language model, e.g. Qwen/Qwen2.5-VL-7B-Instruct.",
            model,
            pipeline_tag or "untagged",
            images,
        )


def _check_info(model: str, info: Any, provider: str, task: str) -> None:
    mappings = [m for m in info.inference_provider_mapping or () if m.task in _SERVED_FOR[task]]
    kind = info.pipeline_tag or "untagged"
    default = DEFAULT_MODEL if task == "conversational" else DEFAULT_EMBEDDING_MODEL
    if task == "conversational":
        if not mappings and not (
            info.pipeline_tag in _CHAT_PIPELINES and "conversational" in set(info.tags or ())
        ):
            raise ModelNotSupportedError(
                f"Model {model} cannot chat: it is a {kind} model without a chat template (a base or "
                "code-completion model). Choose an instruction-tuned chat model, for example "
                f"{DEFAULT_MODEL}, meta-llama/Llama-3.1-8B-Instruct or Qwen/Qwen2.5-72B-Instruct."
            )
    elif not mappings and info.pipeline_tag not in _EMBEDDING_PIPELINES:
        raise ModelNotSupportedError(
            f"Model {model} cannot embed: it is a {kind} model, not a feature-extraction or "
            "sentence-similarity one. Choose an embedding model, for example "
            f"{DEFAULT_EMBEDDING_MODEL}, BAAI/bge-small-en-v1.5 or intfloat/multilingual-e5-large."
        )
    live = [m.provider for m in mappings if m.status == "live"]
    if provider != "auto" and provider not in live:
        served = f" It is served by: {', '.join(live)}." if live else ""
        raise ModelNotFoundError(
            f"Not found: inference provider '{provider}' does not serve {model} for {_DOING[task]}.{served} "
            f"Set the connection's provider to 'auto', or try the default model {default} first."
        )
    if not live:
        raise ModelNotSupportedError(
            f"Model {model} is not served by any live inference provider for {_DOING[task]} right now, so "
            f"the Hugging Face router cannot run it. Try the default model {default}, which works for "
            "everyone, or deploy the model on an Inference Endpoint and put its URL in the connection's host."
        )


def clear_cache() -> None:
    """Forget which models were checked (tests, and long-lived processes after a licence change)."""
    with _lock:
        _checked.clear()
