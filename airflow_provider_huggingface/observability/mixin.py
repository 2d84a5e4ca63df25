"""``OpenLineageMixin``: Airflow's OpenLineage methods for an operator that records
:class:`~airflow_provider_huggingface.observability.lineage.LineageFacts`.

An operator's module imports it at every DAG parse, so it imports nothing at its top: the facts and
the OpenLineage classes are imported when a task runs and the OpenLineage provider asks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_huggingface.observability.lineage import LineageFacts

__all__ = ["OpenLineageMixin"]


class OpenLineageMixin:
    """Airflow's OpenLineage methods for an operator that records :class:`LineageFacts`.

    The operator fills ``self.lineage_facts`` in ``execute`` (or ``execute_complete`` after a deferral:
    that runs on a fresh operator, whose facts start empty). Airflow's OpenLineage listener asks for
    the START event after templates are rendered and before ``execute``, so
    :meth:`lineage_facts_at_start` should build what is known then (the rendered model, files, the
    templates' hash) from the operator's fields; by default it returns the (still empty) facts.
    """

    @property
    def lineage_facts(self) -> LineageFacts:
        """This operator's facts, created on first use (stored outside Airflow's attribute hooks)."""
        facts = self.__dict__.get("_lineage_facts")
        if facts is None:
            from airflow_provider_huggingface.observability.lineage import LineageFacts

            facts = self.__dict__["_lineage_facts"] = LineageFacts()
        return facts

    def lineage_facts_at_start(self) -> LineageFacts:
        """What the START event reports; override to build it from the rendered fields."""
        return self.lineage_facts

    def lineage_facts_at_end(self) -> LineageFacts:
        """What the COMPLETE or FAIL event reports: the facts recorded (override to fill what a task
        that failed early never recorded)."""
        return self.lineage_facts

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        from airflow_provider_huggingface.observability.lineage import operator_lineage

        return operator_lineage(self.lineage_facts_at_start())

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        from airflow_provider_huggingface.observability.lineage import operator_lineage

        return operator_lineage(self.lineage_facts_at_end())

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        from airflow_provider_huggingface.observability.lineage import operator_lineage

        return operator_lineage(self.lineage_facts_at_end())
