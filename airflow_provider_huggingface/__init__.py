"""Apache Airflow provider for Hugging Face text generation."""

from __future__ import annotations

from airflow_provider_huggingface.provider_info import get_provider_info

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]
