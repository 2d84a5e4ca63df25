"""OpenLineage events of the provider's real operators, read back from OpenLineage's file transport field
by field.

``hf_lineage_operators`` runs once under ``dag.test()`` in a subprocess (``lineage_run``, with the
environment of ``test_lineage_events``) whose Hub and router are this module's fake: it names
``together`` as the provider that served each router reply, and answers every call to the retired model
with a 410, so a fallback answers. Upstream data, the input file's rows and every reply carry canary text
that no event may hold; the connections carry a canary token.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from airflow_provider_huggingface.observability.lineage import FACET_SCHEMA_URL, SOURCE_URL, hash_templates
from tests.fakes import tool_calls
from tests.fakes.hf_api import FakeHF, Fault
from tests.observability.dags import hf_lineage_operators as dag
from tests.observability.lineage_run import FAKE_HUB_VARIABLE, run_in_subprocess
from tests.observability.test_lineage_events import (
    CANARY_TEXT,
    CANARY_TOKEN,
    NAMESPACE,
    SCHEMA,
    Events,
    _env,
)

DAG_ID = "hf_lineage_operators"
REPLY_TEXT = "CANARY-REPLY-TEXT"
ROWS = [f"{CANARY_TEXT} row {i} with some words" for i in range(3)]
UPSTREAM = f"{CANARY_TEXT} from upstream"
SERVED_BY = "together"
HUB_MISTRAL = ("hf://models", dag.MISTRAL)
# Prompt versions: the templates as written in the DAG file, never as rendered.
CHAT_VERSION = hash_templates({"system_prompt": dag.SYSTEM, "user_prompt": dag.USER})


def _reply(body: dict[str, Any]) -> Any:
    if body.get("tools"):
        call = {"name": "lookup_order", "arguments": {"order_id": 7}}
        return tool_calls.turns({"tool_calls": [call]}, f"{REPLY_TEXT} refunded")(body)
    return f"{REPLY_TEXT} noted"


class Run:
    """The run's events, its task states and XComs, and the fake's address."""

    def __init__(self, events: Events, summary: dict[str, Any], fake_url: str) -> None:
        self.events = events
        self.states: dict[str, str] = summary["tasks"]
        self.xcom: dict[str, Any] = summary["xcom"]
        self.fake_url = fake_url


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    home = tmp_path_factory.mktemp("lineage-ops-home")
    data = tmp_path_factory.mktemp("lineage-ops-data")
    source, replies = data / "rows.jsonl", data / "replies"
    source.write_text("".join(json.dumps({"text": row}) + "\n" for row in ROWS))
    events_file = home / "events.jsonl"
    with FakeHF() as fake:
        fake.served_by = SERVED_BY
        fake.reply = _reply
        fake.add_model(
            dag.RETIRED, tags=["text-generation", "conversational"], providers={"hf-inference": "live"}
        )
        fake.model_faults = {
            dag.RETIRED: Fault.status(410, {"error": f"Model {dag.RETIRED} is no longer served"})
        }
        env = _env(home, events_file)
        env[FAKE_HUB_VARIABLE] = fake.url
        extra = {"max_retries": 1, "backoff": 0.01}
        env["AIRFLOW_CONN_HF_LINEAGE_OPS"] = json.dumps(
            {"conn_type": "huggingface", "password": CANARY_TOKEN, "extra": extra}
        )
        env["AIRFLOW_CONN_HF_LINEAGE_OPS_ENDPOINT"] = json.dumps(
            {"conn_type": "huggingface", "password": CANARY_TOKEN, "host": fake.url, "extra": extra}
        )
        env[dag.UPSTREAM_VARIABLE] = UPSTREAM
        conf = {"input": f"file://{source}", "output": f"file://{replies}/"}
        summary, output = run_in_subprocess(conf, env, DAG_ID)
        fake_url = fake.url
    assert events_file.exists(), f"no OpenLineage events were written:\n{output}"
    # The task that cannot fill its prompt fails, before any call; every other one succeeds.
    assert summary["tasks"] == {
        "fetch": "success",
        "chat": "success",
        "batch": "success",
        "deferred": "success",
        "agent": "success",
        "endpoint": "success",
        "unfilled": "failed",
    }, output
    return Run(Events(events_file, {"input": source, "output": replies}, dag_id=DAG_ID), summary, fake_url)


def _facet(event: dict[str, Any]) -> dict[str, Any]:
    return event["run"]["facets"]["huggingface"]


def _datasets(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in items]


def _assert_usage(facet: dict[str, Any], usage: dict[str, int]) -> None:
    assert (facet["inputTokens"], facet["outputTokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


def test_chat_complete_names_the_model_that_answered_after_the_fallback(run: Run) -> None:
    event = run.events.of("chat", "COMPLETE")
    assert event["job"]["namespace"] == NAMESPACE
    assert _datasets(event["inputs"]) == [HUB_MISTRAL]
    assert event["inputs"][0]["facets"]["datasetType"]["datasetType"] == "MODEL"
    assert event["outputs"] == []
    facet = _facet(event)
    assert facet["_schemaURL"] == FACET_SCHEMA_URL
    assert facet["_producer"].startswith(f"{SOURCE_URL}/tree/")
    assert facet["operation"] == "chat"
    assert facet["modelRequested"] == dag.RETIRED
    assert facet["modelsUsed"] == [dag.MISTRAL] == [run.xcom["chat"]["model"]]
    assert facet["inferenceProvider"] == "auto"
    assert facet["providersUsed"] == [SERVED_BY] == [run.xcom["chat"]["provider"]]
    assert "endpointHost" not in facet
    assert facet["promptVersion"] == CHAT_VERSION
    assert "promptTemplates" not in facet
    assert (facet["calls"], facet["failedCalls"]) == (1, 1)  # the retired model's 410, then the answer
    _assert_usage(facet, run.xcom["chat"]["usage"])


def test_chat_start_is_sent_before_any_call_with_the_model_asked_for(run: Run) -> None:
    event = run.events.of("chat", "START")
    assert _datasets(event["inputs"]) == [("hf://models", dag.RETIRED)]
    facet = _facet(event)
    assert (facet["calls"], facet["failedCalls"], facet["modelsUsed"], facet["providersUsed"]) == (
        0,
        0,
        [],
        [],
    )
    assert (facet["inputTokens"], facet["outputTokens"]) == (0, 0)
    assert facet["promptVersion"] == CHAT_VERSION
    assert facet["modelRequested"] == dag.RETIRED


def test_batch_names_its_input_file_and_output_folder(run: Run) -> None:
    source, replies = run.events.files["input"], run.events.files["output"]
    for event_type in ("START", "COMPLETE"):
        event = run.events.of("batch", event_type)
        assert _datasets(event["inputs"]) == [("file", str(source)), HUB_MISTRAL]
        # The folder, a dataset that keeps its name from run to run (the file in it is per run).
        assert _datasets(event["outputs"]) == [("file", f"{replies}/")]
    facet = _facet(run.events.of("batch", "COMPLETE"))
    summary = run.xcom["batch"]
    assert summary["succeeded"] == len(ROWS)
    assert (facet["calls"], facet["failedCalls"]) == (len(ROWS), 0)
    assert facet["modelsUsed"] == [dag.MISTRAL]
    assert facet["providersUsed"] == [SERVED_BY]
    assert facet["promptVersion"] == hash_templates({"system_prompt": dag.SYSTEM, "user_prompt": dag.ITEM})
    _assert_usage(facet, summary["usage"])


def test_deferred_chat_completes_after_execute_complete_with_the_triggerers_calls(run: Run) -> None:
    # Airflow's listener sends START again when the task resumes in execute_complete; each says what
    # is known before any call.
    starts = run.events.every("deferred", "START")
    assert starts
    for start in starts:
        assert _facet(start)["calls"] == 0
        assert _datasets(start["inputs"]) == [("hf://models", dag.RETIRED)]
    event = run.events.of("deferred", "COMPLETE")
    assert run.events.all.index(event) > run.events.all.index(starts[-1])
    assert _datasets(event["inputs"]) == [HUB_MISTRAL]
    facet = _facet(event)
    # The triggerer's calls: the retired model's 410 and the fallback's answer, served by together.
    assert (facet["calls"], facet["failedCalls"]) == (1, 1)
    assert facet["modelsUsed"] == [dag.MISTRAL] == [run.xcom["deferred"]["model"]]
    assert facet["providersUsed"] == [SERVED_BY] == [run.xcom["deferred"]["provider"]]
    _assert_usage(facet, run.xcom["deferred"]["usage"])
    # lineage_prompt_text=True: the templates as written, in every event of the task.
    for each in [*starts, event]:
        assert _facet(each)["promptTemplates"] == {"system_prompt": dag.SYSTEM, "user_prompt": dag.USER}
        assert _facet(each)["promptVersion"] == CHAT_VERSION


def test_agent_counts_each_turn(run: Run) -> None:
    event = run.events.of("agent", "COMPLETE")
    assert _datasets(event["inputs"]) == [HUB_MISTRAL]
    facet = _facet(event)
    assert (facet["calls"], facet["failedCalls"]) == (2, 0)  # a tool call, then the answer
    assert facet["modelsUsed"] == [dag.MISTRAL]
    assert facet["providersUsed"] == [SERVED_BY]
    assert facet["promptVersion"] == hash_templates({"user_prompt": dag.AGENT_USER})
    _assert_usage(facet, run.xcom["agent"]["usage"])


def test_endpoint_chat_names_the_endpoint_and_no_provider(run: Run) -> None:
    endpoint = run.fake_url  # http://127.0.0.1:<port>
    assert _datasets(run.events.of("endpoint", "START")["inputs"]) == [(endpoint, "/")]
    event = run.events.of("endpoint", "COMPLETE")
    assert _datasets(event["inputs"]) == [(endpoint, "fake-model")]  # the server's own model answered
    facet = _facet(event)
    assert facet["endpointHost"] == endpoint.removeprefix("http://")
    assert "inferenceProvider" not in facet
    assert facet["providersUsed"] == []  # an endpoint names no inference provider
    assert "provider" not in run.xcom["endpoint"]
    assert facet["calls"] == 1


def test_a_task_that_fails_before_any_call_still_names_its_model_and_prompt_version(run: Run) -> None:
    event = run.events.of("unfilled", "FAIL")
    assert _datasets(event["inputs"]) == [HUB_MISTRAL]
    facet = _facet(event)
    assert (facet["calls"], facet["failedCalls"], facet["modelsUsed"]) == (0, 0, [])
    assert facet["modelRequested"] == dag.MISTRAL
    assert facet["promptVersion"] == hash_templates({"user_prompt": dag.MISSING})


def test_every_run_facet_matches_its_published_schema(run: Run) -> None:
    schema = json.loads(SCHEMA.read_text())["$defs"]["HuggingFaceRunFacet"]["allOf"][1]
    facets = [_facet(e) for e in run.events.all if "huggingface" in e["run"].get("facets", {})]
    assert len(facets) >= 11  # START and COMPLETE/FAIL of six tasks; a deferred task's START again
    for facet in facets:
        jsonschema.validate(facet, schema)


def test_no_token_no_upstream_data_and_no_reply_in_any_event(run: Run) -> None:
    raw = run.events.raw
    assert CANARY_TOKEN not in raw
    assert CANARY_TEXT not in raw  # the upstream data and the file's rows: rendered prompts hold them
    assert REPLY_TEXT not in raw
    # Template text only in the events of the task that asked for it.
    for task_id in ("chat", "batch", "agent", "endpoint", "unfilled"):
        assert "TEMPLATE-MARK" not in run.events.raw_of(task_id), task_id
    assert "USER-TEMPLATE-MARK" in run.events.raw_of("deferred")
