"""Run ``example_huggingface_chat`` with ``dag.test()`` in an environment where the provider was
installed as a user installs it (a wheel, no test tools), against the local fake of the HF API.

Run it with that environment's Python, from any directory: it imports the fake from
``tests/fakes/`` (standard library only) by path, never the provider's source tree.
It exits non-zero, with the reason, when anything is missing or wrong; a missing package file or
an undeclared dependency shows up here as an import error or a failed task.

    python tests/install/run_example_dag.py            # prints one result line, exits 0 or 1
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "example_huggingface_chat"


def _load_fake():
    # The fake imports its siblings as tests.fakes.*: that package is loaded from its folder alone, as the
    # repo root on sys.path would put the provider's source tree before the installed wheel.
    for name, folder in (("tests", ROOT / "tests"), ("tests.fakes", ROOT / "tests" / "fakes")):
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        assert spec is not None
        assert spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
    module = importlib.import_module("tests.fakes.hf_api")
    assert not any(name.startswith("airflow_provider_huggingface") for name in sys.modules), "fake imports us"
    return module


def _versions() -> str:
    names = ("airflow-provider-huggingface", "apache-airflow", "huggingface_hub", "hf-xet")
    found = []
    for name in (*names, "apache-airflow-providers-common-ai", "pydantic-ai-slim"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            if name in names[:3]:
                raise
    return ", ".join(found)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="airflow-home-"))
    fake = _load_fake().FakeHF().start()
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": "SGbR3ywB6A1Jx0OEGxV2w9yJDRe0L-5fMIvhe8jN7RM=",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",  # the result line, not the DB set-up, in CI logs
            "HF_HOME": str(home / "huggingface"),
            "AIRFLOW_CONN_HUGGINGFACE_DEFAULT": json.dumps({"conn_type": "huggingface", "host": fake.url}),
        }
    )
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT", "PYTHONPATH"):
        os.environ.pop(name, None)
    try:
        return _run(fake)
    finally:
        fake.stop()


def _run(fake) -> int:
    import airflow_provider_huggingface

    where = Path(airflow_provider_huggingface.__file__).resolve()
    if Path(sys.prefix).resolve() not in where.parents:
        return _fail(f"the provider was imported from {where}, not from this environment ({sys.prefix})")

    from airflow.providers_manager import ProvidersManager

    if "airflow-provider-huggingface" not in ProvidersManager().providers:
        return _fail("Airflow does not see the provider: its entry point is missing")

    from airflow.utils import db

    db.resetdb()
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2 and newer
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    if bag.import_errors:
        return _fail(f"the example DAGs do not load: {bag.import_errors}")
    fake.reply = lambda body: f"[{body['messages'][-1]['content'][:20]}]"
    run = bag.dags[DAG_ID].test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    translate = next(ti for ti in run.get_task_instances() if ti.task_id == "translate")
    result = translate.xcom_pull(task_ids="translate")
    problems = []
    if str(run.state) != "success":
        problems.append(f"the run ended {run.state}: {states}")
    if len(fake.chat_requests) != 2:
        problems.append(f"the fake saw {len(fake.chat_requests)} chat requests, not 2")
    if not isinstance(result, dict) or result.get("text") != "[Translate into Frenc]":
        problems.append(f"translate's XCom is {result!r}")
    if problems:
        return _fail("; ".join(problems))
    print(f"{DAG_ID} from the installed package ({_versions()}): 1 passed, 0 failed")
    return 0


def _fail(reason: str) -> int:
    print(f"{DAG_ID} from the installed package: {reason}", file=sys.stderr)
    print(f"{DAG_ID}: 0 passed, 1 failed")
    return 1


if __name__ == "__main__":
    sys.exit(main())
