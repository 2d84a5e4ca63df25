"""agents/http.py against a real HTTP server on 127.0.0.1 through a real ``http`` connection whose
base URL has a path (``/api``): GETs and parameters answer, error statuses come back to the model, and
nothing outside the base URL is ever requested."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_huggingface.agents.http import http_tool, relative_path
from airflow_provider_huggingface.agents.tools import MAX_RESULT_CHARS, PreparedCall, ToolError, prepare, run
from airflow_provider_huggingface.exceptions import ConfigurationError

BIG = 2_000_000


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        if url.path == "/api/orders/42":
            self._send(200, json.dumps({"id": 42, "status": "shipped"}), "application/json")
        elif url.path == "/api/search":
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            self._send(200, json.dumps(query), "application/json")
        elif url.path == "/api/whoami":
            self._send(
                200, self.headers.get("Authorization", "nobody") + " " + self.headers.get("X-Team", "")
            )
        elif url.path == "/api/moved":
            self.send_response(302)
            self.send_header("Location", "http://elsewhere.invalid/api/orders/42")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/api/big":
            self._send(200, "b" * BIG)
        elif url.path == "/api/broken":
            self._send(500, "database down\n\nretry later")
        else:
            self._send(404, f"no such page: {url.path}")

    def _send(self, status, body, content_type="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def api(server, monkeypatch):
    """The connection ``orders_api`` to the server's ``/api`` base path; the paths the server saw."""
    server.seen.clear()
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORDERS_API",
        json.dumps(
            {
                "conn_type": "http",
                "host": f"http://127.0.0.1:{server.server_address[1]}/api",
                "login": "agent",
                "password": "s3cret",
                "extra": {"X-Team": "support"},
            }
        ),
    )
    return server.seen


def get(tool, arguments):
    prepared = prepare(
        {tool.name: tool}, {"id": "g1", "function": {"name": tool.name, "arguments": arguments}}
    )
    assert isinstance(prepared, PreparedCall)
    return run(prepared)


def test_the_tools_spec():
    assert http_tool(conn_id="orders_api").spec() == {
        "type": "function",
        "function": {
            "name": "http_get",
            "description": "Send an HTTP GET request to the API and get the response body back. Give the "
            "path under the API's base URL (e.g. 'orders/42', not a full URL) and optional query parameters.",
            "parameters": {
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
            },
        },
    }


@pytest.mark.parametrize("path", ["orders/42", "/orders/42"])
def test_a_get_under_the_base_url(api, path):
    outcome = get(http_tool(conn_id="orders_api"), {"path": path})
    assert (outcome.error, outcome.text) == (None, '{"id": 42, "status": "shipped"}')
    assert api == ["/api/orders/42"]


def test_query_parameters(api):
    outcome = get(
        http_tool(conn_id="orders_api"), '{"path": "search", "params": {"status": "open", "limit": 2}}'
    )
    assert json.loads(outcome.text) == {"status": "open", "limit": "2"}
    assert api == ["/api/search?status=open&limit=2"]


def test_the_connection_authenticates_and_adds_headers(api):
    outcome = get(http_tool(conn_id="orders_api", headers={"X-Extra": "1"}), {"path": "whoami"})
    assert outcome.text == "Basic YWdlbnQ6czNjcmV0 support"  # base64 of agent:s3cret, the extra's header


def test_a_404_is_an_error_for_the_model(api):
    outcome = get(http_tool(conn_id="orders_api"), {"path": "orders/7"})
    assert (outcome.error, outcome.text) == (
        "tool_error",
        "Error from http_get: HTTP 404 Not Found for GET orders/7: no such page: /api/orders/7. Check the "
        "path and parameters.",
    )


def test_a_server_error_is_an_error_for_the_model(api):
    outcome = get(http_tool(conn_id="orders_api"), {"path": "broken"})
    assert outcome.error == "tool_error"
    assert outcome.text.startswith(
        "Error from http_get: HTTP 500 Internal Server Error for GET broken: database down retry later."
    )


def test_redirects_are_not_followed(api):
    outcome = get(http_tool(conn_id="orders_api"), {"path": "moved"})
    assert outcome.error == "tool_error"
    assert outcome.text.startswith(
        "Error from http_get: HTTP 302 Found for GET moved: the server redirects to "
        "http://elsewhere.invalid/api/orders/42, and this tool does not follow redirects."
    )
    assert api == ["/api/moved"]


def test_a_large_body_is_cut(api):
    outcome = get(http_tool(conn_id="orders_api"), {"path": "big"})
    assert outcome.error is None
    assert len(outcome.text) <= MAX_RESULT_CHARS
    assert outcome.text.endswith("characters are shown.]")
    # Only the first megabyte was read: the cut note counts that, and the body's own note says so.
    assert outcome.cut_chars == 1_000_000 + len("\n[Body cut: only its first 1000000 bytes were read.]") - (
        outcome.text.index("\n[Result cut")
    )


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("http://127.0.0.1/secret", "is a full URL"),
        ("https://elsewhere.invalid/api/orders/42", "is a full URL"),
        ("//elsewhere.invalid/x", "names a host"),
        ("../secret", "'.' or '..' segments"),
        ("orders/../../secret", "'.' or '..' segments"),
        ("/../secret", "'.' or '..' segments"),
        ("%2e%2e/secret", "'.' or '..' segments"),
        ("orders/%2E%2E/%2e%2e/secret", "'.' or '..' segments"),
        ("..;/secret", "'.' or '..' segments"),
        ("./orders/42", "'.' or '..' segments"),
        ("..\\secret", "a control character or a backslash"),
        ("orders/42\r\nHost: elsewhere", "a control character or a backslash"),
    ],
)
def test_paths_that_leave_the_base_url_are_refused_before_any_request(api, path, reason):
    outcome = get(http_tool(conn_id="orders_api"), {"path": path})
    assert outcome.error == "tool_error"
    assert reason in outcome.text
    assert api == []


def test_relative_path():
    assert relative_path("/orders/42?x=1") == "orders/42?x=1"
    assert relative_path("orders/a..b/c.d") == "orders/a..b/c.d"
    with pytest.raises(ToolError, match="is a full URL"):
        relative_path("mailto:someone@example.invalid")


def test_a_missing_connection_fails_the_task():
    with pytest.raises(ConfigurationError, match="no Airflow connection 'no_such_api'"):
        get(http_tool(conn_id="no_such_api"), {"path": "x"})


def test_an_unreachable_server_goes_back_to_the_model(monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_DOWN_API", json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{port}"})
    )
    outcome = get(http_tool(conn_id="down_api", timeout=5), {"path": "x"})
    assert outcome.error == "tool_raised"
    assert outcome.text.startswith("Error: the tool http_get failed: ConnectionError: ")


def test_without_the_http_provider_the_error_names_the_package(monkeypatch, api):
    monkeypatch.setitem(sys.modules, "airflow.providers.http.hooks.http", None)  # as if not installed
    with pytest.raises(ConfigurationError, match=r"pip install apache-airflow-providers-http"):
        get(http_tool(conn_id="orders_api"), {"path": "orders/42"})


@pytest.mark.parametrize("timeout", [0, -1, True, "30"])
def test_bad_timeouts_are_refused(timeout):
    with pytest.raises(ConfigurationError, match="timeout is"):
        http_tool(conn_id="orders_api", timeout=timeout)
