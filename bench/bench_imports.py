"""What a DAG file pays, at every parse, to import the provider's modules.

For each module: the sum of the ``-X importtime`` self times of the modules it adds on top of
``from airflow.sdk import DAG, BaseOperator, BaseHook`` (what any DAG file imports already), the
minimum over fresh processes. By default bytecode is written and read, as in an installed package
(pip compiles it at install): a first, uncounted import writes it, so an environment that sets
``PYTHONDONTWRITEBYTECODE`` does not measure the compiler instead. ``--from-source`` measures what a
checkout without bytecode pays: our modules compiled at every import.

Goals (issue 16): the hook and the chat operator modules at most 15 ms, the batch, branch and
decorator modules at most 20 ms; the embedding operator is held to the chat operator's 15 ms, the
agent operator and a DAG file using ``@task.huggingface_chat`` to 20 ms.

    python bench/bench_imports.py [--runs 5] [--from-source] [module ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "airflow_provider_huggingface"
BASE = "from airflow.sdk import DAG, BaseOperator, BaseHook"
_P = "airflow_provider_huggingface"
# What is measured -> (the statement a DAG file runs, the goal in ms).
MODULES = {
    f"{_P}.hooks.huggingface": (f"import {_P}.hooks.huggingface", 15.0),
    f"{_P}.operators.huggingface": (f"import {_P}.operators.huggingface", 15.0),
    f"{_P}.operators.batch": (f"import {_P}.operators.batch", 20.0),
    f"{_P}.operators.branch": (f"import {_P}.operators.branch", 20.0),
    f"{_P}.operators.embedding": (f"import {_P}.operators.embedding", 15.0),
    f"{_P}.operators.agent": (f"import {_P}.operators.agent", 20.0),
    f"{_P}.decorators.huggingface": (f"import {_P}.decorators.huggingface", 20.0),
    # A DAG file that uses @task.huggingface_chat: the decorator builds the chat operator's class.
    "@task.huggingface_chat in use": (
        f"from {_P}.decorators.huggingface import decorated_operator\ndecorated_operator('huggingface_chat')",
        20.0,
    ),
}


def added_ms(statement: str, *, from_source: bool) -> tuple[float, list[str]]:
    """Self time of what ``statement`` imports after the base imports, and those modules' names."""
    code = f"{BASE}\nimport sys\nprint('---MARK---', file=sys.stderr, flush=True)\n{statement}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if from_source:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        for cache in PACKAGE.rglob("__pycache__"):
            shutil.rmtree(cache)
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
    parser.add_argument(
        "--from-source",
        action="store_true",
        help="compile the package's modules at each import (no bytecode), as a fresh checkout would",
    )
    parser.add_argument("modules", nargs="*", help="modules to import (default: the table above)")
    args = parser.parse_args()
    chosen = {m: MODULES.get(m, (f"import {m}", None)) for m in args.modules} if args.modules else MODULES
    how = "from source" if args.from_source else "from bytecode"
    over = 0
    for label, (statement, goal) in chosen.items():
        if not args.from_source:
            added_ms(statement, from_source=False)  # writes the bytecode a package install would have written
        runs = [added_ms(statement, from_source=args.from_source) for _ in range(args.runs)]
        best, names = min(runs)
        verdict = "" if goal is None else (" ok" if best <= goal else f" OVER the {goal:g} ms goal")
        over += goal is not None and best > goal
        print(f"{label}: {best:.1f} ms added ({how}, min of {args.runs}), {len(names)} modules{verdict}")
        if args.show:
            print("   ", " ".join(sorted(names)))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
