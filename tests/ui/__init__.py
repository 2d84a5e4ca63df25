"""Browser tier: the provider's connection form in the real Airflow UI, driven by headless Chromium."""

from __future__ import annotations
