"""Extra links: buttons on a task's page in the Airflow UI."""

from __future__ import annotations
