"""HuggingFaceModelLink on a task's page in the real Airflow UI, after a real run.

The runs are ``airflow dags test`` against the API server's own metadata DB: one of the probe operator
(``tests/observability/probe.py``), whose fallback model answers, and one of a real
``HuggingFaceChatOperator`` whose retired model the session's fake answers with a 410, so its fallback
answers (the run's Hub and router calls go to the fake: ``tests/ui/run_dag.py``). Airflow 3 asks each
of the operator's links for its URL on the worker when the task ends and stores it in XCom; the UI shows
it as a button under "Extra Links" on the Details tab of the task instance's page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.fakes.hf_api import Fault
from tests.processes import airflow_executable
from tests.ui.dags import hf_ui_chat
from tests.ui.dags.hf_ui_links import UNREGISTERED_URL
from tests.ui.plugin import ARTIFACTS, _server_env
from tests.ui.run_dag import FAKE_HUB_VARIABLE

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.fakes.hf_api import FakeHF
    from tests.ui.plugin import AirflowServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DAG_ID, TASK_ID = "hf_ui_links", "summarize"
TOKEN = "hf_canarytokenforuilinks0001"
HUB_URL = "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct"
CHAT_DAG_ID = "hf_ui_chat"
CHAT_HUB_URL = f"https://huggingface.co/{hf_ui_chat.ANSWERED_BY}"


def _run_to_the_end(airflow_server: AirflowServer, dag_id: str, fake_hub: str | None = None) -> str:
    """Run a DAG of ``dags/`` to its end in the server's DB with ``airflow dags test``; return the run id.
    With ``fake_hub``, the run's Hub and router calls go to that fake."""
    dags = airflow_server.home / "dags"
    shutil.copy(Path(__file__).parent / "dags" / f"{dag_id}.py", dags / f"{dag_id}.py")
    env = _server_env(airflow_server.home, airflow_server.fernet_key, "")
    env.pop("HF_ENDPOINT")  # the link names the public Hub
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    connection = json.dumps({"conn_type": "huggingface", "password": TOKEN, "extra": {"backoff": 0.01}})
    env[f"AIRFLOW_CONN_{dag_id.upper()}"] = connection
    command = [str(airflow_executable("browser")), "dags", "test", dag_id]
    if fake_hub is not None:
        env[FAKE_HUB_VARIABLE] = fake_hub
        command = [sys.executable, "-m", "tests.ui.run_dag", dag_id]
    done = subprocess.run(
        command, env=env, cwd=airflow_server.home, capture_output=True, text=True, timeout=300, check=False
    )
    output = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
    assert done.returncode == 0, output
    rows = airflow_server.db_rows("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (dag_id,))
    assert [state for _, state in rows] == ["success"], (rows, output)
    return rows[0][0]


@pytest.fixture(scope="module")
def finished_run(airflow_server: AirflowServer) -> str:
    """The probe's DAG, run to its end in the server's DB: the run id."""
    return _run_to_the_end(airflow_server, DAG_ID)


@pytest.fixture(scope="module")
def finished_chat_run(airflow_server: AirflowServer, fake_hf_server: FakeHF) -> str:
    """The real chat operator's DAG, run to its end against the session's fake: the run id."""
    fake = fake_hf_server
    fake.reset()
    fake.add_model(
        hf_ui_chat.RETIRED, tags=["text-generation", "conversational"], providers={"hf-inference": "live"}
    )
    fake.model_faults = {hf_ui_chat.RETIRED: Fault.status(410, {"error": "This model is no longer served"})}
    fake.served_by = "together"
    try:
        run_id = _run_to_the_end(airflow_server, CHAT_DAG_ID, fake_hub=fake.url)
        asked = [request.body["model"] for request in fake.chat_requests]
    finally:
        fake.reset()
    assert asked == [hf_ui_chat.RETIRED, hf_ui_chat.ANSWERED_BY]
    return run_id


def test_the_links_api_answers_the_model_that_answered(
    airflow_server: AirflowServer, finished_run: str
) -> None:
    links = airflow_server.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{finished_run}/taskInstances/{TASK_ID}/links")
    assert links["extra_links"] == {"Hugging Face": HUB_URL, "Unregistered": UNREGISTERED_URL}


def _hugging_face_link(page: Page, dag_id: str, run_id: str, href: str) -> None:
    """Open the task instance's page; its "Hugging Face" link must be there, pointing at ``href``."""
    page.goto(f"/dags/{dag_id}/runs/{run_id}/tasks/{TASK_ID}")
    # Airflow 3.3 lists a task instance's extra links under "Extra Links" on its Details tab.
    page.get_by_role("link", name="Details", exact=True).click()
    expect(page.get_by_text("Extra Links", exact=True)).to_be_visible()
    link = page.get_by_role("link", name="Hugging Face")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", href)


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), animations="disabled")
    assert TOKEN not in page.content()


def test_the_task_page_shows_the_hugging_face_link(ui_page: Page, finished_run: str) -> None:
    _hugging_face_link(ui_page, DAG_ID, finished_run, HUB_URL)
    # Registered nowhere, yet shown: Airflow 3 serializes each link as its name and XCom key.
    expect(ui_page.get_by_role("link", name="Unregistered")).to_have_attribute("href", UNREGISTERED_URL)
    _screenshot(ui_page, "extra-link-hugging-face.png")


def test_the_links_api_answers_the_fallback_that_answered_a_real_chat(
    airflow_server: AirflowServer, finished_chat_run: str
) -> None:
    path = f"/api/v2/dags/{CHAT_DAG_ID}/dagRuns/{finished_chat_run}/taskInstances/{TASK_ID}/links"
    assert airflow_server.api(path)["extra_links"] == {"Hugging Face": CHAT_HUB_URL}


def test_a_real_chat_tasks_page_links_the_model_that_answered(ui_page: Page, finished_chat_run: str) -> None:
    # The fallback that answered, not the retired model the task asked for.
    _hugging_face_link(ui_page, CHAT_DAG_ID, finished_chat_run, CHAT_HUB_URL)
    _screenshot(ui_page, "extra-link-chat-operator.png")
