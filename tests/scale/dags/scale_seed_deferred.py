"""The seed DAG again, every chat task deferred to the triggerer: ``example_huggingface_chat_deferred``.

``example_dags/example_huggingface_chat.py`` is run as it is, with only its dag_id changed and
``deferrable=True`` given to every task through ``default_args``, so the two DAGs differ in nothing else.
"""

from __future__ import annotations

from pathlib import Path

SEED = Path(__file__).resolve().parents[3] / "example_dags" / "example_huggingface_chat.py"
_DAG_ID = 'dag_id="example_huggingface_chat",'
_DEFERRED = 'dag_id="example_huggingface_chat_deferred", default_args={"deferrable": True},'

_source = SEED.read_text()
if _source.count(_DAG_ID) != 1:
    raise RuntimeError(f"{SEED} no longer holds {_DAG_ID!r} once: update this file to match it.")
# Compiled under this file's name: Airflow locates a DAG by the file that defines it.
exec(compile(_source.replace(_DAG_ID, _DEFERRED), __file__, "exec"))
