"""Position, order and engine-state records kept by a position store.

These are the documents of the data model (see ``docs/state.md``): every store (embedded or
Firestore) persists exactly these fields. Prices and quantities are exact decimals (stored
as strings); times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PositionStatus = Literal["pending", "open", "closing", "closed"]
OrderStatus = Literal["new", "sent", "open", "partially_filled", "filled", "canceled", "rejected"]

#: Allowed position state transitions (from -> to). ``pending -> closed`` covers an entry
#: that never filled; ``open -> open`` covers quantity/stop updates.
POSITION_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"open", "closed"}),
    "open": frozenset({"open", "closing", "closed"}),
    "closing": frozenset({"closing", "open", "closed"}),
    "closed": frozenset(),
}


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Position(BaseModel):
    """One position in one symbol (``symbol`` is ``"exchange/market/SYMBOL"``)."""

    model_config = ConfigDict(extra="forbid")

    position_id: str
    symbol: str
    direction: Literal["long", "short"]
    status: PositionStatus = "pending"
    quantity: Decimal = Decimal(0)
    entry_price: Decimal | None = None
    stop_price: Decimal | None = None
    trailing_distance_pct: Decimal | None = None
    entry_client_order_id: str | None = None
    exit_client_order_id: str | None = None
    exit_price: Decimal | None = None
    realized_pnl: Decimal | None = None
    fees: Decimal = Decimal(0)
    close_reason: str | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class Order(BaseModel):
    """One order, keyed by its deterministic client order id."""

    model_config = ConfigDict(extra="forbid")

    client_order_id: str
    symbol: str
    position_id: str | None = None
    purpose: Literal["entry", "exit", "stop", "other"] = "entry"
    side: Literal["buy", "sell"]
    order_type: Literal["market", "limit", "stop_market", "stop_limit"] = "market"
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    status: OrderStatus = "new"
    exchange_order_id: str | None = None
    filled: Decimal = Decimal(0)
    average_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class InvalidTransitionError(ValueError):
    """A position state change that :data:`POSITION_TRANSITIONS` does not allow."""
