"""Local records for the reconciliation tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tapeflow.execution.client_ids import client_order_id
from tapeflow.model.records import Order, Position

#: The reconciliation clock in these tests (UTC).
T0 = datetime(2024, 8, 9, 0, 5, 0, tzinfo=UTC)


def position(
    pid: str,
    symbol: str,
    direction: str = "long",
    quantity: str = "0.010",
    *,
    status: str = "open",
    entry: str | None = "61800.30",
    age_s: int = 600,
    **kw: Any,
) -> Position:
    """A position created ``age_s`` seconds before :data:`T0`."""
    at = T0 - timedelta(seconds=age_s)
    return Position(
        position_id=pid,
        symbol=symbol,
        direction=direction,
        status=status,
        quantity=Decimal(quantity),
        entry_price=Decimal(entry) if entry is not None else None,
        opened_at=at if status != "pending" else None,
        created_at=at,
        updated_at=at,
        **kw,
    )


def entry_order(
    pid: str,
    symbol: str,
    side: str = "buy",
    quantity: str = "0.010",
    *,
    status: str = "sent",
    order_type: str = "market",
    price: str | None = None,
    age_s: int = 600,
    **kw: Any,
) -> Order:
    """The entry order of position ``pid`` (client order id ``tf-<pid>-en``)."""
    at = T0 - timedelta(seconds=age_s)
    return Order(
        client_order_id=client_order_id(pid, "entry"),
        symbol=symbol,
        position_id=pid,
        purpose="entry",
        side=side,
        order_type=order_type,
        quantity=Decimal(quantity),
        price=Decimal(price) if price is not None else None,
        status=status,
        created_at=at,
        updated_at=at,
        **kw,
    )
