"""HuggingFaceModelLink on a task's page in the real Airflow UI, after a real run.

The run is ``airflow dags test`` against the API server's own metadata DB, with the probe operator
(``tests/observability/probe.py``), whose fallback model answers. Airflow 3 asks each of the operator's
links for its URL on the worker when the task ends and stores it in XCom; the UI shows it as a button
under "Extra Links" on the Details tab of the task instance's page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.processes import airflow_executable
from tests.ui.dags.hf_ui_links import UNREGISTERED_URL
from tests.ui.plugin import ARTIFACTS, _server_env

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.ui.plugin import AirflowServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DAG_ID, TASK_ID = "hf_ui_links", "summarize"
TOKEN = "hf_canarytokenforuilinks0001"
HUB_URL = "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct"


@pytest.fixture(scope="module")
def finished_run(airflow_server: AirflowServer) -> str:
    """Run the DAG to its end in the server's DB; return the run id."""
    dags = airflow_server.home / "dags"
    shutil.copy(Path(__file__).parent / "dags" / "hf_ui_links.py", dags / "hf_ui_links.py")
    env = _server_env(airflow_server.home, airflow_server.fernet_key, "")
    env.pop("HF_ENDPOINT")  # the link names the public Hub
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["AIRFLOW_CONN_HF_UI_LINKS"] = json.dumps({"conn_type": "huggingface", "password": TOKEN})
    done = subprocess.run(
        [str(airflow_executable("browser")), "dags", "test", DAG_ID],
        env=env,
        cwd=airflow_server.home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
    assert done.returncode == 0, output
    rows = airflow_server.db_rows("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (DAG_ID,))
    assert [state for _, state in rows] == ["success"], (rows, output)
    return rows[0][0]


def test_the_links_api_answers_the_model_that_answered(
    airflow_server: AirflowServer, finished_run: str
) -> None:
    links = airflow_server.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{finished_run}/taskInstances/{TASK_ID}/links")
    assert links["extra_links"] == {"Hugging Face": HUB_URL, "Unregistered": UNREGISTERED_URL}


def test_the_task_page_shows_the_hugging_face_link(ui_page: Page, finished_run: str) -> None:
    page = ui_page
    page.goto(f"/dags/{DAG_ID}/runs/{finished_run}/tasks/{TASK_ID}")
    # Airflow 3.3 lists a task instance's extra links under "Extra Links" on its Details tab.
    page.get_by_role("link", name="Details", exact=True).click()
    expect(page.get_by_text("Extra Links", exact=True)).to_be_visible()
    link = page.get_by_role("link", name="Hugging Face")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", HUB_URL)
    # Registered nowhere, yet shown: Airflow 3 serializes each link as its name and XCom key.
    expect(page.get_by_role("link", name="Unregistered")).to_have_attribute("href", UNREGISTERED_URL)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "extra-link-hugging-face.png"), animations="disabled")
    assert TOKEN not in page.content()
