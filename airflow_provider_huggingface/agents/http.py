"""An HTTP GET tool over an Airflow ``http`` connection (the http provider's ``HttpHook``).

The connection fixes the scheme, host, port, base path, credentials and headers; the model gives only
a path under the base URL and optional query parameters. Absolute URLs, ``//host`` and paths that climb
out of the base path (``..``) are refused before any request, redirects are not followed, and a status
other than 2xx comes back to the model as an error with the status.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow_provider_huggingface.agents.tools import Tool, ToolError
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from requests import Response

__all__ = ["http_tool"]

_PROVIDER = "apache-airflow-providers-http"
# Control characters and backslashes: some servers read a backslash as a slash.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
# What is read of a body at most; the tool result is cut shorter still (tools.MAX_RESULT_CHARS).
_MAX_BODY_BYTES = 1_000_000
# Of an error status's body, what goes into the error message.
_MAX_ERROR_BODY = 500


def http_tool(
    *,
    conn_id: str,
    name: str = "http_get",
    description: str | None = None,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> Tool:
    """A tool that sends an HTTP GET request under the base URL of an ``http`` connection.

    The model sends a ``path`` relative to the connection's base URL (its host field, with any base
    path) and optional query ``params``; it cannot reach another host or leave the base path, and
    redirects are not followed. Needs ``apache-airflow-providers-http`` where the task runs.

    :param conn_id: an Airflow connection of type ``http``; its host (and schema, port, login,
        password and extra headers) fix where requests go and how they authenticate.
    :param name: the tool's name, as the model calls it.
    :param description: what the model is told about the tool (say what the API serves and which paths
        it has); by default a sentence on what the tool does.
    :param timeout: seconds to wait for the server's answer.
    :param headers: headers sent with every request, besides the connection's.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigurationError(f"http_tool timeout is {timeout!r}: give a number of seconds above 0.")
    if description is None:
        description = (
            "Send an HTTP GET request to the API and get the response body back. Give the path under "
            "the API's base URL (e.g. 'orders/42', not a full URL) and optional query parameters."
        )
    get = _HttpGet(conn_id=conn_id, timeout=float(timeout), headers=dict(headers or {}))
    parameters = {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "The path under the API's base URL, e.g. 'orders/42'. Not a full URL.",
            },
            "params": {
                "type": "object",
                "description": 'Query parameters, e.g. {"status": "open"}.',
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
        },
        "required": ["path"],
        "additionalProperties": False,
    }
    return Tool(name=name, description=description, parameters=parameters, function=get)


def relative_path(path: str) -> str:
    """``path`` as a path under the base URL (no leading ``/``), or a :class:`ToolError` why it cannot be.

    :param path: the path the model sent.
    """
    if _UNSAFE.search(path):
        raise ToolError("the path holds a control character or a backslash: send a plain URL path.")
    if path.startswith("//"):
        raise ToolError(
            f"{path!r} names a host (it starts with //): this tool reaches one API only. Send the path "
            "under its base URL, e.g. 'orders/42'."
        )
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        raise ToolError(
            f"{path!r} is a full URL: this tool reaches one API only. Send the path under its base URL, "
            "e.g. 'orders/42'."
        )
    # "..;" too: some servers (Tomcat) drop what follows a ';' in a segment before resolving "..".
    segments = {segment.split(";")[0] for segment in unquote(parts.path).split("/")}
    if segments & {".", ".."}:
        raise ToolError(
            f"{path!r} holds '.' or '..' segments, which would leave the API's base path. Send the path "
            "under the base URL without them."
        )
    return path.lstrip("/")


class _HttpGet:
    """The HTTP tool's function: check the path, send the GET, return the body or the error status."""

    def __init__(self, *, conn_id: str, timeout: float, headers: dict[str, str]) -> None:
        self.conn_id = conn_id
        self.timeout = timeout
        self.headers = headers

    def __repr__(self) -> str:
        return f"http_tool(conn_id={self.conn_id!r})"

    def __call__(self, path: str, params: dict[str, Any] | None = None) -> str:
        endpoint = relative_path(path)
        hook = _hook(self.conn_id)
        url = hook.url_from_endpoint(endpoint)
        _check_under_base(url, hook.url_from_endpoint(""), path)
        response = hook.run(
            endpoint,
            data=params or None,
            headers=self.headers or None,
            # Ours take precedence over the connection's extras: no redirect to another host, our
            # status handling, a body read only as far as needed.
            extra_options={
                "check_response": False,
                "allow_redirects": False,
                "stream": True,
                "timeout": self.timeout,
            },
        )
        with response:
            return _answer(response, path)


def _hook(conn_id: str) -> Any:
    try:
        from airflow.providers.http.hooks.http import HttpHook
    except ImportError:
        raise ConfigurationError(
            f"http_tool needs the http provider: install {_PROVIDER} where the tasks run "
            f"(pip install {_PROVIDER})."
        ) from None
    from airflow_provider_huggingface._internal.airflow_compat import AirflowNotFoundException

    hook = HttpHook(method="GET", http_conn_id=conn_id)
    try:
        hook.url_from_endpoint("")  # reads the connection, so a missing one fails here, clearly
    except AirflowNotFoundException:
        raise ConfigurationError(
            f"http_tool: there is no Airflow connection {conn_id!r}. Create it (type http, the API's base "
            f"URL as host) or fix conn_id."
        ) from None
    return hook


def _check_under_base(url: str, base: str, path: str) -> None:
    # The path checks above should make this impossible; it guards the URL actually requested.
    target, root = urlsplit(url), urlsplit(base)
    base_path = root.path.rstrip("/") + "/"
    inside = (target.scheme, target.netloc) == (root.scheme, root.netloc) and (target.path + "/").startswith(
        base_path
    )
    if not inside:
        raise ToolError(f"{path!r} leads outside the API's base URL. Send a path under it, e.g. 'orders/42'.")


def _answer(response: Response, path: str) -> str:
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location", "(none given)")
        raise ToolError(
            f"HTTP {response.status_code} {response.reason} for GET {path}: the server redirects to "
            f"{location}, and this tool does not follow redirects. If that is a path under the same API, "
            "call the tool with it."
        )
    body, complete = _read_body(response)
    if not 200 <= response.status_code < 300:
        excerpt = " ".join(body.split())[:_MAX_ERROR_BODY]
        raise ToolError(
            f"HTTP {response.status_code} {response.reason} for GET {path}"
            + (f": {excerpt}" if excerpt else "")
            + ". Check the path and parameters."
        )
    if not complete:
        body += f"\n[Body cut: only its first {_MAX_BODY_BYTES} bytes were read.]"
    return body


def _read_body(response: Response) -> tuple[str, bool]:
    chunks: list[bytes] = []
    size = 0
    complete = True
    for chunk in response.iter_content(chunk_size=65_536):
        chunks.append(chunk)
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            complete = False
            break
    data = b"".join(chunks)[:_MAX_BODY_BYTES]
    try:
        return data.decode(response.encoding or "utf-8", errors="replace"), complete
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", errors="replace"), complete
