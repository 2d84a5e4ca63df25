"""Run a DAG of ``dags/`` with ``dag.test()`` in this process, with OpenLineage on (its file transport).

The lineage tests start it in a subprocess whose environment configures Airflow and OpenLineage, so the
test session itself never loads OpenLineage's listener: the rest of the suite does no lineage work.
Usage: ``python -m tests.observability.lineage_run '<run conf as JSON>' [dag_id]`` (default
``hf_lineage``); prints, on a line of its own, the run's state, each task's, and each task's XCom. With
``HF_LINEAGE_FAKE_HUB`` set to the URL of the tests' fake Hugging Face API, the Hub and the router calls of
the run go to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DAGS = Path(__file__).parent / "dags"
ROOT = Path(__file__).resolve().parents[2]
FAKE_HUB_VARIABLE = "HF_LINEAGE_FAKE_HUB"
RUN_TIMEOUT = 300


def run_in_subprocess(conf: dict, env: dict[str, str], dag_id: str = "hf_lineage") -> tuple[dict, str]:
    """Run ``dag_id`` in a subprocess with ``env``; return its summary (see ``main``) and the last
    lines of its output. Fails the test when the subprocess fails."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.observability.lineage_run", json.dumps(conf), dag_id],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = "\n".join((done.stdout + done.stderr).splitlines()[-80:])
    assert done.returncode == 0, output
    summary = next((line for line in reversed(done.stdout.splitlines()) if line.startswith('{"state"')), None)
    assert summary is not None, output
    # Output of the run's last moments may follow on the same line: the summary is the first JSON value.
    return json.JSONDecoder().raw_decode(summary)[0], output


def main(conf: str, dag_id: str = "hf_lineage") -> None:
    from airflow.utils import db

    from tests.airflow_internals import dag_bag, share_in_process_execution_api

    fake_hub = os.environ.get(FAKE_HUB_VARIABLE)
    if fake_hub:
        from tests.fakes.hf_api import redirect_hub_to

        redirect_hub_to(fake_hub)
    db.resetdb()
    share_in_process_execution_api()
    bag = dag_bag(DAGS)
    assert not bag.import_errors, bag.import_errors
    run = bag.dags[dag_id].test(run_conf=json.loads(conf))
    tis = run.get_task_instances()
    states = {ti.task_id: str(ti.state) for ti in tis}
    xcoms = {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in tis}
    print(json.dumps({"state": str(run.state), "tasks": states, "xcom": xcoms}, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:])
