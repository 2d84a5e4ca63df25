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


class _NoIterWrapper:
    """Shaped like Airflow 3.0's object storage file wrapper: ``__getitem__`` and no ``__iter__``, so
    ``for line in f`` asks for ``f[0]`` and fails."""

    def __init__(self, file):
        self._obj = file

    def __getattr__(self, name):
        return getattr(self._obj, name)

    def __getitem__(self, key):
        return self._obj[key]


def test_lines_reads_a_file_that_cannot_be_iterated(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"q": 1}\n\n"last, no newline"', encoding="utf-8")
    with path.open(encoding="utf-8") as file:
        wrapper = _NoIterWrapper(file)
        with pytest.raises(TypeError, match="not subscriptable"):
            list(wrapper)
    with path.open(encoding="utf-8") as file:
        assert list(airflow_compat.lines(_NoIterWrapper(file))) == ['{"q": 1}\n', "\n", '"last, no newline"']
