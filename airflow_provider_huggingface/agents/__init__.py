"""Tools a chat model can call from a DAG: their descriptions, checks and calls.

- :mod:`~airflow_provider_huggingface.agents.schema`: :func:`~.schema.describe_function`, a plain typed,
  docstringed function's name, description and JSON schema of parameters, refused at parse time when it
  cannot be described; and arguments checked against such a schema.
- :mod:`~airflow_provider_huggingface.agents.tools`: :class:`~.tools.Tool` (one tool: its name,
  description, JSON-schema parameters and the Python function that runs it), built from such a
  function; :func:`~.tools.resolve_tools` for a task's ``tools=`` list; and the two steps
  of one call the model asked for, :func:`~.tools.prepare` (parse and check the arguments) and
  :func:`~.tools.run` (call the function), whose :class:`~.tools.ToolOutcome` is the ``tool`` message's
  text, a failure included, so the model can correct itself.
- :mod:`~airflow_provider_huggingface.agents.sql`: :func:`~.sql.sql_tool`, read-only SQL over any
  ``DbApiHook`` connection.
- :mod:`~airflow_provider_huggingface.agents.http`: :func:`~.http.http_tool`, HTTP GET under the base
  URL of an ``http`` connection.

Nothing here imports a provider package or a Hugging Face client at module top: a DAG file that builds
its tools pays only for the checks of their descriptions.
"""

from __future__ import annotations
