"""A read-only SQL query tool over any Airflow ``DbApiHook`` connection.

The model sends one SQL statement; it runs only if it is a single ``SELECT`` (or ``WITH ... SELECT``)
without a data-changing keyword (checked with sqlparse, which the common-sql provider brings), and then
inside a transaction that is rolled back, read-only where the driver allows it (an authorizer that lets
SQLite only read, PostgreSQL's and MySQL's read-only transactions). The first ``max_rows`` rows come back
as JSON with the column names, saying when there are more.

These checks are a second line: give the connection a database user that can only read.
"""

from __future__ import annotations

from contextlib import closing
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.agents.tools import Tool, ToolError
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["sql_tool"]

# Keywords that change data, schema, files, sessions or rights. A SELECT that holds one is refused:
# a data-modifying CTE (WITH x AS (DELETE ...)), SELECT ... INTO, SELECT ... FOR UPDATE.
_FORBIDDEN = frozenset(
    {
        "INTO",
        "ATTACH",
        "DETACH",
        "PRAGMA",
        "VACUUM",
        "GRANT",
        "REVOKE",
        "COPY",
        "CALL",
        "EXEC",
        "EXECUTE",
        "LOCK",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
    }
)
# Drivers whose next transaction can be made read-only with a statement; SQLite gets an authorizer
# instead. Other drivers get the rolled-back transaction alone.
_READ_ONLY_TRANSACTION = frozenset({"psycopg2", "psycopg", "MySQLdb", "pymysql", "mysql"})
_SQLITE_DENIED_FUNCTIONS = frozenset({"load_extension", "writefile", "edit", "fts3_tokenizer"})
_PARAMETER = "One SQL SELECT statement (WITH ... SELECT is fine). Nothing that changes data."


def sql_tool(
    *,
    conn_id: str,
    name: str = "sql_query",
    description: str | None = None,
    tables: Sequence[str] | None = None,
    max_rows: int = 50,
    hook_params: dict[str, Any] | None = None,
) -> Tool:
    """A tool that runs one read-only SELECT statement on a database connection and returns its rows.

    Statements other than a single SELECT (or WITH ... SELECT) are refused before they reach the
    database, and the model is told why. The statement runs in a transaction that is rolled back, and
    read-only where the driver allows (SQLite, PostgreSQL, MySQL). Use a database user that can only
    read all the same.

    :param conn_id: an Airflow connection whose hook is a ``DbApiHook`` (sqlite, postgres, mysql,
        snowflake, ...). It is looked up when the tool is first called, not when the DAG is parsed.
    :param name: the tool's name, as the model calls it.
    :param description: what the model is told about the tool (and the database: its tables, columns,
        SQL dialect); by default a sentence on what the tool does, with ``tables`` named if given.
    :param tables: table names to mention in the default description.
    :param max_rows: the most rows returned; the result says when the query has more.
    :param hook_params: keyword arguments for the connection's hook (``Connection.get_hook``).
    """
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
        raise ConfigurationError(f"sql_tool max_rows is {max_rows!r}: give a whole number of at least 1.")
    if isinstance(tables, str):
        raise ConfigurationError(f"sql_tool tables is the string {tables!r}: give a list of table names.")
    if description is None:
        description = (
            f"Run one read-only SQL SELECT statement on the database and get the rows back as JSON "
            f"(column names and at most {max_rows} rows). Statements that change anything are refused."
        )
        if tables:
            description += f" Tables: {', '.join(tables)}."
    query = _ReadOnlyQuery(conn_id=conn_id, max_rows=max_rows, hook_params=dict(hook_params or {}))
    parameters = {
        "type": "object",
        "properties": {"query": {"type": "string", "description": _PARAMETER}},
        "required": ["query"],
        "additionalProperties": False,
    }
    return Tool(name=name, description=description, parameters=parameters, function=query)


def read_only_statement(query: str) -> str:
    """The one SELECT statement in ``query`` (its trailing ``;`` removed), or a :class:`ToolError` why not.

    :param query: the SQL text the model sent.
    """
    import sqlparse
    from sqlparse import tokens

    statements = [s.strip() for s in sqlparse.split(query) if s.strip().rstrip(";").strip()]
    if not statements:
        raise ToolError("the query is empty: send one SQL SELECT statement.")
    if len(statements) > 1:
        raise ToolError(
            f"the query holds {len(statements)} statements; send exactly one SELECT statement, without ';' "
            "between statements."
        )
    statement = statements[0].rstrip(";").rstrip()
    parsed = sqlparse.parse(statement)[0]
    kind = parsed.get_type()
    if kind != "SELECT":
        first = parsed.token_first(skip_cm=True)
        word = first.normalized if first is not None else kind
        raise ToolError(
            f"only a read-only SELECT statement (or WITH ... SELECT) is allowed, not {word}. Rewrite it as "
            "one SELECT that starts with SELECT or WITH."
        )
    for token in parsed.flatten():
        if token.ttype is None or token.ttype not in tokens.Keyword:
            continue
        word = token.normalized.upper()
        changes = (token.ttype in tokens.DML and word != "SELECT") or token.ttype in tokens.DDL
        if changes or word in _FORBIDDEN:
            raise ToolError(
                f"only a read-only SELECT statement is allowed; this one contains {word}, which is refused. "
                "Rewrite it as a plain SELECT."
            )
    return statement


def fetch_read_only(hook: DbApiHook, statement: str, max_rows: int) -> tuple[list[str], list[Any]]:
    """Run one statement in a transaction that is rolled back, read-only where the driver allows.

    :param hook: the connection's SQL hook.
    :param statement: the statement, already checked by :func:`read_only_statement`.
    :param max_rows: the most rows fetched.
    :return: the column names and the rows.
    """
    with closing(hook.get_conn()) as conn:
        if hook.supports_autocommit:
            hook.set_autocommit(conn, False)  # one transaction, rolled back below
        driver = type(conn).__module__.split(".")[0]
        try:
            with closing(conn.cursor()) as cursor:
                if driver == "sqlite3":
                    conn.set_authorizer(_sqlite_reads_only)
                elif driver in _READ_ONLY_TRANSACTION:
                    cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute(statement)
                columns = [column[0] for column in cursor.description or ()]
                return columns, (cursor.fetchmany(max_rows) if columns else [])
        finally:
            if driver == "sqlite3":
                conn.set_authorizer(None)
            conn.rollback()


def _sqlite_reads_only(action: int, _arg1: str | None, arg2: str | None, *_: object) -> int:
    """SQLite's authorizer: reading, functions and recursive CTEs pass; every write, ATTACH, PRAGMA and
    transaction statement is denied when compiled. Pragma functions (``pragma_table_info``) are denied
    too, as SQLite asks to update ``sqlite_master`` for them; ``SELECT sql FROM sqlite_master`` shows
    the schema."""
    import sqlite3

    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class _ReadOnlyQuery:
    """The SQL tool's function: check the statement, run it read-only, return the first rows."""

    def __init__(self, *, conn_id: str, max_rows: int, hook_params: dict[str, Any]) -> None:
        self.conn_id = conn_id
        self.max_rows = max_rows
        self.hook_params = hook_params
        self._hook: Any = None

    def __repr__(self) -> str:
        return f"sql_tool(conn_id={self.conn_id!r}, max_rows={self.max_rows})"

    def __call__(self, query: str) -> dict[str, Any]:
        columns, rows = fetch_read_only(self._get_hook(), read_only_statement(query), self.max_rows + 1)
        result: dict[str, Any] = {"columns": columns, "rows": [list(row) for row in rows[: self.max_rows]]}
        if len(rows) > self.max_rows:
            result["more_rows"] = True
            result["note"] = (
                f"The query returned more than {self.max_rows} rows; only the first {self.max_rows} are "
                "shown. Narrow it (WHERE, LIMIT) or aggregate (COUNT, GROUP BY) to see what you need."
            )
        return result

    def _get_hook(self) -> Any:
        if self._hook is not None:
            return self._hook
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        from airflow_provider_huggingface._internal.airflow_compat import (
            AirflowNotFoundException,
            BaseHook,
        )

        try:
            connection = BaseHook.get_connection(self.conn_id)
        except AirflowNotFoundException:
            raise ConfigurationError(
                f"sql_tool: there is no Airflow connection {self.conn_id!r}. Create it (Admin, Connections, "
                f"or AIRFLOW_CONN_{self.conn_id.upper()}) or fix conn_id."
            ) from None
        hook = connection.get_hook(hook_params=self.hook_params)
        if not isinstance(hook, DbApiHook):
            raise ConfigurationError(
                f"sql_tool: the connection {self.conn_id!r} has type {connection.conn_type!r}, whose hook "
                f"{type(hook).__name__} is not a SQL (DbApiHook) hook. Give a database connection."
            )
        self._hook = hook
        return hook
