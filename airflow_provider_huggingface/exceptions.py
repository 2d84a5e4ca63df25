"""The provider's public exceptions.

Every failure a DAG author can meet ends in a :class:`HuggingFaceError` whose message names
the cause and the fix. Errors that another attempt cannot cure (a bad token, a missing model,
a bad prompt) derive from ``AirflowFailException`` so Airflow does not spend task retries on
them; the others are left to the hook's retry policy first and Airflow's task retries after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.airflow_compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from collections.abc import Mapping

TOKENS_URL = "https://huggingface.co/settings/tokens"

__all__ = [
    "TOKENS_URL",
    "AgentOutputRejectedError",
    "AgentStepsExceededError",
    "BudgetExhaustedError",
    "ConfigurationError",
    "EndpointUnreachableError",
    "HuggingFaceError",
    "HuggingFacePermanentError",
    "HuggingFaceTransientError",
    "InvalidRequestError",
    "InvalidTokenError",
    "MalformedResponseError",
    "ModelAccessError",
    "ModelNotFoundError",
    "ModelNotSupportedError",
    "PaymentRequiredError",
    "PromptTemplateError",
    "RateLimitError",
    "ResponseTimeoutError",
    "ServiceUnavailableError",
    "StorageReadError",
    "StructuredOutputError",
    "ToolCallingNotSupportedError",
]


class HuggingFaceError(AirflowException):
    """A Hugging Face call failed; the message says why and what to do.

    :param message: the cause and the fix, in words a DAG author can act on.
    :param status_code: the HTTP status the server answered, if any.
    :param request_id: the server's request id, to quote to Hugging Face support.
    :param server_message: what the server itself said.
    :param retry_after: seconds the server asked us to wait (Retry-After, estimated_time).
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        # AirflowException's status_code is the HTTP status of Airflow's own API; ours is the server's.
        self.status_code = status_code  # type: ignore[assignment]
        self.request_id = request_id
        self.server_message = server_message
        self.retry_after = retry_after

    def with_detail(self, detail: str) -> HuggingFaceError:
        """The same error, of the same class, its message followed by ``detail``."""
        return type(self)(
            f"{self} {detail}",
            status_code=self.status_code,
            request_id=self.request_id,
            server_message=self.server_message,
            retry_after=self.retry_after,
        )


class HuggingFaceTransientError(HuggingFaceError):
    """Another attempt may succeed: rate limits, loading models, server errors, timeouts."""

    retryable = True


class HuggingFacePermanentError(HuggingFaceError, AirflowFailException):
    """Another attempt cannot succeed until someone changes something."""


class RateLimitError(HuggingFaceTransientError):
    """429: too many requests."""


class ServiceUnavailableError(HuggingFaceTransientError):
    """503 or another 5xx: the model is loading or the service is overloaded."""


class ResponseTimeoutError(HuggingFaceTransientError):
    """No answer within the connection's timeout."""


class EndpointUnreachableError(HuggingFaceTransientError):
    """The connection was refused or reset, or a stream was cut off."""


class MalformedResponseError(HuggingFaceTransientError):
    """The server answered, but not with a chat completion."""


class StorageReadError(HuggingFaceTransientError):
    """A file (a batch's inputs, an image) could not be read for a reason another try may cure: a
    timeout, a dropped connection, an object store's server error. A missing file is a
    :class:`ConfigurationError` instead."""


class InvalidTokenError(HuggingFacePermanentError):
    """401: the token is missing, incorrect or expired."""


class ModelAccessError(HuggingFacePermanentError):
    """403: a gated model whose license is not accepted, or a token without permission."""


class PaymentRequiredError(HuggingFacePermanentError):
    """402: the account's included credits are used up."""


class ModelNotFoundError(HuggingFacePermanentError):
    """404: no such model, or the chosen provider does not serve it."""


class ModelNotSupportedError(HuggingFacePermanentError):
    """The model exists but cannot chat (no chat template, or no live provider)."""


class InvalidRequestError(HuggingFacePermanentError):
    """400/422: the server rejected the request's contents."""


class ConfigurationError(HuggingFacePermanentError, ValueError):
    """A connection or task argument is wrong; caught before any request is sent."""


class PromptTemplateError(HuggingFacePermanentError, ValueError):
    """A prompt template is malformed or refers to a value that does not exist."""


class StructuredOutputError(HuggingFacePermanentError, ValueError):
    """The model's reply is not JSON that fits the requested schema.

    ``result`` is the last reply, already paid for (``{"text", "model", "finish_reason", "usage"}``,
    the usage of every call it took), when there was one: a batch keeps it, a branch reports it.
    """

    result: Mapping[str, Any] | None = None


class BudgetExhaustedError(HuggingFacePermanentError):
    """The task's ``max_calls`` or ``max_total_tokens`` allows no further request."""


class ToolCallingNotSupportedError(ConfigurationError):
    """The model, or the server that serves it, does not take tools; the message says what to pick."""


class AgentStepsExceededError(HuggingFacePermanentError):
    """An agent still called tools after ``max_steps`` model turns."""


class AgentOutputRejectedError(HuggingFacePermanentError):
    """A person rejected the agent's final answer (``review_output=True``)."""
