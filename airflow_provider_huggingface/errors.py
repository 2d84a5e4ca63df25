"""Deprecated alias of :mod:`airflow_provider_huggingface.exceptions`, kept for one release."""

from __future__ import annotations

import warnings

from airflow_provider_huggingface.exceptions import *  # noqa: F403
from airflow_provider_huggingface.exceptions import __all__  # noqa: F401

warnings.warn(
    "airflow_provider_huggingface.errors is deprecated; import from airflow_provider_huggingface.exceptions",
    DeprecationWarning,
    stacklevel=2,
)
