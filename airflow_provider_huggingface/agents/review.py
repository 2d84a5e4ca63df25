"""A person's review of an agent's step, through Airflow's human-in-the-loop (Airflow 3.1+).

The task writes a request to the metadata DB (the UI lists it under required actions, and the REST API
answers it), then waits without holding a worker slot: on Airflow 3.3+ in the ``awaiting_input`` state
(no triggerer involved), before that deferred to the standard provider's ``HITLTrigger``. It resumes in
the operator's ``execute_complete`` with the answer.

Airflow keeps one request per task instance, and a new request of the same try reuses the first one's
subject and form: so the request is worded for any step, and the step itself (the tool and its
arguments, or the answer) is in the task's XCom ``pending_review`` and its log.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_huggingface.agents.loop import Decision
from airflow_provider_huggingface.exceptions import ConfigurationError

if TYPE_CHECKING:
    from datetime import timedelta

    from airflow.sdk import Context

    from airflow_provider_huggingface.agents.loop import Review

APPROVE, REJECT = "Approve", "Reject"
_BODY = (
    "The agent of this task waits for your review of its next step: a tool call it wants to make, or "
    "its final answer. The step is in this task's XCom `pending_review` and in its log.\n\n"
    "- **Approve** to go on.\n"
    "- **Reject** to refuse it: a tool call is not made and the model is told, with your comment; a "
    "rejected answer fails the task.\n"
    "- To change a tool call's arguments, put them in *arguments* as a JSON object; to change the answer, "
    "write it in *answer*."
)


def check_supported() -> None:
    """Refuse, before any call, a review that this Airflow cannot hold."""
    try:
        from airflow.sdk.execution_time.hitl import upsert_hitl_detail  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "require_approval and review_output need Airflow 3.1 or newer (its human-in-the-loop); this "
            "Airflow has none. Upgrade Airflow, or leave them out."
        ) from None


def ask(
    context: Context, review: Review, *, task_id: str, timeout: timedelta | None, resume: dict[str, Any]
) -> NoReturn:
    """Write the review request, then wait for the answer without a worker slot.

    :param resume: what ``execute_complete`` gets beside the answer (``next_kwargs``).
    """
    from airflow.sdk.execution_time.hitl import upsert_hitl_detail

    ti = context["task_instance"]
    pending = (
        {"tool": review.call.name, "arguments": review.call.arguments}
        if review.call is not None
        else {"answer": review.text}
    )
    ti.xcom_push(key="pending_review", value=pending)
    params = _form()
    upsert_hitl_detail(
        ti_id=ti.id,
        options=[APPROVE, REJECT],
        subject=f"{task_id}: the agent's next step waits for your review",
        body=_BODY,
        defaults=None,
        multiple=False,
        params=params,
    )
    _wait(ti_id=ti.id, params=params, timeout=timeout, resume=resume)


def _wait(
    *, ti_id: Any, params: dict[str, Any], timeout: timedelta | None, resume: dict[str, Any]
) -> NoReturn:
    try:
        from airflow.sdk.exceptions import TaskAwaitingInput
    except ImportError:  # before Airflow 3.3: a trigger polls for the answer
        from airflow.providers.standard.triggers.hitl import HITLTrigger
        from airflow.sdk.timezone import utcnow

        from airflow_provider_huggingface._internal.airflow_compat import TaskDeferred

        trigger = HITLTrigger(
            ti_id=ti_id,
            options=[APPROVE, REJECT],
            defaults=None,
            params=params,
            multiple=False,
            timeout_datetime=utcnow() + timeout if timeout else None,
        )
        raise TaskDeferred(trigger=trigger, method_name="execute_complete", kwargs=resume) from None
    raise TaskAwaitingInput(method_name="execute_complete", kwargs=resume, timeout=timeout)


def _form() -> dict[str, Any]:
    """The request's form fields, serialized as Airflow's human-in-the-loop stores them."""
    from airflow.sdk.definitions.param import Param, ParamsDict

    form = ParamsDict(
        {
            "arguments": Param("", type="string", description="A JSON object to call the tool with instead."),
            "answer": Param("", type="string", description="The answer to push instead of the agent's."),
            "comment": Param("", type="string", description="Why; a rejection sends it to the model."),
        }
    )
    if hasattr(form, "get_param"):
        return {name: form.get_param(name).serialize() for name in form}
    return form.dump()


def decision(event: dict[str, Any]) -> Decision:
    """The person's answer in the resumed task's event.

    :raises ConfigurationError: when the answer timed out or its arguments are not a JSON object.
    """
    if "error" in event:
        raise ConfigurationError(
            f"The review was not answered: {event.get('error')} ({event.get('error_type')}). Answer it in "
            "the Airflow UI's required actions, or raise the task's review timeout."
        )
    chosen = event.get("chosen_options") or []
    given = event.get("params_input") or {}
    arguments = None
    if str(given.get("arguments") or "").strip():
        try:
            arguments = json.loads(given["arguments"])
        except ValueError as exc:
            raise ConfigurationError(
                f"The reviewer's arguments are not JSON ({exc}): {given['arguments']!r}."
            ) from None
        if not isinstance(arguments, dict):
            raise ConfigurationError(
                f"The reviewer's arguments must be a JSON object, not {given['arguments']!r}."
            )
    by = event.get("responded_by_user")
    return Decision(
        approved=APPROVE in chosen,
        arguments=arguments,
        text=str(given.get("answer") or "") or None,
        comment=str(given.get("comment") or ""),
        by=by.get("name") if isinstance(by, dict) else (str(by) if by else None),
    )
