"""Start and stop a real llama.cpp inference server (``llama-cpp-python[server]``) on localhost.

Tests use :func:`start_llama_server` with the tiny model from :mod:`dev.tiny_gguf`; the demo runs
the CLI in the foreground::

    python -m dev.llama_server --model tiny.gguf [--port N]

The server speaks the OpenAI chat API, so ``huggingface_hub.InferenceClient(base_url=server.url)``
works against it unchanged.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

LLAMA_CPP_REQUIREMENT = "llama-cpp-python[server]==0.3.36"
INSTALL_HINT = (
    "llama_cpp is not importable: run `make test` (it installs the llama tier), or install it with "
    f"CMAKE_ARGS=\"-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF\" pip install '{LLAMA_CPP_REQUIREMENT}' "
    "(it builds from source: about 4 minutes on 2 cores, seconds once pip has cached the wheel)."
)
START_TIMEOUT = 60.0
N_CTX = 512

# The server reads every one of its settings from an environment variable of the same name (any case)
# whenever the command line leaves it out, and HOST, PORT and CONFIG_FILE even override the command
# line. A stray PORT or API_KEY in a CI environment would make the server listen elsewhere or demand
# a key, so the child gets an environment without them. The names are those of llama-cpp-python
# 0.3.36's ModelSettings and ServerSettings.
_SETTING_NAMES_TEXT = """
api_key cache cache_size cache_type chat_format chat_template_kwargs clip_model_path config_file
disable_ping_events draft_model draft_model_num_pred_tokens embedding flash_attn hf_model_repo_id
hf_pretrained_model_name_or_path hf_tokenizer_config_path host interrupt_requests kv_overrides
last_n_tokens_size logits_all lora_base lora_path main_gpu model model_alias mul_mat_q n_batch n_ctx
n_gpu_layers n_threads n_threads_batch n_ubatch numa offload_kqv port root_path rope_freq_base
rope_freq_scale rope_scaling_type rpc_servers seed split_mode ssl_certfile ssl_keyfile tensor_split
type_k type_v use_mlock use_mmap verbose vocab_only yarn_attn_factor yarn_beta_fast yarn_beta_slow
yarn_ext_factor yarn_orig_ctx
"""
_SERVER_SETTING_NAMES = frozenset(_SETTING_NAMES_TEXT.split())


class LlamaServerError(RuntimeError):
    """The server could not be started."""


class LlamaCppMissingError(LlamaServerError):
    """llama-cpp-python (with its server extra) is not installed in the interpreter asked for."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(INSTALL_HINT + (f"\n{detail}" if detail else ""))


def free_port() -> int:
    """A port that was free a moment ago (the server binds it right after; a race is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(
    model_path: str | Path,
    port: int,
    *,
    python: str = sys.executable,
    model_alias: str | None = None,
    n_ctx: int = N_CTX,
    embedding: bool = False,
) -> list[str]:
    """The command line of the server, also used by the CLI below.

    ``embedding=True`` serves ``POST /v1/embeddings`` (give it a model with a pooling type, e.g.
    ``write_tiny_gguf(path, pooling=gguf.PoolingType.MEAN)``); chat completions still work on it.
    """
    model_path = Path(model_path)
    return [
        python,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        # /v1/models lists this id; the default would be the model's full path.
        "--model_alias",
        model_alias or model_path.stem,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # Without this a new request silently cuts off a stream that is still running.
        "--interrupt_requests",
        "false",
        "--verbose",
        "false",
        # The tiny model needs little context; the default 2048 only costs memory and start time.
        "--n_ctx",
        str(n_ctx),
        # A fixed seed makes one session's sequence of answers repeatable (the default is random).
        "--seed",
        "0",
        *(["--embedding", "true"] if embedding else []),
    ]


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without the variables the server would obey."""
    env = dict(os.environ if base is None else base)
    return {key: value for key, value in env.items() if key.lower() not in _SERVER_SETTING_NAMES}


def _llama_cpp_missing_here(python: str) -> bool:
    # Only this interpreter can be asked cheaply; another one is judged by how its server dies.
    return python == sys.executable and importlib.util.find_spec("llama_cpp") is None


def _models_answer(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


class LlamaServer:
    """A running server: ``url`` is its base URL (no trailing slash, no ``/v1``)."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log: IO[bytes] | None = None) -> None:
        self.url = url
        self.process = process
        self._log = log

    def output(self) -> str:
        """What the server has written to stdout and stderr so far (when started with a log file)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server and reap it (kill it when it does not stop in ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LlamaServer(url={self.url!r}, pid={self.process.pid})"


def start_llama_server(
    model_path: str | Path,
    *,
    port: int | None = None,
    python: str = sys.executable,
    timeout: float = START_TIMEOUT,
    embedding: bool = False,
    n_ctx: int = N_CTX,
) -> LlamaServer:
    """Start the server on 127.0.0.1 and return once ``GET /v1/models`` answers (``embedding`` and
    ``n_ctx``: see :func:`server_command`).

    Raises :class:`LlamaCppMissingError` when ``llama_cpp`` is not installed and
    :class:`LlamaServerError` (with the server's output) when it exits or is not up in ``timeout`` s.
    """
    model_path = Path(model_path)
    if _llama_cpp_missing_here(python):
        raise LlamaCppMissingError()
    if not model_path.is_file():
        raise LlamaServerError(f"no model file at {model_path}")
    port = free_port() if port is None else port
    url = f"http://127.0.0.1:{port}"
    # A file, not a pipe: nobody reads the server's access log while it runs, and a full pipe would
    # block it. It lives as long as the server, so LlamaServer.stop() closes it, not a with block.
    log = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(
        server_command(model_path, port, python=python, embedding=embedding, n_ctx=n_ctx),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=server_env(),
    )
    server = LlamaServer(url, process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            output = server.output()
            server.stop()
            if "No module named" in output and "llama_cpp" in output:
                raise LlamaCppMissingError(output.strip())
            raise LlamaServerError(
                f"llama.cpp server exited with code {process.returncode} before answering:\n{output}"
            )
        if _models_answer(url) is not None:
            return server
        if time.monotonic() > deadline:
            output = server.output()
            server.stop()
            raise LlamaServerError(
                f"llama.cpp server not answering at {url} after {timeout:.0f} s:\n{output}"
            )
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a llama.cpp server in the foreground; Ctrl-C stops it.")
    parser.add_argument("--model", required=True, type=Path, help="a GGUF model, e.g. from dev.tiny_gguf")
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument(
        "--embedding", action="store_true", help="also serve /v1/embeddings (the model needs a pooling type)"
    )
    args = parser.parse_args(argv)
    if _llama_cpp_missing_here(sys.executable):
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    # A plain kill of this process must not leave the server running: SystemExit unwinds the with
    # block below, which stops and reaps it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = free_port() if args.port is None else args.port
    # The server's own output (its access log included) goes to stderr, so a failure is visible as it
    # happens and stdout carries only the URL, for a script that reads it.
    process = subprocess.Popen(
        server_command(args.model, port, embedding=args.embedding), env=server_env(), stdout=sys.stderr
    )
    server = LlamaServer(f"http://127.0.0.1:{port}", process)
    with server:
        deadline = time.monotonic() + START_TIMEOUT
        while _models_answer(server.url) is None:
            if process.poll() is not None:
                print(f"llama.cpp server exited with code {process.returncode}", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"llama.cpp server not answering at {server.url}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print(server.url, flush=True)
        try:
            return process.wait()
        except KeyboardInterrupt:
            # Ctrl-C reaches the server too (same process group); leaving the block reaps it.
            return 0


if __name__ == "__main__":
    sys.exit(main())
