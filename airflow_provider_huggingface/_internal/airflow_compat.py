"""Every Airflow name that moved between Airflow 3.0 and 3.3, imported in one place.

The package imports these names from here, never from ``airflow.sdk`` or ``airflow.exceptions``
directly. Each name comes from ``airflow.providers.common.compat.sdk`` where the installed
common-compat has it (it tracks later moves), else from where each Airflow line keeps it:

=========================  ======================================  ===============================
name                       Airflow 3.2+                            Airflow 3.0 / 3.1
=========================  ======================================  ===============================
BaseHook                   airflow.sdk                             airflow.hooks.base (3.0)
BaseOperator               airflow.sdk                             airflow.models.baseoperator (3.0)
AirflowNotFoundException,  airflow.sdk.exceptions                  airflow.exceptions
AirflowFailException,
TaskDeferred
conf                       airflow.sdk.configuration               airflow.configuration
Stats                      airflow.sdk.observability.stats         airflow.stats
mask_secret, redact        airflow.sdk.log                         airflow.sdk.execution_time
                                                                   .secrets_masker (3.0)
context_merge              airflow.sdk.definitions.context         airflow.utils.context (3.0)
determine_kwargs           airflow.sdk.bases.decorator             airflow.utils.operator_helpers
BranchMixIn                airflow.sdk.bases.branch                airflow.providers.standard
                                                                   .operators.branch
=========================  ======================================  ===============================

On 3.0 the SDK's ``BaseOperator`` lacks the ``xcom_push`` that 3.0's ``DecoratedOperator`` reads
after every run, so ``@task.huggingface_chat`` would fail there: Airflow's own providers use the core
``BaseOperator`` on 3.0 (a subclass of the SDK's), and so does this module. Both base classes are
chosen by the Airflow line itself, not by common-compat, which would hand out the SDK's on 3.0.

The common-compat of Airflow 3.0's time (1.7) has no ``sdk`` module at all, so it is tried, never
required. Names needed only by the decorator, the metrics or the log masking are looked up on
first use (module ``__getattr__``), so a DAG file that imports the operator pays for none of them.
``BaseTrigger`` and ``TriggerEvent`` live in ``airflow.triggers.base`` on every line.

Airflow 3.0's ``ObjectStoragePath.open()`` hands back a file wrapper that cannot be iterated (it has
``__getitem__`` but no ``__iter__``): files are read through :func:`lines` instead.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeVar

_T = TypeVar("_T")
_COMPAT = "airflow.providers.common.compat.sdk"

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import IO

    from airflow.sdk import BaseHook, BaseOperator
    from airflow.sdk.bases.branch import BranchMixIn
    from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
    from airflow.sdk.configuration import conf
    from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION
    from airflow.sdk.definitions.context import context_merge
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        TaskDeferred,
    )
    from airflow.sdk.log import mask_secret, redact
    from airflow.sdk.observability.stats import Stats
    from airflow.triggers.base import BaseTrigger, TriggerEvent
    from airflow.utils.operator_helpers import determine_kwargs
else:
    try:
        from airflow.sdk import BaseHook, BaseOperator
    except ImportError:  # Airflow 3.0: see the table above
        from airflow.hooks.base import BaseHook
        from airflow.models.baseoperator import BaseOperator
    try:
        from airflow.providers.common.compat.sdk import (
            AirflowException,
            AirflowFailException,
            AirflowNotFoundException,
            conf,
        )
    except ImportError:  # no common-compat sdk module (Airflow 3.0's time), or an older one
        try:
            from airflow.sdk.exceptions import (
                AirflowException,
                AirflowFailException,
                AirflowNotFoundException,
            )
        except ImportError:  # Airflow 3.0 and 3.1: one class hierarchy, kept in airflow.exceptions
            from airflow.exceptions import (
                AirflowException,
                AirflowFailException,
                AirflowNotFoundException,
            )
        try:
            from airflow.sdk.configuration import conf
        except ImportError:  # Airflow 3.0 and 3.1
            from airflow.configuration import conf

__all__ = [
    "SET_DURING_EXECUTION",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "BaseHook",
    "BaseOperator",
    "BaseTrigger",
    "BranchMixIn",
    "DecoratedOperator",
    "Stats",
    "TaskDeferred",
    "TriggerEvent",
    "branch_skips_in_mapped_task_groups",
    "conf",
    "context_merge",
    "determine_kwargs",
    "lines",
    "mask_secret",
    "redact",
    "run_blocking",
    "task_decorator_factory",
]

# Looked up on first use: where each line keeps the name, newest first, after common-compat.
_LAZY: dict[str, tuple[str, ...]] = {
    "Stats": ("airflow.sdk.observability.stats", "airflow.stats"),
    "mask_secret": ("airflow.sdk.log", "airflow.sdk.execution_time.secrets_masker"),
    "redact": ("airflow.sdk.log", "airflow.sdk.execution_time.secrets_masker"),
    "TaskDeferred": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "SET_DURING_EXECUTION": ("airflow.sdk.definitions._internal.types",),
    "DecoratedOperator": ("airflow.sdk.bases.decorator",),
    "task_decorator_factory": ("airflow.sdk.bases.decorator",),
    "context_merge": ("airflow.sdk.definitions.context", "airflow.utils.context"),
    "determine_kwargs": ("airflow.sdk.bases.decorator", "airflow.utils.operator_helpers"),
    "BranchMixIn": ("airflow.sdk.bases.branch", "airflow.providers.standard.operators.branch"),
    # The same module on every line (common-compat does not carry it); only the trigger needs it.
    "BaseTrigger": ("airflow.triggers.base",),
    "TriggerEvent": ("airflow.triggers.base",),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in (_COMPAT, *_LAZY[name]):
        try:
            value = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        globals()[name] = value  # later lookups skip this function
        return value
    raise ImportError(
        f"This Airflow has no {name} in any of {', '.join(_LAZY[name])}: "
        "airflow-provider-huggingface supports Airflow 3.0 to 3.3."
    )


def branch_skips_in_mapped_task_groups() -> bool:
    """Whether this Airflow follows the choice of a branch that runs inside a mapped task group.

    From 3.2 on, the scheduler's ``NotPreviouslySkippedDep`` looks for the choice of a branch that is
    not itself ``.expand()``-ed at map index -1, where a branch inside a mapped task group never
    writes it: every downstream task runs (apache/airflow#67265, still so in 3.3.2). 3.0 and 3.1 look
    at the downstream task's own map index, which works there.
    """
    from airflow import __version__
    from packaging.version import Version

    return Version(__version__).release < (3, 2)


def lines(file: IO[str]) -> Iterator[str]:
    """The lines of a text file opened from an ``ObjectStoragePath``, on every Airflow line."""
    return iter(file.readline, "")


async def run_blocking(call: Callable[[], _T]) -> _T:
    """Run a blocking Airflow call (a connection lookup, secret masking) from an event loop.

    Inside a task or the triggerer these calls ask the supervisor synchronously. On the event
    loop's own thread that fails: Airflow 3.0 refuses (its comms go through asgiref's
    ``async_to_sync``), 3.2 and later raise ``DeadlockImminentError`` while another request is in
    flight, and ``BaseHook.aget_connection`` does not exist before 3.1 nor mask secrets
    asynchronously before 3.3.2. asgiref's worker thread knows the event loop, so the call works
    the same way on every line (Airflow's own providers do this before 3.3.2).
    """
    from asgiref.sync import sync_to_async

    return await sync_to_async(call, thread_sensitive=False)()
