"""What the calls of one task may spend together: requests the server may bill, and tokens.

One :class:`Budget` is shared by every call a task makes: a chat and its structured-output re-ask, an
agent's turns, a batch's items. A request is admitted before it is sent, so ``max_calls`` is never
passed, whatever the concurrency; an attempt the server refused without generating (429, 503) is
given back, since it is not billed. Tokens are known only once a reply arrives: no request starts
once ``max_total_tokens`` is reached, and the requests in flight then can pass it by their tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface._internal.chat import add_usage, no_usage
from airflow_provider_huggingface.exceptions import BudgetExhaustedError

if TYPE_CHECKING:
    from airflow_provider_huggingface._internal.chat import TokenUsage
    from airflow_provider_huggingface._internal.retry import TaskLog
    from airflow_provider_huggingface.exceptions import HuggingFaceError

# Refused before any generation: the inference providers bill neither.
_UNBILLED_STATUSES = frozenset({429, 503})


class Budget:
    """The requests and tokens a task's calls may use, and what they used so far.

    :param max_calls: the most requests that may be billed (re-asks included), or None.
    :param max_total_tokens: the most tokens (prompt and completion) the replies may use, or None.
    :param calls: requests billed already (answers reused from an earlier try).
    :param usage: tokens used already (answers reused from an earlier try).
    """

    def __init__(
        self,
        *,
        max_calls: int | None = None,
        max_total_tokens: int | None = None,
        calls: int = 0,
        usage: TokenUsage | None = None,
    ) -> None:
        self.max_calls = max_calls
        self.max_total_tokens = max_total_tokens
        self.calls = calls
        self.usage: TokenUsage = usage or no_usage()
        self.unmetered = False  # a reply came without usage: the token budget cannot see it
        self._warned = False

    @classmethod
    def checked(cls, *, max_calls: Any = None, max_total_tokens: Any = None, **spent: Any) -> Budget:
        """A budget of the task's (rendered) arguments, each checked: a whole number, at least 1, or None."""
        from airflow_provider_huggingface._internal.validation import COUNT, check_number

        return cls(
            max_calls=check_number("max_calls", max_calls, COUNT),
            max_total_tokens=check_number("max_total_tokens", max_total_tokens, COUNT),
            **spent,
        )

    def __repr__(self) -> str:
        return (
            f"<Budget calls={self.calls}/{self.max_calls} "
            f"tokens={self.usage['total_tokens']}/{self.max_total_tokens}>"
        )

    @property
    def limited(self) -> bool:
        return self.max_calls is not None or self.max_total_tokens is not None

    def spent(self) -> str | None:
        """Why no further request may start, or None while the budget allows one."""
        if self.max_calls is not None and self.calls >= self.max_calls:
            return f"max_calls={self.max_calls} requests made"
        used = self.usage["total_tokens"]
        if self.max_total_tokens is not None and used >= self.max_total_tokens:
            return f"{used} tokens used of max_total_tokens={self.max_total_tokens}"
        return None

    def tokens_left(self) -> int | None:
        if self.max_total_tokens is None:
            return None
        return self.max_total_tokens - self.usage["total_tokens"]

    def admit(self) -> None:
        """Count one request about to be sent.

        :raises BudgetExhaustedError: when the budget allows no further request.
        """
        reason = self.spent()
        if reason is not None:
            raise BudgetExhaustedError(f"The task's budget is spent: {reason}.")
        self.calls += 1

    def count_earlier(self, usage: TokenUsage | None) -> None:
        """Count a request an earlier try made and paid for (its answer is reused, not sent again)."""
        self.calls += 1
        self.record(usage)

    def settle(self, error: HuggingFaceError) -> None:
        """Give back an admitted request that failed without being billed."""
        if error.status_code in _UNBILLED_STATUSES:
            self.calls -= 1

    def record(self, usage: TokenUsage | None, log: TaskLog | None = None) -> None:
        """Add a reply's tokens; without usage, say once that the token budget cannot count it."""
        if usage is None:
            self.unmetered = True
            if self.max_total_tokens is not None and not self._warned and log is not None:
                self._warned = True
                log.warning(
                    "The server reports no token usage, so max_total_tokens=%d cannot be applied to its "
                    "replies; use max_calls (and max_tokens) to bound this task's spending.",
                    self.max_total_tokens,
                )
            return
        self.usage = add_usage(self.usage, usage) or self.usage
