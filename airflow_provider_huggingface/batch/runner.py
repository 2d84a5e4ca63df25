"""One batch from start to end: every request built and checked before the first call, the answers
of an earlier try matched and kept, the calls run, and the summary the XCom holds.

The operator gathers its rendered arguments and hands them here; the engine
(:mod:`airflow_provider_huggingface.batch.engine`) only runs the calls. An item is keyed by its
index and resumed by its request's digest, whether it is sent alone (a chat) or with others in one
request (texts to embed: the operator's ``group`` makes the units).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.batch.calls import FirstWarnings, run_to_end
from airflow_provider_huggingface.batch.engine import BatchRun
from airflow_provider_huggingface.batch.inputs import ListInputs
from airflow_provider_huggingface.batch.requests import handed_out
from airflow_provider_huggingface.batch.state import StateStoreReplies
from airflow_provider_huggingface.batch.store import InMemoryResults, TaskFile

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator

    from airflow_provider_huggingface._internal.chat_flow import ChatSession
    from airflow_provider_huggingface.batch.calls import LimitedClient
    from airflow_provider_huggingface.batch.engine import BatchSettings
    from airflow_provider_huggingface.hooks.huggingface import HuggingFaceHook

    Built = tuple[int, Any, Any]  # an item's index, its input and its request

_LOGGED_LINES = 5  # retry lines, and re-ask lines, let through (each their own five)


def run_batch(
    *,
    hook: HuggingFaceHook,
    inputs: Iterable[Any],
    build: Callable[[int, Any], Any],
    replies: Any,
    settings: BatchSettings,
    session_of: Callable[..., ChatSession],
    log: Any,
    push_partial: Callable[[dict[str, Any]], None],
    group: Callable[[Iterator[Built]], Iterator[tuple[Any, Any, Any]]] | None = None,
    send: Callable[[Any, LimitedClient, ChatSession], Awaitable[Any]] | None = None,
    size_of: Callable[[Any], int] | None = None,
    outcomes: Any = None,
) -> dict[str, Any]:
    """Run the batch and return its summary (the XCom); on failure, push what it has first.

    :param hook: the hook that sends.
    :param inputs: the items, iterable once per pass (a file is read again).
    :param build: the checked request of ``(index, item)``, with a ``digest``; nothing is sent.
    :param replies: where this task instance's replies are kept for its next try (a file, or the task
        state store), or None to keep them for the XCom alone.
    :param settings: the batch's limits.
    :param session_of: the calls' session for the first request, given the budget already spent by
        an earlier try's answers (``calls``, ``usage``) and where retry and re-ask lines go.
    :param log: the task's log.
    :param push_partial: pushes the summary so far as XCom ``partial_results`` before the task fails.
    :param group: makes the units sent from the items still to send, ``(key, items, request)``;
        default: each item alone, its requests built in the first pass kept when the inputs are a list
        (in memory already). With ``group``, requests are built again as the units are made.
    :param send: sends a unit's request (default: the hook's ``achat``).
    :param size_of: how many items a unit's request holds (default 1).
    :param outcomes: where outcomes go without ``replies`` (default: kept for the XCom's ``results``).
    """
    # First pass: every request is built and checked, nothing is sent; earlier answers are matched.
    # A list is in memory already, so its requests are kept for the calls rather than built again;
    # a file's are built again as its lines are read a second time, so memory stays flat.
    answered = replies.earlier_answers() if replies is not None else {}
    total, first, reuse = 0, None, set()
    keep = group is None and isinstance(inputs, ListInputs)
    kept: list[Built | None] | None = [] if keep else None
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
    if replies is not None:
        outcomes = replies
    elif outcomes is None:
        outcomes = InMemoryResults()
    checkpoint = replies.asave if isinstance(replies, StateStoreReplies) else None
    if first is None:
        log.info("Batch: no inputs, nothing to send.")
        return _summary(None, outcomes, total)
    pending: Iterator[Built] = (
        handed_out(kept)
        if kept is not None
        else ((i, item, build(i, item)) for i, item in enumerate(inputs) if i not in reuse)
    )
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
        requests=pending if group is None else group(pending),
        total=total,
        outcomes=outcomes,
        settings=settings,
        log=log,
        reused=len(reuse),
        checkpoint=checkpoint,
        send=send,
        size_of=size_of,
    )
    if total > len(reuse):
        # One model check for the whole batch; a model the Hub rejects is skipped from the start.
        hook.resolve_request(first, session)
        rate = settings.max_calls_per_second
        log.info(
            "Batch: %d %s to %s, at most %d calls at once%s; %s.",
            total - len(reuse),
            "calls" if group is None else "items",
            first.where,
            settings.max_concurrency,
            "" if rate is None else f", {rate:g} a second",
            f"replies go to {replies}" if isinstance(replies, TaskFile) else "replies go to XCom at the end",
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


def _summary(batch: BatchRun | None, outcomes: Any, total: int) -> dict[str, Any]:
    summary = batch.summary() if batch is not None else BatchRun.empty_summary(total)
    message = batch.not_sent_message() if batch is not None else "Not sent."
    return outcomes.xcom(summary, total, message)


def _push(push_partial: Callable[[dict[str, Any]], None], summary: dict[str, Any]) -> None:
    # Best effort: the task's own error must reach the log whatever happens here.
    with contextlib.suppress(Exception):
        push_partial(summary)
