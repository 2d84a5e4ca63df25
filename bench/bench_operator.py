"""HuggingFaceChatOperator: warm and cold costs against the raw client, side by side on the local fake.

- warm: one operator ``execute`` (template render, model check cached, hook call) against raw
  ``InferenceClient.chat_completion``, 200 calls each, zero latency, router mode through the fake
  (goal: at most 1.10x);
- cold, as Airflow runs a task (a fresh process per task): a process that imports ``airflow.sdk`` and
  the operator module, builds the operator and runs one ``execute``, minus a process that only imports
  ``airflow.sdk`` (goal: under 250 ms);
- the import cost of the operator module on top of ``from airflow.sdk import DAG, BaseOperator, BaseHook``
  (goal: under 30 ms).

Run: python bench/bench_operator.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

from _common import ROOT, interleaved, isolated_airflow_env, median_ms, report, silence_log

CALLS = 200
COLD_RUNS = 15
TOKEN = "hf_benchmarktoken000000001"
PROMPT = "Summarize this text: {{fetch.data}}"


def stub_context(task_id: str = "summarize") -> dict:
    """The parts of a task context the operator reads, with one upstream XCom."""
    ti = SimpleNamespace(
        dag_id="bench", task_id=task_id, xcom_pull=lambda task_ids: {"data": "Airflow runs pipelines."}
    )
    return {"ti": ti, "dag": SimpleNamespace(task_ids=["fetch", task_id]), "params": {}, "run_id": "bench"}


def warm() -> list[tuple[str, str]]:
    from huggingface_hub import InferenceClient

    from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator
    from tests.fakes.hf_api import FakeHF, redirect_hub_to

    with FakeHF() as fake:
        undo = redirect_hub_to(fake.url)
        try:
            os.environ["AIRFLOW_CONN_HF_BENCH"] = json.dumps({"conn_type": "huggingface", "password": TOKEN})
            operator = HuggingFaceChatOperator(
                task_id="summarize", hf_conn_id="hf_bench", user_prompt=PROMPT, max_tokens=16
            )
            quiet = HuggingFaceChatOperator(
                task_id="summarize", hf_conn_id="hf_bench", user_prompt=PROMPT, max_tokens=16
            )
            silence_log(quiet.hook)
            context = stub_context()
            raw = InferenceClient(provider="auto", token=TOKEN, timeout=120)
            text = "Summarize this text: Airflow runs pipelines."
            messages = [{"role": "user", "content": text}]
            model = "mistralai/Mistral-7B-Instruct-v0.3"
            samples = interleaved(
                {
                    "raw": lambda: raw.chat_completion(messages, model=model, max_tokens=16),
                    "operator": lambda: operator.execute(context),
                    "quiet": lambda: quiet.execute(context),
                },
                CALLS,
            )
            hub_checks = sum(1 for r in fake.requests if r.path.startswith("/api/models/"))
        finally:
            undo()
    raw_ms, op_ms, quiet_ms = (median_ms(samples[k]) for k in ("raw", "operator", "quiet"))
    return [
        (f"raw InferenceClient.chat_completion, median of {CALLS}", f"{raw_ms:.3f} ms"),
        (f"HuggingFaceChatOperator.execute, median of {CALLS}", f"{op_ms:.3f} ms"),
        ("ratio operator / raw (goal <= 1.10)", f"{op_ms / raw_ms:.3f}x"),
        ("same operator with the hook's one log line per call silenced", f"{quiet_ms:.3f} ms"),
        ("ratio silenced operator / raw", f"{quiet_ms / raw_ms:.3f}x"),
        ("Hub model checks made (cached per process)", str(hub_checks)),
    ]


COLD_TASK = """
import json, os, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
sys.path.insert(0, {bench!r})
from airflow_provider_huggingface.operators.huggingface import HuggingFaceChatOperator
from bench_operator import stub_context
operator = HuggingFaceChatOperator(
    task_id="summarize", hf_conn_id="hf_cold", user_prompt={prompt!r}, max_tokens=16
)
result = operator.execute(stub_context())
t2 = time.perf_counter()
assert result["text"], result
print(json.dumps({{"sdk": t1 - t0, "task": t2 - t1}}))
"""


def cold(env: dict[str, str], url: str) -> list[tuple[str, str]]:
    env = {**env, "AIRFLOW_CONN_HF_COLD": json.dumps({"conn_type": "huggingface", "host": url})}
    env["PYTHONPATH"] = str(ROOT)
    code = COLD_TASK.format(bench=str(ROOT / "bench"), prompt=PROMPT)
    task, whole, base = [], [], []
    for _ in range(COLD_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        task.append(figures["task"])
        base_run = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t = time.perf_counter(); import airflow.sdk; print(time.perf_counter() - t)",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        base.append(float(base_run.stdout.strip().splitlines()[-1]))
        whole.append(figures["sdk"] + figures["task"])
    return [
        (f"import airflow.sdk in a fresh process (median of {COLD_RUNS})", f"{median_ms(base):.0f} ms"),
        ("same + import operator, build, one execute on the fake", f"{median_ms(whole):.0f} ms"),
        ("difference: the task's own cost (goal < 250 ms)", f"{median_ms(task):.0f} ms"),
    ]


def import_cost(env: dict[str, str]) -> list[tuple[str, str]]:
    code = (
        "import time\nfrom airflow.sdk import DAG, BaseOperator, BaseHook\nt = time.perf_counter()\n"
        "import airflow_provider_huggingface.operators.huggingface\nprint(time.perf_counter() - t)\n"
    )
    samples = []
    for _ in range(COLD_RUNS):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return [("import the operator module on top (goal < 30 ms)", f"{median_ms(samples):.1f} ms")]


def main() -> None:
    env = isolated_airflow_env()
    from tests.fakes.hf_api import FakeHF

    report("warm: operator.execute vs raw client (local fake, zero latency, router mode)", warm())
    with FakeHF() as fake:
        report("cold: a fresh process per task, as Airflow runs it (endpoint mode)", cold(env, fake.url))
    report("import cost", import_cost(env))


if __name__ == "__main__":
    main()
