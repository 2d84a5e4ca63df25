"""The one module that imports names which moved between Airflow lines: every name resolves on the
installed Airflow (the version matrix of ``make test`` runs this on 3.0, 3.1, 3.2 and 3.3)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from airflow_provider_huggingface._internal import airflow_compat
from airflow_provider_huggingface.exceptions import HuggingFaceError, InvalidTokenError
from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook


@pytest.mark.parametrize("name", sorted(set(airflow_compat.__all__) - {"run_blocking"}))
def test_every_name_resolves_on_this_airflow(name):
    assert getattr(airflow_compat, name) is not None


def test_the_classes_are_the_ones_airflow_acts_on():
    from airflow.sdk import BaseOperator

    assert issubclass(airflow_compat.BaseOperator, BaseOperator)
    assert issubclass(HuggingFaceHook, airflow_compat.BaseHook)
    # A permanent error must be the AirflowFailException that this Airflow's task runner knows.
    assert issubclass(InvalidTokenError, airflow_compat.AirflowFailException)
    assert issubclass(HuggingFaceError, airflow_compat.AirflowException)
    assert issubclass(airflow_compat.AirflowNotFoundException, airflow_compat.AirflowException)


def test_a_name_that_is_not_there_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchName"):
        airflow_compat.NoSuchName  # noqa: B018


def test_lazy_names_are_looked_up_once():
    stats = airflow_compat.Stats
    assert "Stats" in vars(airflow_compat)
    assert airflow_compat.Stats is stats


def test_run_blocking_runs_off_the_event_loop_thread():
    seen: list[int] = []

    def blocking() -> str:
        seen.append(threading.get_ident())
        return "value"

    assert asyncio.run(airflow_compat.run_blocking(blocking)) == "value"
    assert seen
    assert seen[0] != threading.get_ident()


def test_run_blocking_raises_what_the_call_raises():
    def missing() -> None:
        raise airflow_compat.AirflowNotFoundException("no such connection")

    with pytest.raises(airflow_compat.AirflowNotFoundException, match="no such connection"):
        asyncio.run(airflow_compat.run_blocking(missing))
