"""Reading and checking what a ``huggingface`` connection and a chat call ask for.

Everything here runs before any request is sent, so a wrong value fails at once with a
message that names the field and the fix, instead of costing a call (and retries).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_huggingface._internal.validation import POSITIVE, Rule
from airflow_provider_huggingface.exceptions import TOKENS_URL, ConfigurationError
from airflow_provider_huggingface.provider_info import (
    CHAT_PROVIDERS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

ROUTER = "Hugging Face router"

_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
EXTRA_KEYS = ("provider", "default_model", "timeout", "max_retries", "bill_to", "backoff")
# Names users reach for that difflib would not match.
_EXTRA_ALIASES = {"model": "default_model", "model_id": "default_model", "retries": "max_retries"}
_API_SUFFIX = re.compile(r"(?:/v1)?(?:/chat/completions)?$")
_RESPONSE_FORMAT_TYPES = ("text", "json_object", "json_schema", "json")  # "json": TGI's own form


@dataclass(frozen=True)
class ConnectionSettings:
    """The parsed and checked contents of a ``huggingface`` connection.

    :param conn_id: the connection id, quoted in error messages.
    :param token: the API token; never shown by ``repr``.
    :param base_url: a dedicated endpoint's URL, or None for the Hugging Face router.
    :param provider: the inference provider on the router (``auto`` lets the router choose).
    :param bill_to: an organization billed for the calls.
    :param timeout: seconds one request may take.
    :param max_retries: retries of a transient failure.
    :param backoff: the first retry's backoff in seconds (doubles on each retry).
    :param default_model: the model of tasks that name none.
    :param warnings: what in the connection was ignored, and why (an unknown extra, extra that is
        not JSON): for the task log and the connection test.
    """

    conn_id: str
    token: str | None = field(repr=False)
    base_url: str | None
    provider: str = "auto"
    bill_to: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff: float = 1.0
    default_model: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def where(self) -> str:
        """Where calls go, for log lines and error messages."""
        return self.base_url or f"{ROUTER} (provider {self.provider})"

    @classmethod
    def from_connection(cls, conn: Connection) -> ConnectionSettings:
        conn_id = conn.conn_id
        extra, warnings = _read_extra(conn)
        token = (conn.password or "").strip() or None
        base_url = _endpoint_url(conn_id, conn.host, conn.port)
        provider = str(extra.get("provider") or "auto").strip()
        if provider not in CHAT_PROVIDERS:
            raise ConfigurationError(
                f"Connection '{conn_id}': unknown inference provider '{provider}'. "
                f"Choose one of: {', '.join(CHAT_PROVIDERS)} ('auto' lets the router choose)."
            )
        if base_url is None:
            _check_router_token(conn_id, token)
            _check_provider_supported(conn_id, provider)
        return cls(
            conn_id=conn_id,
            token=token,
            base_url=base_url,
            provider=provider,
            bill_to=(str(extra.get("bill_to") or "").strip() or None),
            timeout=_number(conn_id, extra, "timeout", DEFAULT_TIMEOUT, POSITIVE),
            max_retries=int(
                _number(
                    conn_id,
                    extra,
                    "max_retries",
                    DEFAULT_MAX_RETRIES,
                    Rule(whole=True, minimum=0, maximum=20),
                )
            ),
            backoff=_number(conn_id, extra, "backoff", 1.0, Rule(minimum=0)),
            default_model=(str(extra.get("default_model") or "").strip() or None),
            warnings=warnings,
        )

    def resolve_model(self, model: str | None) -> str | None:
        """The task's model, else the connection's default; on the router, else the provider's default.

        A dedicated endpoint serves its own model, so there None lets the server choose.
        """
        chosen = (model or "").strip() or self.default_model
        if chosen is None and self.base_url is None:
            chosen = DEFAULT_MODEL
        if chosen is not None and self.base_url is None:
            check_model_id(chosen)
        return chosen


_EXTRA_EXAMPLE = '{"timeout": 60, "default_model": "owner/name"}'


def _read_extra(conn: Connection) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The extra as a dict, and a warning for each thing in it that is ignored."""
    name = f"Connection '{conn.conn_id}'"
    try:
        parsed = json.loads(conn.extra) if conn.extra else {}
    except ValueError as exc:
        return {}, (
            f"{name}: the extra is not valid JSON ({exc}), so all of it is ignored and the defaults "
            f"are used. Correct it, e.g. {_EXTRA_EXAMPLE}.",
        )
    if not isinstance(parsed, dict):
        return {}, (f"{name}: the extra is not a JSON object, so it is ignored and the defaults are used.",)
    extra = conn.extra_dejson or {}  # parsed again by Airflow, which masks its secrets
    warnings = []
    for key in extra:
        if key in EXTRA_KEYS:
            continue
        close = _EXTRA_ALIASES.get(key.lower()) or next(
            iter(difflib.get_close_matches(key, EXTRA_KEYS, n=1, cutoff=0.6)), None
        )
        hint = f" Did you mean '{close}'?" if close else ""
        warnings.append(
            f"{name}: the extra '{key}' is not a setting of this connection and is ignored.{hint} "
            f"Known extras: {', '.join(EXTRA_KEYS)}."
        )
    return extra, tuple(warnings)


def _endpoint_url(conn_id: str, host: str | None, port: int | None) -> str | None:
    host = (host or "").strip()
    if not host:
        return None
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"Connection '{conn_id}': the endpoint URL '{host}' has no http:// or https:// scheme. "
            "Enter the full URL, e.g. https://xyz.endpoints.huggingface.cloud or http://127.0.0.1:8080, "
            "or leave the field empty to use the Hugging Face router."
        )
    if port and parts.port is None:
        parts = parts._replace(netloc=f"{parts.netloc}:{port}")
    # The server's base URL, whatever of the OpenAI path was pasted: chat adds /v1/chat/completions
    # and the connection test /v1/models to it, so a kept /v1 would make /v1/v1/models.
    path = _API_SUFFIX.sub("", parts.path.rstrip("/"))
    return parts._replace(path=path).geturl().rstrip("/")


def _check_provider_supported(conn_id: str, provider: str) -> None:
    """A provider the installed huggingface_hub cannot route to fails here, not as a raw client error."""
    from airflow_provider_huggingface._internal.hub_compat import hub_version, provider_needs

    needed = provider_needs(provider)
    if needed is not None:
        raise ConfigurationError(
            f"Connection '{conn_id}': the inference provider '{provider}' needs huggingface_hub {needed} "
            f"or newer, and this environment has {hub_version()}. Upgrade it "
            f"(pip install 'huggingface_hub>={needed}'), or choose another provider; 'auto' lets the "
            "router choose. Beside pydantic-ai-slim[huggingface] (Airflow's common-ai provider), "
            "huggingface_hub cannot be newer than 1.18.0: there, choose another provider."
        )


def _check_router_token(conn_id: str, token: str | None) -> None:
    how = (
        f"Create one at {TOKENS_URL} ('Read' permission is enough for text generation; copy it at once, "
        f"it starts with hf_) and put it in the API token field of connection '{conn_id}'."
    )
    if token is None:
        raise ConfigurationError(f"Connection '{conn_id}' has no Hugging Face API token. {how}")
    if not token.startswith("hf_"):
        raise ConfigurationError(
            f"Connection '{conn_id}': the API token does not start with hf_, so it is not a Hugging Face "
            f"token. {how} To use another server's key, set the connection's endpoint URL."
        )


def _number(conn_id: str, extra: dict[str, Any], name: str, default: float, rule: Rule) -> float:
    """An extra's number: the form's fields and environment variables may give it as text."""
    raw = extra.get(name)
    if raw is None or raw == "":
        return default
    kind = "a whole number" if rule.whole else "a number"
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = float(raw)
        if not math.isfinite(value) or (rule.whole and value != int(value)):
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"Connection '{conn_id}': extra '{name}' is {raw!r}, not {kind}. "
            f"Set it to {kind} such as {default:g}."
        ) from None
    if not rule.allows(int(value) if rule.whole else value):
        raise ConfigurationError(f"Connection '{conn_id}': extra '{name}' is {raw!r}; it must be {rule}.")
    return value


def check_model_id(model: str) -> None:
    """A Hub model id is ``owner/name``; anything else cannot be routed."""
    if not _MODEL_ID.match(model):
        raise ConfigurationError(
            f"Model '{model}' is not a Hugging Face model id of the form owner/name, e.g. {DEFAULT_MODEL}. "
            "Copy the id from the model's page on https://huggingface.co/models."
        )


def check_generation_settings(
    *,
    max_tokens: Any = None,
    temperature: Any = None,
    top_p: Any = None,
    stop: Any = None,
    seed: Any = None,
    response_format: Any = None,
    **other: Any,
) -> None:
    """Reject generation settings that no server accepts, before any request is sent.

    ``other`` settings (tools, tool_choice) are checked by those who add them.
    """
    from airflow_provider_huggingface._internal.validation import COUNT, check_number

    check_number("max_tokens", max_tokens, COUNT)
    check_number("temperature", temperature, Rule(minimum=0, maximum=2))
    check_number("top_p", top_p, Rule(above=0, maximum=1))
    check_number("seed", seed, Rule(whole=True))
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, (list, tuple)) and all(isinstance(s, str) and s for s in stop))
    ):
        raise ConfigurationError(
            f"stop={stop!r} is not valid: it must be a string or a list of non-empty strings."
        )
    if response_format is not None:
        _check_response_format(response_format)


def _check_response_format(response_format: Any) -> None:
    example = '{"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", ...}}}'
    if not isinstance(response_format, dict) or response_format.get("type") not in _RESPONSE_FORMAT_TYPES:
        raise ConfigurationError(
            f"response_format={response_format!r} is not valid: it must be a dict whose 'type' is one of "
            f"{', '.join(_RESPONSE_FORMAT_TYPES)}, e.g. {example}."
        )
    if response_format["type"] == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ConfigurationError(
                "response_format of type json_schema needs a JSON schema under json_schema.schema, "
                f"e.g. {example}."
            )


def unreadable_env_connection(conn_id: str) -> str | None:
    """Why Airflow found no connection ``conn_id`` although ``AIRFLOW_CONN_<ID>`` is set, if that is why.

    Airflow 3.0 and 3.1 drop a connection whose extra is not valid JSON and report it as missing (3.2
    and later hand it over, and the hook warns); saying "there is no connection" would send the user
    looking in the wrong place.
    """
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    try:
        conn = json.loads(os.environ.get(variable, ""))
    except ValueError:
        return None  # unset, or the URI form (whose extra is always readable)
    extra = conn.get("extra") if isinstance(conn, dict) else None
    if not isinstance(extra, str) or not extra:
        return None
    try:
        json.loads(extra)
    except ValueError as exc:
        return (
            f"{variable} is set, but its extra is not valid JSON ({exc}), so this Airflow refuses the "
            f"whole connection. Correct the extra, e.g. {_EXTRA_EXAMPLE}."
        )
    return None
