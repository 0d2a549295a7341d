"""Orders and positions as an exchange sees them: the order sent, the order's state on the
exchange, balances and futures positions.

All prices and quantities are exact :class:`~decimal.Decimal`; times are UTC. Orders are
addressed by their deterministic client order id, never by the exchange's own id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from tapeflow.model.records import OrderStatus, utcnow
from tapeflow.model.symbols import SymbolKey

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop_market", "stop_limit"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected"})


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to send.

    Attributes:
        key: market.
        client_order_id: deterministic id (≤ 36 chars, Binance-legal).
        side: ``buy`` or ``sell``.
        order_type: ``market``, ``limit``, ``stop_market`` or ``stop_limit``.
        quantity: base quantity (contracts on contract markets), already a step multiple.
        price: limit price (``limit``/``stop_limit``), quote.
        stop_price: trigger price (``stop_market``/``stop_limit``), quote. A sell stop
            triggers when the trade price falls to or below it, a buy stop when it rises to
            or above it.
        reduce_only: futures only: may only reduce a position.
    """

    key: SymbolKey
    client_order_id: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"{self.client_order_id}: quantity must be positive")
        if self.order_type in ("limit", "stop_limit") and self.price is None:
            raise ValueError(f"{self.client_order_id}: a {self.order_type} order needs a price")
        if self.order_type.startswith("stop") and self.stop_price is None:
            raise ValueError(f"{self.client_order_id}: a {self.order_type} needs a stop_price")


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """The exchange's view of one order.

    Attributes:
        status: ``open`` (resting or awaiting its fill), ``partially_filled``, ``filled``,
            ``canceled`` or ``rejected`` (:data:`tapeflow.model.records.OrderStatus`).
        filled: cumulative filled quantity.
        average_price: volume-weighted fill price, None before the first fill.
        fee: cumulative fee converted to the quote asset; None when it is not known (the
            ccxt adapter fills it in from the order's trades when the order answer
            carries no commission; None if that lookup failed — it is then left as
            recorded).
        triggered: a stop order whose trigger price has been reached.
    """

    key: SymbolKey
    client_order_id: str
    exchange_order_id: str | None
    status: OrderStatus
    side: Side
    order_type: OrderType
    quantity: Decimal
    filled: Decimal = Decimal(0)
    average_price: Decimal | None = None
    fee: Decimal | None = Decimal(0)
    fee_asset: str | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    triggered: bool = False
    ts: datetime = field(default_factory=utcnow)

    @property
    def is_terminal(self) -> bool:
        """True once the order can change no more (filled, canceled, rejected)."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset's balance: ``free`` + ``used`` = ``total`` (futures: ``total`` is the
    margin balance, wallet plus unrealized P&L)."""

    asset: str
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class ExchangePosition:
    """A futures position as the exchange reports it (one-way mode).

    Attributes:
        quantity: absolute size (contracts/base), > 0.
        entry_price: average entry price.
        unrealized_pnl: at the exchange's mark price (quote).
    """

    key: SymbolKey
    direction: Literal["long", "short"]
    quantity: Decimal
    entry_price: Decimal
    leverage: Decimal | None = None
    unrealized_pnl: Decimal = Decimal(0)
