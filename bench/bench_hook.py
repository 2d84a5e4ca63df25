"""HuggingFaceHook.chat against raw InferenceClient.chat_completion, side by side on the local fake.

Goals: hook overhead at most 1.05x raw (median of 200 calls each, zero latency); importing the hook
module costs under 30 ms on top of ``import airflow.sdk``.

Run: python bench/bench_hook.py
"""

from __future__ import annotations

import json
import os

from _common import interleaved, isolated_airflow_env, median_ms, process_seconds, report, silence_log

CALLS = 200
TOKEN = "hf_benchmarktoken000000001"


def chat_overhead() -> list[tuple[str, str]]:
    from huggingface_hub import InferenceClient

    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook
    from tests.fakes.hf_api import FakeHF

    with FakeHF() as fake:
        os.environ["AIRFLOW_CONN_HF_BENCH"] = json.dumps(
            {"conn_type": "huggingface", "host": fake.url, "password": TOKEN}
        )
        hook = HuggingFaceHook(hf_conn_id="hf_bench")
        quiet = HuggingFaceHook(hf_conn_id="hf_bench")
        silence_log(quiet)
        raw = InferenceClient(base_url=fake.url, token=TOKEN, timeout=120)
        messages = [{"role": "user", "content": "Say hello"}]
        samples = interleaved(
            {
                "raw": lambda: raw.chat_completion(messages, max_tokens=16),
                "hook": lambda: hook.chat(user_prompt="Say hello", max_tokens=16),
                "quiet": lambda: quiet.chat(user_prompt="Say hello", max_tokens=16),
            },
            CALLS,
        )
    raw_ms, hook_ms, quiet_ms = (median_ms(samples[k]) for k in ("raw", "hook", "quiet"))
    return [
        (f"raw InferenceClient.chat_completion, median of {CALLS}", f"{raw_ms:.3f} ms"),
        (f"HuggingFaceHook.chat, median of {CALLS}", f"{hook_ms:.3f} ms"),
        ("ratio hook / raw (goal <= 1.05)", f"{hook_ms / raw_ms:.3f}x"),
        ("same hook with its one log line per call silenced", f"{quiet_ms:.3f} ms"),
        ("ratio silenced hook / raw", f"{quiet_ms / raw_ms:.3f}x"),
    ]


def import_cost(module: str, base: str = "import airflow.sdk", runs: int = 15) -> list[tuple[str, str]]:
    """Median cost of importing ``module`` in a fresh process that has already run ``base``."""
    env = isolated_airflow_env()
    code = f"import time\n{base}\nt = time.perf_counter()\nimport {module}\nprint(time.perf_counter() - t)\n"
    import subprocess
    import sys

    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    base_only = process_seconds(base, env, 3)
    return [
        (f"{base} alone (fresh process, median of 3)", f"{median_ms(base_only):.0f} ms"),
        (f"import {module} on top (median of {runs}, goal < 30 ms)", f"{median_ms(samples):.1f} ms"),
    ]


def main() -> None:
    isolated_airflow_env()
    report("hook.chat vs raw client (local fake, zero latency)", chat_overhead())
    report("import cost", import_cost("airflow_provider_huggingface.hooks.huggingface"))


if __name__ == "__main__":
    main()
