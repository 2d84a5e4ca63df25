"""The one check of numeric arguments: whole numbers, fractions, rates and durations, with bounds.

Every such argument of the provider (a generation setting, a budget, a batch's concurrency, a
connection's timeout) is checked here, so each is refused the same way, naming the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from airflow_provider_huggingface.exceptions import ConfigurationError


@dataclass(frozen=True)
class Rule:
    """What a numeric argument must be.

    :param whole: a whole number (``int``, never ``bool``).
    :param minimum: the lowest value allowed.
    :param above: a bound the value must be greater than.
    :param maximum: the highest value allowed.
    """

    whole: bool = False
    minimum: float | None = None
    above: float | None = None
    maximum: float | None = None

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        return not (
            (self.minimum is not None and value < self.minimum)
            or (self.above is not None and value <= self.above)
            or (self.maximum is not None and value > self.maximum)
        )

    def __str__(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} from {self.minimum:g} to {self.maximum:g}"
        bounds = []
        if self.above is not None:
            bounds.append(f"greater than {self.above:g}")
        if self.minimum is not None:
            bounds.append(f"of at least {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"at most {self.maximum:g}")
        return " ".join([kind, " and ".join(bounds)]).strip()


COUNT = Rule(whole=True, minimum=1)  # calls, tokens, bytes, steps
FRACTION = Rule(minimum=0, maximum=1)
POSITIVE = Rule(above=0)  # a rate or a duration in seconds


def check_number(
    name: str, value: Any, rule: Rule, *, optional: bool = True, hint: str = "", written: Any = None
) -> Any:
    """``value`` when ``rule`` allows it (or it is None and ``optional``), else a ConfigurationError.

    :param name: the argument, as the DAG author wrote it.
    :param hint: a sentence added to the error, e.g. what the value is for.
    :param written: the value as written, when ``value`` was read from it (see :func:`from_template`).
    """
    if (value is None and optional) or rule.allows(value):
        return value
    or_none = ", or None" if optional else ""
    shown = value if written is None else written
    raise ConfigurationError(f"{name}={shown!r} is not valid: it must be {rule}{or_none}.{hint}")


def from_template(value: Any, rule: Rule) -> Any:
    """A Jinja field renders ``"{{ params.max_tokens }}"`` as the string ``"5"``: take it as the number.

    Anything else is left as it is, for :func:`check_number` to name.
    """
    if not isinstance(value, str):
        return value
    try:
        return (int if rule.whole else float)(value.strip())
    except ValueError:
        return value
