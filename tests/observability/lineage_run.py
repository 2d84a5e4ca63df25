"""Run ``hf_lineage`` with ``dag.test()`` in this process, with OpenLineage on (its file transport).

The lineage tests start it in a subprocess whose environment configures Airflow and OpenLineage, so the
test session itself never loads OpenLineage's listener: the rest of the suite does no lineage work.
Usage: ``python -m tests.observability.lineage_run '<run conf as JSON>'``; prints the run's state.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DAGS = Path(__file__).parent / "dags"


def main(conf: str) -> None:
    from airflow.utils import db

    from tests.airflow_internals import dag_bag, share_in_process_execution_api

    db.resetdb()
    share_in_process_execution_api()
    bag = dag_bag(DAGS)
    assert not bag.import_errors, bag.import_errors
    run = bag.dags["hf_lineage"].test(run_conf=json.loads(conf))
    print(json.dumps({"state": str(run.state)}))


if __name__ == "__main__":
    main(sys.argv[1])
