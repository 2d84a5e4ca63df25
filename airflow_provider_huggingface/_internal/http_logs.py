"""Keep the HTTP libraries' line per request out of the logs, for our own calls only.

httpx (huggingface_hub 1.x) and httpx2 (2.x) log one INFO line per request ("HTTP Request: POST
..."), and httpcore(2) DEBUG lines, from the task or thread that sends the request: huggingface_hub
sends it in the caller's task (async client) or thread (sync client). A filter on those loggers drops
their records below WARNING while :func:`quiet_http_logs` is active in that task or thread. The flag
is a context variable: asyncio tasks started inside inherit it, ``asyncio.to_thread`` carries it, and
every other task and thread of the process (other triggers, other tasks of a worker) keeps its lines.
No logger's level is changed, so concurrent users cannot leave a level wrong.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

# A logger's filters see only the records logged on that very logger, not its children's: httpcore
# logs on its submodules' loggers, so each is named.
_HTTPCORE_PARTS = ("connection", "http11", "http2", "proxy", "socks")
LOGGERS = (
    "httpx",
    "httpx2",
    *(f"{package}.{part}" for package in ("httpcore", "httpcore2") for part in _HTTPCORE_PARTS),
)

_ours: contextvars.ContextVar[bool] = contextvars.ContextVar("hf_provider_quiet_http_logs", default=False)


class _OurRequestsFilter(logging.Filter):
    """Drops a record below WARNING logged while our calls are quiet in this task or thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not _ours.get()


_FILTER = _OurRequestsFilter()
_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Put the filter on the HTTP libraries' loggers, once per process."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if not _installed:
            for name in LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)  # addFilter itself skips a filter already there
            _installed = True


@contextlib.contextmanager
def quiet_http_logs() -> Iterator[None]:
    """Drop the HTTP libraries' INFO/DEBUG records of the requests sent inside, in this task or thread.

    Do not ``yield`` from an async generator inside it: the flag belongs to the task that runs it.
    """
    install()
    token = _ours.set(True)
    try:
        yield
    finally:
        _ours.reset(token)
