"""OpenLineage events of real task runs, read back from OpenLineage's file transport field by field.

``hf_lineage`` runs once per session under ``dag.test()`` in a subprocess (``lineage_run``) whose
environment turns OpenLineage on: this session never loads OpenLineage's listener, so no other test
pays for it. The probe operator (``probe.py``) records what the provider's operators record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from airflow_provider_huggingface.observability.lineage import FACET_SCHEMA_URL, SOURCE_URL, hash_templates
from tests.observability.dags.hf_lineage import SYSTEM, USER
from tests.observability.lineage_run import DAGS
from tests.processes import clean_environ

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "airflow_provider_huggingface" / "observability" / "HuggingFaceRunFacet.json"
NAMESPACE = "hf-lineage-tests"
CANARY_TOKEN = "hf_canarytokenforlineage0001"
CANARY_TEXT = "CANARY-PROMPT-TEXT"
ROWS = [f"{CANARY_TEXT} row {i} with some words" for i in range(3)]
RUN_TIMEOUT = 300


def _env(home: Path, events: Path) -> dict[str, str]:
    env = clean_environ()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
                [
                    {
                        "name": "lineage",
                        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                        "kwargs": {"path": str(DAGS)},
                    }
                ]
            ),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__CORE__FERNET_KEY": "SGbR3ywB6A1Jx0OEGxV2w9yJDRe0L-5fMIvhe8jN7RM=",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            # OpenLineage on, through Airflow's own configuration: events as JSON lines in one file.
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(events), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
            "AIRFLOW_CONN_HF_LINEAGE_ROUTER": json.dumps(
                {"conn_type": "huggingface", "password": CANARY_TOKEN, "extra": {"provider": "together"}}
            ),
            # The token in the host's user info and query too: neither may reach an event.
            "AIRFLOW_CONN_HF_LINEAGE_ENDPOINT": json.dumps(
                {
                    "conn_type": "huggingface",
                    "password": CANARY_TOKEN,
                    "host": f"https://probe:{CANARY_TOKEN}@xyz.endpoints.huggingface.cloud/v1?key={CANARY_TOKEN}",
                }
            ),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HOME": str(home / "huggingface"),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


class Events:
    """The events of one run, by job name and event type."""

    def __init__(self, path: Path, files: dict[str, Path]) -> None:
        self.raw = path.read_text()
        self.all = [json.loads(line) for line in self.raw.splitlines() if line.strip()]
        self.files = files

    def of(self, task_id: str, event_type: str) -> dict[str, Any]:
        matches = [
            e
            for e in self.all
            if e["job"]["name"] == f"hf_lineage.{task_id}" and e["eventType"] == event_type
        ]
        assert len(matches) == 1, (
            task_id,
            event_type,
            [(e["job"]["name"], e["eventType"]) for e in self.all],
        )
        return matches[0]

    def raw_of(self, task_id: str) -> str:
        return "\n".join(json.dumps(e) for e in self.all if e["job"]["name"] == f"hf_lineage.{task_id}")


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Events:
    home = tmp_path_factory.mktemp("lineage-home")
    data = tmp_path_factory.mktemp("lineage-data")
    source, replies = data / "rows.jsonl", data / "replies.jsonl"
    source.write_text("".join(json.dumps({"text": row}) + "\n" for row in ROWS))
    events_file = home / "events.jsonl"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.observability.lineage_run",
            json.dumps({"input": str(source), "output": f"file://{replies}"}),
        ],
        env=_env(home, events_file),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = "\n".join((run.stdout + run.stderr).splitlines()[-80:])
    assert run.returncode == 0, output
    assert '"state": "failed"' in run.stdout, output  # the failing task fails the run, nothing else does
    assert events_file.exists(), f"no OpenLineage events were written:\n{output}"
    assert replies.read_text().count("reply to") == len(ROWS)
    return Events(events_file, {"input": source, "output": replies})


def _facet(event: dict[str, Any]) -> dict[str, Any]:
    return event["run"]["facets"]["huggingface"]


def _datasets(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in items]


def test_batch_complete_names_its_files_and_the_model_that_answered(events: Events) -> None:
    event = events.of("batch", "COMPLETE")
    assert event["job"]["namespace"] == NAMESPACE
    assert _datasets(event["inputs"]) == [
        ("file", str(events.files["input"])),
        ("hf://models", "Qwen/Qwen2.5-72B-Instruct"),
    ]
    assert event["inputs"][1]["facets"]["datasetType"]["datasetType"] == "MODEL"
    assert _datasets(event["outputs"]) == [("file", str(events.files["output"]))]


def test_batch_complete_run_facet_field_by_field(events: Events) -> None:
    facet = _facet(events.of("batch", "COMPLETE"))
    assert facet["_schemaURL"] == FACET_SCHEMA_URL
    assert facet["_producer"].startswith(f"{SOURCE_URL}/tree/")
    assert facet["operation"] == "chat"
    assert facet["modelRequested"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert facet["modelsUsed"] == ["Qwen/Qwen2.5-72B-Instruct"]
    assert facet["inferenceProvider"] == "together"
    assert facet["providersUsed"] == ["together"]
    assert "endpointHost" not in facet
    assert facet["promptVersion"] == hash_templates({"system_prompt": SYSTEM, "user_prompt": USER})
    assert "promptTemplates" not in facet
    assert facet["inputTokens"] == sum(len(row.split()) for row in ROWS)
    assert facet["outputTokens"] == 3 * len(ROWS)
    assert facet["calls"] == len(ROWS)
    assert facet["failedCalls"] == 0


def test_start_event_names_the_model_asked_for_before_any_call(events: Events) -> None:
    event = events.of("batch", "START")
    assert ("hf://models", "meta-llama/Llama-3.1-8B-Instruct") in _datasets(event["inputs"])
    assert _datasets(event["outputs"]) == [("file", str(events.files["output"]))]
    facet = _facet(event)
    assert (facet["calls"], facet["modelsUsed"]) == (0, [])
    assert facet["promptVersion"] == _facet(events.of("batch", "COMPLETE"))["promptVersion"]


def test_endpoint_task_names_the_endpoint_and_includes_templates_on_request(events: Events) -> None:
    event = events.of("endpoint", "COMPLETE")
    assert _datasets(event["inputs"]) == [("https://xyz.endpoints.huggingface.cloud", "tgi")]
    assert event["outputs"] == []
    facet = _facet(event)
    assert facet["endpointHost"] == "xyz.endpoints.huggingface.cloud"
    assert facet["inferenceProvider"] == "auto"
    # The templates as written in the DAG, asked for by the operator: never rendered ones.
    assert facet["promptTemplates"] == {"user_prompt": USER}
    assert (facet["calls"], facet["inputTokens"]) == (1, len(USER.split()))


def test_failed_task_reports_its_calls_in_a_fail_event(events: Events) -> None:
    event = events.of("failing", "FAIL")
    facet = _facet(event)
    assert (facet["calls"], facet["failedCalls"]) == (1, 1)
    assert facet["modelsUsed"] == ["mistralai/Mistral-7B-Instruct-v0.3"]
    assert ("hf://models", "mistralai/Mistral-7B-Instruct-v0.3") in _datasets(event["inputs"])


def test_run_facets_match_their_published_schema(events: Events) -> None:
    schema = json.loads(SCHEMA.read_text())["$defs"]["HuggingFaceRunFacet"]["allOf"][1]
    facets = [_facet(e) for e in events.all if "huggingface" in e["run"].get("facets", {})]
    assert len(facets) == 6  # START and COMPLETE/FAIL of three tasks
    for facet in facets:
        jsonschema.validate(facet, schema)
        assert set(facet) - {"_producer", "_schemaURL"} <= set(schema["properties"])


def test_no_token_and_no_prompt_or_reply_text_in_any_event(events: Events) -> None:
    assert events.all
    assert CANARY_TOKEN not in events.raw
    assert CANARY_TEXT not in events.raw  # the rows: rendered prompts and replies are made of them
    assert "reply to" not in events.raw
    # Template text only where the operator asked for it.
    for task_id in ("batch", "failing"):
        assert "TEMPLATE-MARK" not in events.raw_of(task_id)
