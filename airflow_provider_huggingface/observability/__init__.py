"""Where users watch their pipelines: OpenLineage lineage and OpenTelemetry spans of model calls.

- :mod:`.lineage`: :class:`~.lineage.LineageFacts`, filled by an operator while it runs, and the
  events built from them. :mod:`.mixin`: :class:`~.mixin.OpenLineageMixin`, which turns them into
  Airflow's OpenLineage methods; it imports nothing at its top, for operators' modules. Effective
  when ``apache-airflow-providers-openlineage`` is installed; nothing of it is imported otherwise.
- :mod:`.tracing`: one OpenTelemetry span per model call with the GenAI semantic conventions, a child
  of the task's span; a cheap no-op when no tracer provider is configured. :class:`~.span_budget.SpanBudget`
  bounds the spans of a batch.

Neither module imports anything heavy at its top: a DAG file that imports an operator pays nothing.
"""

from __future__ import annotations
