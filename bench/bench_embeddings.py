"""Embedding throughput and memory at pipeline scale, against the local fake's feature extraction.

The fake runs in a process of its own and answers each call after ``--latency`` seconds (default 50 ms),
one hash-seeded vector of ``--dim`` values per text. For each size N (default 1,000 and 100,000 short
texts) a fresh process embeds the N texts in batches of ``--batch`` (32), at most ``--concurrency`` (16)
calls in flight, and reports:

- wall time against the ideal N / batch / concurrency x latency, and the ratio (the issue's goal for the
  operator: at most 1.15x at 100,000 texts);
- the CPU time of that process (user and system): what the run costs whatever else the machine runs;
  the wall time needs the fake's process too, so on a busy 2-core machine both rows slow down;
- the peak RSS growth of that process during the run (goal for the operator: under 50 MB more at
  100,000 texts than at 1,000).

Rows:

- ``baseline``: the hand-written loop a user would write: one ``AsyncInferenceClient(provider=
  "hf-inference")``, ``asyncio.gather`` over every batch, each call bounded by an ``asyncio.Semaphore``,
  through the router's feature-extraction URL (redirected to the fake). It keeps every vector in memory.
- ``operator``: HuggingFaceEmbeddingOperator's ``execute()`` over the texts of a JSON Lines file, the
  vectors written to a file (its ``output_path``), on a router connection with provider hf-inference.

Run: python bench/bench_embeddings.py [--sizes 1000,100000] [--latency 0.05] [--dim 16]
     [--batch 32] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

from _common import (
    ROOT,
    fake_process,
    isolated_airflow_env,
    peak_rss_mb,
    report,
    reset_peak_rss,
    rss_mb,
)

TOKEN = "hf_benchmarktoken000000001"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # in the fake's model registry


def texts(n: int) -> list[str]:
    return [f"Short text number {i} about rivers, boats and old stone bridges." for i in range(n)]


def ratio(seconds: float, ideal: float) -> str:
    return f"{seconds / ideal:.2f}x" if ideal else "n/a"


def ideal_seconds(n: int, batch: int, concurrency: int, latency: float) -> float:
    return n / batch / concurrency * latency


# ----------------------------------------------------------------------------------------------- baseline


async def gather_baseline(items: list[str], *, batch: int, concurrency: int) -> list:
    """The hand-written loop: every batch at once under a semaphore, one client, results in order."""
    from huggingface_hub import AsyncInferenceClient

    limit = asyncio.Semaphore(concurrency)
    async with AsyncInferenceClient(provider="hf-inference", token=TOKEN) as client:

        async def embed(chunk: list[str]):
            async with limit:
                return await client.feature_extraction(chunk, model=MODEL)

        return await asyncio.gather(*(embed(items[i : i + batch]) for i in range(0, len(items), batch)))


def baseline_child(n: int, url: str, batch: int, concurrency: int) -> dict[str, float]:
    """In a fresh process: the baseline over n texts; its wall time and memory."""
    from tests.fakes.hf_api import redirect_hub_to

    redirect_hub_to(url)
    items = texts(n)
    # Warm-up: imports, the Hub's model check (cached per process), the first connections.
    asyncio.run(gather_baseline(items[: batch * 2], batch=batch, concurrency=concurrency))
    start_mb = rss_mb()
    reset_peak_rss()
    started, cpu = time.perf_counter(), time.process_time()
    results = asyncio.run(gather_baseline(items, batch=batch, concurrency=concurrency))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    vectors = sum(len(result) for result in results)
    assert vectors == n, f"{vectors} vectors for {n} texts"
    dim = int(results[0].shape[1])
    return {"seconds": seconds, "cpu": cpu, "start_mb": start_mb, "peak_mb": peak_rss_mb(), "dim": dim}


# ----------------------------------------------------------------------------------------------- operator


def operator_child(n: int, url: str, batch: int, concurrency: int) -> dict[str, float]:
    """In a fresh process: HuggingFaceEmbeddingOperator over n texts of a JSON Lines file, vectors to a
    file, on a router connection (provider hf-inference, like the baseline's client), measured the same
    way. Its execute() runs whole: both passes over the file, the engine, the file of vectors."""
    import contextlib
    import tempfile
    from pathlib import Path
    from types import SimpleNamespace

    from airflow_provider_huggingface.operators.embedding import HuggingFaceEmbeddingOperator
    from tests.fakes.hf_api import redirect_hub_to

    redirect_hub_to(url)
    os.environ["AIRFLOW_CONN_HF_BENCH"] = json.dumps(
        {"conn_type": "huggingface", "password": TOKEN, "extra": {"provider": "hf-inference"}}
    )
    work = Path(tempfile.mkdtemp(prefix="bench-embeddings-"))
    source = work / "texts.jsonl"
    with source.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(text) + "\n" for text in texts(n))

    def run(inputs: str, run_id: str) -> dict:
        operator = HuggingFaceEmbeddingOperator(
            task_id="embed",
            hf_conn_id="hf_bench",
            model=MODEL,
            inputs=inputs,
            output_path=(work / "vectors").as_uri(),
            batch_size=batch,
            max_concurrency=concurrency,
        )
        operator.progress_interval = 3600.0  # the bench's own timing, not progress lines
        ti = SimpleNamespace(
            dag_id="bench", run_id=run_id, task_id="embed", map_index=-1, xcom_push=lambda **kw: None
        )
        # The task log goes to stdout, where the parent reads this child's result line.
        with contextlib.redirect_stdout(sys.stderr):
            return operator.execute({"ti": ti, "params": {}, "run_id": run_id})  # type: ignore[arg-type]

    # Warm-up: imports, the Hub's model check (cached per process), the first connections.
    warm = work / "warm.jsonl"
    warm.write_text("".join(json.dumps(text) + "\n" for text in texts(batch * 2)), encoding="utf-8")
    run(warm.as_uri(), "warm-up")
    start_mb = rss_mb()
    reset_peak_rss()
    started, cpu = time.perf_counter(), time.process_time()
    result = run(source.as_uri(), "measured")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result["count"] == n, result
    with open(result["path"].removeprefix("file://"), encoding="utf-8") as lines:
        written = sum(1 for _ in lines)
    assert written == n, f"{written} vectors written for {n} texts"
    return {
        "seconds": seconds,
        "cpu": cpu,
        "start_mb": start_mb,
        "peak_mb": peak_rss_mb(),
        "dim": result["dimensions"],
    }


# ----------------------------------------------------------------------------------------------- driver


CHILDREN = {"baseline": baseline_child, "operator": operator_child}


def run_child(kind: str, n: int, url: str, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, str(n), url]
    command += ["--batch", str(args.batch), "--concurrency", str(args.concurrency)]
    done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        raise RuntimeError(f"the {kind} run of {n} texts failed:\n{output}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="numbers of texts, comma-separated")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake takes per call")
    parser.add_argument("--dim", type=int, default=16, help="values per vector")
    parser.add_argument("--batch", type=int, default=32, help="texts per call")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight at most")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    isolated_airflow_env()
    if args.child:
        kind, n, url = args.child
        print(json.dumps(CHILDREN[kind](int(n), url, args.batch, args.concurrency)))
        return

    sizes = [int(n) for n in args.sizes.split(",")]
    rows: list[tuple[str, str]] = [
        (
            "setup",
            f"batch {args.batch}, {args.concurrency} in flight, {args.latency * 1000:g} ms a call, "
            f"{args.dim} values a vector, fake in its own process",
        )
    ]
    peaks: dict[str, dict[int, float]] = {kind: {} for kind in CHILDREN}
    with fake_process(args.latency, args.dim) as (url, counts):
        for n in sizes:
            ideal = ideal_seconds(n, args.batch, args.concurrency, args.latency)
            rows.append((f"{n:,} texts: ideal", f"{ideal:.2f} s"))
            for kind in CHILDREN:
                result = run_child(kind, n, url, args)
                growth = result["peak_mb"] - result["start_mb"]
                peaks[kind][n] = result["peak_mb"]
                rows.append(
                    (
                        f"  {kind}",
                        f"{result['seconds']:.2f} s = {ratio(result['seconds'], ideal)} ideal, "
                        f"{result['cpu']:.1f} s of CPU; peak RSS +{growth:.1f} MB during the run "
                        f"({result['peak_mb']:.0f} MB)",
                    )
                )
    for kind, by_size in peaks.items():
        if len(by_size) > 1:
            low, high = min(by_size), max(by_size)
            rows.append(
                (f"{kind}: peak RSS {low:,} -> {high:,} texts", f"+{by_size[high] - by_size[low]:.1f} MB")
            )
    rows.append(("embedding calls the fake answered", f"{counts['embedding']:,}"))
    report("Embeddings on the local fake (feature extraction, hf-inference route)", rows)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
