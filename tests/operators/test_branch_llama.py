"""The routing example against a real inference server (llama.cpp, tiny random model).

The model's words are random; only the JSON schema's enum, which llama.cpp turns into a grammar,
makes its choice valid. Twenty runs with twenty seeds must each route to exactly one team.
"""

from __future__ import annotations

from collections import Counter

import pytest

pytestmark = pytest.mark.llama

TEAMS = ("billing", "bug", "other")
RUNS = 20


def test_routing_example_always_makes_a_valid_choice(llama_server, use_connection, run_dag):
    use_connection("huggingface_default", host=llama_server.url, extra={"timeout": 60, "max_retries": 0})
    chosen = Counter()
    for seed in range(RUNS):
        run = run_dag(
            "example_huggingface_routing", run_conf={"seed": seed, "ticket": f"ticket number {seed}"}
        )
        assert run.state == "success", (seed, run.states)
        (team,) = run.xcom["route"]["choices"]
        assert team in TEAMS
        assert run.states[team] == "success"
        assert {run.states[t] for t in TEAMS if t != team} == {"skipped"}
        assert run.xcom[team]["text"].strip()
        assert isinstance(run.xcom["route"]["reason"], str)
        chosen[team] += 1
    assert sum(chosen.values()) == RUNS
    print(f"routing on llama.cpp: {RUNS} runs, choices {dict(chosen)}")
