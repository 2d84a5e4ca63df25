"""One batch from start to end: every request built and checked before the first call, the answers
of an earlier try matched and kept, the calls run, and the summary the XCom holds.

The operator gathers its rendered arguments and hands them here; the engine
(:mod:`airflow_provider_huggingface.batch.engine`) only runs the calls.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.batch.calls import FirstWarnings, run_to_end
from airflow_provider_huggingface.batch.engine import BatchRun
from airflow_provider_huggingface.batch.inputs import ListInputs
from airflow_provider_huggingface.batch.requests import handed_out
from airflow_provider_huggingface.batch.state import StateStoreReplies
from airflow_provider_huggingface.batch.store import InMemoryResults, ReplyFile

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from airflow_provider_huggingface._internal.chat import ChatRequest
    from airflow_provider_huggingface._internal.chat_flow import ChatSession
    from airflow_provider_huggingface.batch.engine import BatchSettings
    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

_LOGGED_LINES = 5  # retry lines, and re-ask lines, let through (each their own five)


def run_batch(
    *,
    hook: HuggingFaceHook,
    inputs: Iterable[Any],
    build: Callable[[int, Any], ChatRequest],
    replies: ReplyFile | StateStoreReplies | None,
    settings: BatchSettings,
    session_of: Callable[..., ChatSession],
    log: Any,
    push_partial: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Run the batch and return its summary (the XCom); on failure, push what it has first.

    :param hook: the hook that sends.
    :param inputs: the items, iterable once per pass (a file is read again).
    :param build: the checked request of ``(index, item)``; nothing is sent.
    :param replies: where this task instance's replies are kept for its next try (a file, or the task
        state store), or None to keep them for the XCom alone.
    :param settings: the batch's limits.
    :param session_of: the calls' session for the first request, given the budget already spent by
        an earlier try's answers (``calls``, ``usage``) and where retry and re-ask lines go.
    :param log: the task's log.
    :param push_partial: pushes the summary so far as XCom ``partial_results`` before the task fails.
    """
    # First pass: every request is built and checked, nothing is sent; earlier answers are matched.
    # A list is in memory already, so its requests are kept for the calls rather than built again;
    # a file's are built again as its lines are read a second time, so memory stays flat.
    answered = replies.earlier_answers() if replies is not None else {}
    total, first, reuse = 0, None, set()
    kept: list[tuple[int, Any, ChatRequest] | None] | None = [] if isinstance(inputs, ListInputs) else None
    for index, item in enumerate(inputs):
        request = build(index, item)
        first = first or request
        total += 1
        if index in answered and answered[index] == request.digest:
            reuse.add(index)
        elif kept is not None:
            kept.append((index, item, request))
    del answered
    reused_usage = replies.keep(reuse) if replies is not None else None
    if reuse:
        log.info(
            "Resuming: %d of %d items were answered by an earlier try and are reused from %s; %d to send.",
            len(reuse),
            total,
            replies,
            total - len(reuse),
        )
    outcomes: ReplyFile | InMemoryResults = replies if replies is not None else InMemoryResults()
    checkpoint = replies.asave if isinstance(replies, StateStoreReplies) else None
    if first is None:
        log.info("Batch: no inputs, nothing to send.")
        return _summary(None, outcomes, total)
    session = session_of(
        first,
        calls=len(reuse),
        usage=reused_usage,
        retry_log=FirstWarnings(log, _LOGGED_LINES, "Further retries are counted in the progress lines."),
        reask_log=FirstWarnings(log, _LOGGED_LINES, "Further re-asks for JSON are not logged one by one."),
    )
    batch = BatchRun(
        hook=hook,
        session=session,
        requests=(
            handed_out(kept)
            if kept is not None
            else ((i, item, build(i, item)) for i, item in enumerate(inputs) if i not in reuse)
        ),
        total=total,
        outcomes=outcomes,
        settings=settings,
        log=log,
        reused=len(reuse),
        checkpoint=checkpoint,
    )
    if total > len(reuse):
        # One model check for the whole batch; a model the Hub rejects is skipped from the start.
        hook.resolve_request(first, session)
        rate = settings.max_calls_per_second
        log.info(
            "Batch: %d calls to %s, at most %d at once%s; %s.",
            total - len(reuse),
            first.where,
            settings.max_concurrency,
            "" if rate is None else f", {rate:g} a second",
            f"replies go to {replies}" if isinstance(replies, ReplyFile) else "replies go to XCom at the end",
        )
        if replies is not None:
            replies.open()
        try:
            run_to_end(batch.run())
        except BaseException:
            _push(push_partial, _summary(batch, outcomes, total))
            raise
        finally:
            if replies is not None:
                replies.close()
    summary = _summary(batch, outcomes, total)
    try:
        batch.check()
    except Exception:
        _push(push_partial, summary)
        raise
    return summary


def _summary(batch: BatchRun | None, outcomes: ReplyFile | InMemoryResults, total: int) -> dict[str, Any]:
    summary = batch.summary() if batch is not None else BatchRun.empty_summary(total)
    if isinstance(outcomes, ReplyFile):
        return {"output_path": str(outcomes), **summary}
    message = batch.not_sent_message() if batch is not None else "Not sent."
    return {"results": outcomes.results(total, message), **summary}


def _push(push_partial: Callable[[dict[str, Any]], None], summary: dict[str, Any]) -> None:
    # Best effort: the task's own error must reach the log whatever happens here.
    with contextlib.suppress(Exception):
        push_partial(summary)
