"""The connection form's Test button: on the router, ask the Hub whose token this is; on an
endpoint, ask which models it serves. Either way the extras the connection ignores are named."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_huggingface._internal.connection import ConnectionSettings


def check_connection(settings: ConnectionSettings) -> tuple[bool, str]:
    """The Test button's answer for a connection's settings: ``(ok, message)``, never an exception."""
    ok, message = _test(settings)
    # What the connection ignores is news to whoever just filled it in, success or not.
    return ok, " ".join([message, *(f"Warning: {warning}" for warning in settings.warnings)])


def _test(settings: ConnectionSettings) -> tuple[bool, str]:
    try:
        if settings.base_url:
            return True, _probe_endpoint(settings)
        from huggingface_hub import HfApi

        me = HfApi(token=settings.token).whoami()
    except Exception as exc:
        from airflow_provider_huggingface._internal.error_mapping import map_error

        error = map_error(
            exc, model=None, where=settings.where, secrets=(settings.token,), timeout=settings.timeout
        )
        return False, str(error)
    token_name = ((me.get("auth") or {}).get("accessToken") or {}).get("displayName")
    suffix = f" with token '{token_name}'" if token_name else ""
    return True, f"Connected to Hugging Face as {me.get('name', 'unknown')}{suffix}."


def _probe_endpoint(settings: ConnectionSettings) -> str:
    from huggingface_hub.utils import get_session

    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    session = get_session()
    response = session.get(f"{settings.base_url}/v1/models", headers=headers, timeout=settings.timeout)
    if response.status_code == 404:
        response = session.get(f"{settings.base_url}/health", headers=headers, timeout=settings.timeout)
    from huggingface_hub.utils import hf_raise_for_status

    hf_raise_for_status(response)
    try:
        models = [m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)]
    except Exception:
        models = []
    served = f"; it serves {', '.join(map(str, models[:5]))}" if models else ""
    return f"The endpoint {settings.base_url} answered{served}."
