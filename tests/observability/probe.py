"""A minimal operator that records what the provider's operators record, without calling a model.

``LineageProbeOperator`` reads its connection (so the token is in the task's memory, as in a real
call), reads its input file, "answers" each row with the model ``answered_by`` (a fallback) and writes
the replies to ``output_path``; it fills ``lineage_facts`` as an operator of the provider does, stores
its link, and can fail after the calls. It is how the observability parts are tested before the
provider's operators are wired to them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.airflow_compat import AirflowException, BaseHook, BaseOperator
from airflow_provider_huggingface.links.huggingface import HuggingFaceModelLink
from airflow_provider_huggingface.observability.lineage import LineageFacts
from airflow_provider_huggingface.observability.mixin import OpenLineageMixin

if TYPE_CHECKING:
    from airflow.sdk import Context


class LineageProbeOperator(OpenLineageMixin, BaseOperator):
    """Record calls as a chat operator would; see the module docstring.

    :param hf_conn_id: the connection (its token is read, never sent anywhere).
    :param model: the model asked for.
    :param answered_by: the model that "answers" (a fallback); defaults to ``model``.
    :param user_prompt: the user template, as written in the DAG.
    :param system_prompt: the system template.
    :param input_path: a JSON-lines file of rows, one call each; without it, one call.
    :param output_path: where the replies are written.
    :param include_prompt_text: put the templates' text in the run facet.
    :param fail: fail after the calls (one more call counted as failed).
    """

    template_fields = ("model", "input_path", "output_path")
    operator_extra_links = (HuggingFaceModelLink(),)

    def __init__(
        self,
        *,
        hf_conn_id: str,
        model: str,
        user_prompt: str,
        answered_by: str | None = None,
        system_prompt: str | None = None,
        input_path: str | None = None,
        output_path: str | None = None,
        include_prompt_text: bool = False,
        fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hf_conn_id = hf_conn_id
        self.model = model
        self.answered_by = answered_by
        self.user_prompt = user_prompt
        self.system_prompt = system_prompt
        self.input_path = input_path
        self.output_path = output_path
        self.include_prompt_text = include_prompt_text
        self.fail = fail

    def _fill(self, facts: LineageFacts) -> LineageFacts:
        conn = BaseHook.get_connection(self.hf_conn_id)
        facts.model_requested = self.model
        facts.endpoint = conn.host or None
        facts.inference_provider = conn.extra_dejson.get("provider", "auto")
        facts.inputs = [self.input_path] if self.input_path else []
        facts.outputs = [self.output_path] if self.output_path else []
        facts.set_prompts(
            {"system_prompt": self.system_prompt, "user_prompt": self.user_prompt},
            include_text=self.include_prompt_text,
        )
        return facts

    def lineage_facts_at_start(self) -> LineageFacts:
        return self._fill(LineageFacts())

    def execute(self, context: Context) -> dict[str, Any]:
        facts = self._fill(self.lineage_facts)
        conn = BaseHook.get_connection(self.hf_conn_id)
        assert conn.password, "the probe's connection carries a token"
        rows: list[dict[str, Any]] = [{"text": self.user_prompt}]
        if self.input_path:
            with open(self.input_path.removeprefix("file://")) as file:
                rows = [json.loads(line) for line in file if line.strip()]
        used = self.answered_by or self.model
        replies = []
        for row in rows:
            replies.append({"text": f"reply to {row['text']}"})
            facts.record_call(
                model=used, provider="together", input_tokens=len(row["text"].split()), output_tokens=3
            )
        if self.output_path:
            with open(self.output_path.removeprefix("file://"), "w") as file:
                file.writelines(json.dumps(reply) + "\n" for reply in replies)
        HuggingFaceModelLink.persist(context, model=used, endpoint=conn.host or None)
        if self.fail:
            facts.record_call(failed=True)
            raise AirflowException("the probe was asked to fail")
        return {"calls": facts.calls, "model": used}
