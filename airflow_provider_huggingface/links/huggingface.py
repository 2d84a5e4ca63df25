"""``HuggingFaceModelLink``: the model a task actually used, on the Hub or on its endpoint.

The model is known only at run time (a fallback may answer), so the operator stores what the link
needs under an XCom key of its own with :meth:`HuggingFaceModelLink.persist` during ``execute``, as
Airflow's Google and Databricks providers do. Airflow 3 asks the link for its URL on the worker when
the task ends and keeps the answer in XCom (``_link_HuggingFaceModelLink``); the UI shows that URL as
a button on the task's page, and a disabled one when the task stored nothing.

The URL is the model's page on the Hub (``https://huggingface.co/<owner>/<name>``, or the Hub
``HF_ENDPOINT`` names), or, for an endpoint connection, the endpoint's URL. User info, query and
fragment are dropped from any URL stored or shown.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["HuggingFaceModelLink", "model_page_url"]


def _clean_url(url: str) -> str:
    """A URL without user info, query or fragment (none of them may carry a secret to the UI)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _hub_url() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def model_page_url(model: str | None, endpoint: str | None = None) -> str:
    """Where a user sees the model: the endpoint's URL, the URL given as the model, or its Hub page;
    ``""`` when neither is known."""
    if endpoint:
        return _clean_url(endpoint)
    if not model:
        return ""
    if "://" in model:
        return _clean_url(model)
    # "owner/name:provider" (a router routing suffix) is the page of "owner/name".
    return f"{_hub_url()}/{model.partition(':')[0]}"


class HuggingFaceModelLink(BaseOperatorLink):
    """The model's page on the Hugging Face Hub, or the endpoint's URL, for the model a task used."""

    name = "Hugging Face"
    key: ClassVar[str] = "huggingface_model"

    @classmethod
    def persist(cls, context: Context, *, model: str | None, endpoint: str | None = None) -> None:
        """Store what the link needs, in ``execute``: the model that answered and the endpoint URL.

        :param context: the task's context.
        :param model: the model actually used (after fallbacks).
        :param endpoint: the connection's endpoint URL; None for the Hugging Face router.
        """
        if model and "://" in model:
            model = _clean_url(model)
        value = {"model": model, "endpoint": _clean_url(endpoint) if endpoint else None}
        context["ti"].xcom_push(key=cls.key, value=value)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value = _xcom().get_value(ti_key=ti_key, key=self.key)
        if not isinstance(value, dict):
            return ""
        return model_page_url(value.get("model"), value.get("endpoint"))


def _xcom() -> Any:
    """Airflow's XCom class, where the running Airflow line keeps it."""
    for module in ("airflow.sdk.execution_time.xcom", "airflow.models.xcom"):  # 3.1+, then 3.0
        try:
            return importlib.import_module(module).XCom
        except (ImportError, AttributeError):
            continue
    raise ImportError("This Airflow has no XCom class where 3.0 to 3.3 keep it")
