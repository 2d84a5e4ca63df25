"""``airflow dags test <dag_id>`` with the run's Hub and router calls sent to the tests' fake Hugging Face
API (its URL in ``HF_UI_FAKE_HUB``): what the browser tier runs to give a real chat task a page.

Usage: ``python -m tests.ui.run_dag <dag_id>``, in the API server's environment (its DB and DAGs folder).
"""

from __future__ import annotations

import os
import sys

FAKE_HUB_VARIABLE = "HF_UI_FAKE_HUB"


def main(dag_id: str) -> None:
    from tests.fakes.hf_api import redirect_hub_to

    redirect_hub_to(os.environ[FAKE_HUB_VARIABLE])
    from airflow.__main__ import main as airflow

    sys.argv = ["airflow", "dags", "test", dag_id]
    airflow()


if __name__ == "__main__":
    main(sys.argv[1])
