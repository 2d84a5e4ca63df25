"""Fallback models: when the model itself cannot answer, the next one is asked.

A model cannot answer when it is not found or not served by the provider (404, or the Hub's model
check), gone (410), still loading or overloaded after the connection's retries (503), or when the
provider says it does not support the model (a 400 saying so). Nothing else moves to another model:

- a bad token (401), no credits (402) or a bad request (400, 422) would fail the same way on every model;
- a refused access (403: a licence not accepted, a fine-grained token without the inference
  permission, an organization's restriction) is the token's rights, not the model's health: falling
  back would hide it and run the DAG on another model every day until someone reads the log;
- rate limits, timeouts and unreachable servers are retried by the one retry policy, not moved.

:class:`ModelFallback` is the one place this is decided; the chat steps
(:func:`airflow_provider_huggingface._internal.chat_flow.chat_steps`) ask its models in turn. A chat
call holds one of its own; a batch shares one among all its items (in its ``ChatSession``), so that
a model that failed is skipped for the rest of the batch.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.exceptions import (
    ConfigurationError,
    HuggingFaceError,
    ModelNotFoundError,
    ModelNotSupportedError,
)

if TYPE_CHECKING:
    import logging
    from collections.abc import Sequence

    from airflow_provider_huggingface._internal.connection import ConnectionSettings
_OWN_MODEL = "(the endpoint's own)"

# The router: "The requested model 'x' is not supported by any provider you have enabled."; providers:
# "Model not supported by provider together", OpenAI-style codes model_not_supported / model_not_found.
# "not supported" must follow the model itself: "'logprobs' is not supported with this model" or "the
# model does not support parameter tools" refuse a setting, which another model may refuse as well.
_NOT_SUPPORTED = re.compile(
    r"\bmodel(?:\s+['\"`]?[\w./:-]+['\"`]?)?\s+(?:is\s+)?not\s+(?:supported|available|served)\b"
    r"|\bmodel_not_(?:supported|found)\b",
    re.IGNORECASE,
)
_ABOUT_A_SETTING = re.compile(
    r"\b(?:param(?:eter)?s?|arguments?|fields?|features?|options?)\b", re.IGNORECASE
)


def why_model_cannot_answer(error: HuggingFaceError) -> str | None:
    """Why the model itself cannot answer, for the log; None when another model would fare no better."""
    status = error.status_code
    if isinstance(error, (ModelNotFoundError, ModelNotSupportedError)) or status == 404:
        return f"not found or not served by the provider (HTTP {status})" if status else "not served"
    if status == 410:
        return "gone (HTTP 410)"
    if status == 503:
        return "still unavailable after the retries (HTTP 503)"
    said = error.server_message or ""
    if status == 400 and _NOT_SUPPORTED.search(said) and not _ABOUT_A_SETTING.search(said):
        return "not supported by the provider (HTTP 400)"
    return None


def check_fallback_models(models: Any, settings: ConnectionSettings) -> list[str]:
    """The fallback model ids, checked before any call: a list of model ids (owner/name on the router)."""
    if models is None:
        return []
    if isinstance(models, str) or not isinstance(models, (list, tuple)):
        raise ConfigurationError(
            f"fallback_models={models!r} is not valid: give a list of model ids, e.g. "
            '["Qwen/Qwen2.5-7B-Instruct"].'
        )
    checked = []
    for model in models:
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(
                f"fallback_models holds {model!r}: each entry must be a model id such as "
                "Qwen/Qwen2.5-7B-Instruct."
            )
        resolved = settings.resolve_model(model.strip())
        if resolved is not None and resolved not in checked:
            checked.append(resolved)
    return checked


class ModelFallback:
    """The models to ask in turn, and the ones that cannot answer. Safe to share between the
    concurrent calls of a batch.

    :param models: the request's model, then its fallbacks, in order.
    :param log: where the line that says why a model was left goes.
    :param sticky: the first model that answers is the only one asked from then on (the vectors of
        one embedding task must all come from one model: another model's are not comparable).
    """

    def __init__(
        self, models: Sequence[str | None], *, log: logging.Logger | Any = None, sticky: bool = False
    ) -> None:
        self.models = list(dict.fromkeys(models))
        self.log = log
        self.sticky = sticky
        self.skipped: dict[str | None, str] = {}  # model -> why it cannot answer
        self.chosen: list[str | None] = []  # with sticky: the model that answered first, once known
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ModelFallback models={self.models} skipped={list(self.skipped)}>"

    def candidates(self, first: str | None = None) -> list[str | None]:
        """The models still worth asking, in order (``first`` leads if it is one of them)."""
        with self._lock:
            if self.chosen:
                return list(self.chosen)
            order = self.models if first is None else [first, *(m for m in self.models if m != first)]
            return [m for m in order if m not in self.skipped]

    def choose(self, model: str | None) -> None:
        """With ``sticky``: ask ``model`` alone from now on (a retry resumes with the earlier model)."""
        with self._lock:
            if self.sticky and not self.chosen:
                self.chosen.append(model)

    def answered(self, model: str | None) -> None:
        """Note that ``model`` answered.

        :raises HuggingFaceError: with ``sticky``, when another model answered first (a call that
            started before it did): its answer cannot join the others'. A retry of the task goes on.
        """
        self.choose(model)
        if self.sticky and self.chosen[0] != model:
            raise HuggingFaceError(
                f"Model {model or _OWN_MODEL} answered, but this task's earlier answers came from "
                f"{self.chosen[0] or _OWN_MODEL}: vectors of two models cannot be mixed. Run the task "
                "again; it goes on with that model."
            )

    def failed(self, model: str | None, error: HuggingFaceError, next_model: str | None) -> bool:
        """Note that ``model`` failed with ``error``; True when the next model should be asked."""
        reason = why_model_cannot_answer(error)
        if reason is None or len(self.models) < 2:
            return False
        with self._lock:
            first_time = model not in self.skipped
            self.skipped.setdefault(model, reason)
        if first_time and self.log is not None:
            then = f"asking {next_model} next" if next_model else "no fallback model is left"
            self.log.warning("Model %s cannot answer: %s; %s.", model or _OWN_MODEL, reason, then)
        return True

    def exhausted(self, error: HuggingFaceError | None) -> HuggingFaceError:
        """The error to raise when no model could answer: the last one's, naming every model tried."""
        tried = "; ".join(f"{m or _OWN_MODEL}: {why}" for m, why in self.skipped.items())
        if error is None:  # every model had failed before this call (a batch)
            return ModelNotFoundError(
                f"No model can answer: {tried}. Check the models on https://huggingface.co/models or add "
                "other fallback_models."
            )
        if len(self.models) < 2:
            return error
        return error.with_detail(f"No fallback model could answer either: {tried}.")
