"""Typed, docstringed tool functions the tests of agents/ share (string annotations, as in a DAG file with
``from __future__ import annotations``)."""

from __future__ import annotations

from typing import Literal, Optional


def lookup_order(order_id: int, include_items: bool = False) -> dict:
    """Look an order up by its number.

    Returns the order's status and total. This paragraph is not part of the description.

    :param order_id: the order's number, as the customer
        wrote it.
    :param include_items: also list the order's items.
    :return: the order.
    """
    return {"order_id": order_id, "status": "shipped", "items": ["mug"] if include_items else None}


def refund(
    order_id: int,
    amount: float,
    reason: Literal["damaged", "late", "other"],
    note: str | None = None,
    currency: Optional[str] = "EUR",  # noqa: UP045 (the typing spelling is what is under test)
    tags: list[str] | None = None,
    priority: Literal[1, 2, 3] = 2,
) -> str:
    """Refund an order, in part or in full.

    :param str order_id: the order's number.
    :param amount: how much to refund.
    :param reason: why.
    """
    return f"refunded {amount} {currency} on order {order_id} ({reason})"
