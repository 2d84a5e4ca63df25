"""agents/sql.py against a real SQLite file through Airflow's sqlite provider and a real
``AIRFLOW_CONN_...`` connection: SELECTs answer, rows are capped, and nothing that writes gets through,
neither the statement checks nor the read-only connection underneath."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from airflow_provider_huggingface.agents.sql import fetch_read_only, read_only_statement, sql_tool
from airflow_provider_huggingface.agents.tools import PreparedCall, ToolError, ToolOutcome, prepare, run
from airflow_provider_huggingface.exceptions import ConfigurationError

ROWS = 120


@pytest.fixture
def orders_db(tmp_path, monkeypatch):
    """A SQLite file with 120 orders, behind the Airflow connection ``orders_db``."""
    path = tmp_path / "orders.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, total REAL)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [(i, "open" if i % 2 else "closed", i * 1.5) for i in range(1, ROWS + 1)],
        )
    conn.close()
    monkeypatch.setenv("AIRFLOW_CONN_ORDERS_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def snapshot(path):
    """Everything a write could change: the file's bytes, the schema, the user version, other files."""
    with sqlite3.connect(path) as conn:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        version = conn.execute("PRAGMA user_version").fetchone()
        rows = conn.execute("SELECT * FROM orders ORDER BY id").fetchall()
    conn.close()
    files = sorted(p.name for p in path.parent.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest(), schema, version, rows, files


def query(tool, sql):
    prepared = prepare(
        {tool.name: tool}, {"id": "q1", "function": {"name": tool.name, "arguments": {"query": sql}}}
    )
    assert isinstance(prepared, PreparedCall)
    return run(prepared)


def test_the_tools_spec_and_default_descriptions():
    assert sql_tool(conn_id="orders_db", tables=["orders", "customers"]).spec() == {
        "type": "function",
        "function": {
            "name": "sql_query",
            "description": "Run one read-only SQL SELECT statement on the database and get the rows back as "
            "JSON (column names and at most 50 rows). Statements that change anything are refused. Tables: "
            "orders, customers.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "description": "One SQL SELECT statement (WITH ... SELECT is fine). Nothing that "
                        "changes data.",
                    }
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    }
    plain = sql_tool(conn_id="orders_db", max_rows=5)
    assert plain.description.endswith("at most 5 rows). Statements that change anything are refused.")
    named = sql_tool(conn_id="orders_db", name="orders", description="The shop's orders (SQLite).")
    assert (named.name, named.description) == ("orders", "The shop's orders (SQLite).")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_rows": 0}, "max_rows is 0"),
        ({"max_rows": True}, "max_rows is True"),
        ({"tables": "orders"}, "tables is the string 'orders'"),
        ({"name": "sql query"}, "not a valid tool name"),
    ],
)
def test_bad_factory_arguments_are_refused(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        sql_tool(conn_id="orders_db", **kwargs)


def test_building_the_tool_reads_no_connection():
    # DAG files are parsed where connections may not be reachable: the lookup waits for the first call.
    assert sql_tool(conn_id="no_such_connection").name == "sql_query"


def test_a_select_returns_columns_and_rows(orders_db):
    outcome = query(sql_tool(conn_id="orders_db"), "SELECT id, status, total FROM orders WHERE id <= 3;")
    assert outcome.error is None
    assert json.loads(outcome.text) == {
        "columns": ["id", "status", "total"],
        "rows": [[1, "open", 1.5], [2, "closed", 3.0], [3, "open", 4.5]],
    }


def test_with_select_and_the_schema_are_reads(orders_db):
    tool = sql_tool(conn_id="orders_db")
    cte = query(
        tool,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3), "
        "open_orders AS (SELECT id FROM orders WHERE status = 'open') "
        "SELECT count(*) AS c FROM open_orders WHERE id IN (SELECT i FROM n)",
    )
    assert json.loads(cte.text) == {"columns": ["c"], "rows": [[2]]}
    schema = query(tool, "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    assert json.loads(schema.text)["rows"] == [
        ["orders", "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, total REAL)"]
    ]
    # Pragma functions are not authorized: SQLite asks to update sqlite_master for them.
    assert query(tool, "SELECT name FROM pragma_table_info('orders')").text.endswith(
        "OperationalError: not authorized. Check the arguments, or answer without this tool."
    )


def test_rows_are_capped_and_the_model_told(orders_db):
    outcome = query(sql_tool(conn_id="orders_db"), "SELECT id FROM orders ORDER BY id")
    result = json.loads(outcome.text)
    assert result["rows"] == [[i] for i in range(1, 51)]
    assert result["more_rows"] is True
    assert result["note"].startswith("The query returned more than 50 rows; only the first 50 are shown.")

    five = json.loads(query(sql_tool(conn_id="orders_db", max_rows=5), "SELECT id FROM orders").text)
    assert (len(five["rows"]), five["more_rows"]) == (5, True)

    exact = json.loads(query(sql_tool(conn_id="orders_db", max_rows=ROWS), "SELECT id FROM orders").text)
    assert len(exact["rows"]) == ROWS
    assert "more_rows" not in exact


REFUSED = [
    ("INSERT INTO orders VALUES (999, 'open', 1)", "not INSERT"),
    ("UPDATE orders SET status = 'x'", "not UPDATE"),
    ("DELETE FROM orders", "not DELETE"),
    ("DROP TABLE orders", "not DROP"),
    ("CREATE TABLE stolen AS SELECT * FROM orders", "not CREATE"),
    ("ALTER TABLE orders ADD COLUMN x", "not ALTER"),
    ("REPLACE INTO orders VALUES (1, 'x', 0)", "not REPLACE"),
    ("ATTACH DATABASE 'other.db' AS other", "not ATTACH"),
    ("PRAGMA user_version = 5", "not PRAGMA"),
    ("PRAGMA journal_mode = WAL", "not PRAGMA"),
    ("VACUUM", "not VACUUM"),
    ("BEGIN", "not BEGIN"),
    ("SELECT 1; DROP TABLE orders", "holds 2 statements"),
    ("SELECT * FROM orders; DROP TABLE orders;", "holds 2 statements"),
    ("DELETE FROM orders; SELECT 1", "holds 2 statements"),
    ("WITH gone AS (DELETE FROM orders RETURNING id) SELECT * FROM gone", "contains DELETE"),
    ("SELECT * INTO copy FROM orders", "contains INTO"),
    ("SELECT * FROM orders FOR UPDATE", "contains UPDATE"),
    ("", "the query is empty"),
    (" ; ", "the query is empty"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED)
def test_anything_but_one_select_is_refused_and_the_table_unchanged(orders_db, sql, reason):
    before = snapshot(orders_db)
    outcome = query(sql_tool(conn_id="orders_db"), sql)
    assert isinstance(outcome, ToolOutcome)
    assert outcome.error == "tool_error"
    assert outcome.text.startswith("Error from sql_query: ")
    assert reason in outcome.text
    assert snapshot(orders_db) == before


def test_a_refusal_says_how_to_do_it_right():
    with pytest.raises(ToolError) as caught:
        read_only_statement("DELETE FROM orders WHERE id = 1")
    assert str(caught.value) == (
        "only a read-only SELECT statement (or WITH ... SELECT) is allowed, not DELETE. Rewrite it as one "
        "SELECT that starts with SELECT or WITH."
    )
    assert read_only_statement("  SELECT 1 ;  ") == "SELECT 1"
    assert read_only_statement("SELECT ';' AS semi -- a comment; DROP TABLE x") == (
        "SELECT ';' AS semi -- a comment; DROP TABLE x"
    )


def sqlite_hook():
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    return SqliteHook(sqlite_conn_id="orders_db")


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM orders",
        "INSERT INTO orders VALUES (999, 'open', 1)",
        "DROP TABLE orders",
        "CREATE TABLE x (a)",
        "ATTACH DATABASE 'other.db' AS other",
        "PRAGMA user_version = 5",
        "PRAGMA query_only = OFF",
        "SELECT load_extension('mod')",
    ],
)
def test_the_connection_itself_refuses_writes(orders_db, sql):
    """The second line: a statement that got past the checks still cannot write on the connection."""
    before = snapshot(orders_db)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        fetch_read_only(sqlite_hook(), sql, 10)
    assert snapshot(orders_db) == before
    # The connection is closed afterwards, so its next user (a new one each call) is not restricted.
    assert fetch_read_only(sqlite_hook(), "SELECT count(*) FROM orders", 10) == (["count(*)"], [(ROWS,)])


def test_a_database_error_goes_back_to_the_model(orders_db):
    outcome = query(sql_tool(conn_id="orders_db"), "SELECT * FROM customers")
    assert (outcome.error, outcome.text) == (
        "tool_raised",
        "Error: the tool sql_query failed: OperationalError: no such table: customers. Check the arguments, "
        "or answer without this tool.",
    )


def test_a_missing_connection_fails_the_task():
    with pytest.raises(
        ConfigurationError, match=r"no Airflow connection 'no_such_db'.*AIRFLOW_CONN_NO_SUCH_DB"
    ):
        query(sql_tool(conn_id="no_such_db"), "SELECT 1")


def test_a_connection_that_is_not_a_database_fails_the_task(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SOME_API", json.dumps({"conn_type": "http", "host": "127.0.0.1"}))
    with pytest.raises(ConfigurationError, match="'some_api' has type 'http', whose hook HttpHook is not"):
        query(sql_tool(conn_id="some_api"), "SELECT 1")
