"""What a DAG file pays, at every parse, to import the provider's modules.

For each module: the sum of the ``-X importtime`` self times of the modules it adds on top of
``from airflow.sdk import DAG, BaseOperator, BaseHook`` (what any DAG file imports already), the
minimum over fresh processes. Goals (issue 16): the hook and the chat operator modules at most 15 ms,
the batch, branch and decorator modules at most 20 ms; the embedding operator is held to the chat
operator's 15 ms and the agent operator to 20 ms.

    python bench/bench_imports.py [--runs 5] [module ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "from airflow.sdk import DAG, BaseOperator, BaseHook"
MODULES = {
    "airflow_provider_huggingface.hooks.huggingface": 15.0,
    "airflow_provider_huggingface.operators.huggingface": 15.0,
    "airflow_provider_huggingface.operators.batch": 20.0,
    "airflow_provider_huggingface.operators.branch": 20.0,
    "airflow_provider_huggingface.operators.embedding": 15.0,
    "airflow_provider_huggingface.operators.agent": 20.0,
    "airflow_provider_huggingface.decorators.huggingface": 20.0,
}


def added_ms(module: str) -> tuple[float, list[str]]:
    """Self time of what ``import module`` adds after the base imports, and those modules' names."""
    code = f"{BASE}\nimport sys\nprint('---MARK---', file=sys.stderr, flush=True)\nimport {module}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, check=True
    )
    after = run.stderr.split("---MARK---", 1)[1]
    total, names = 0, []
    for line in after.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        total += int(self_us)
        names.append(name.strip())
    return total / 1000, names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--show", action="store_true", help="list the modules each import adds")
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args()
    over = 0
    for module in args.modules or MODULES:
        runs = [added_ms(module) for _ in range(args.runs)]
        best, names = min(runs)
        goal = MODULES.get(module)
        verdict = "" if goal is None else (" ok" if best <= goal else f" OVER the {goal:g} ms goal")
        over += goal is not None and best > goal
        print(f"{module}: {best:.1f} ms added (min of {args.runs}), {len(names)} modules{verdict}")
        if args.show:
            print("   ", " ".join(sorted(names)))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
