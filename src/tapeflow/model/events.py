"""Event payloads published on the :class:`~tapeflow.bus.EventBus`.

Events are small frozen dataclasses. Prices and quantities are :class:`~decimal.Decimal`;
times are timezone-aware UTC :class:`~datetime.datetime`. Symbols are
:class:`~tapeflow.model.symbols.SymbolKey`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event; ``at`` is when it was created (UTC)."""

    at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeTickReceived(Event):
    """A tick taken off the feed and handed to the batch writer."""

    tick: TradeTick


@dataclass(frozen=True, slots=True, kw_only=True)
class CandleClosed(Event):
    """A candle of ``timeframe`` (``"1m"``, ...) closed for ``key``; ``open_time`` is UTC."""

    key: SymbolKey
    timeframe: str
    open_time: datetime
    close: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLost(Event):
    """A feed connection dropped; ``feed`` names it (e.g. ``"binance/usdm"``)."""

    feed: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionRestored(Event):
    """A feed connection is back; ``gaps`` lists the (first_id, last_id) ranges refilled."""

    feed: str
    gaps: tuple[tuple[SymbolKey, int, int], ...] = ()
    trades_recovered: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class GapDetected(Event):
    """Trade ids ``first_missing_id..last_missing_id`` (inclusive) are missing for ``key``."""

    key: SymbolKey
    first_missing_id: int
    last_missing_id: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalGenerated(Event):
    """The strategy emitted a trade signal."""

    signal: TradeSignal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced(Event):
    """An order was accepted by the exchange (paper or live)."""

    key: SymbolKey
    client_order_id: str
    side: str
    quantity: Decimal
    order_type: str
    price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(Event):
    """An order filled (fully or partially: ``filled`` is the cumulative base quantity)."""

    key: SymbolKey
    client_order_id: str
    side: str
    filled: Decimal
    average_price: Decimal
    fee: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFailed(Event):
    """An order could not be placed; ``reason`` is safe to log (no secrets)."""

    key: SymbolKey
    client_order_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionOpened(Event):
    """A position opened: ``direction`` is ``"long"`` or ``"short"``."""

    key: SymbolKey
    position_id: str
    direction: str
    quantity: Decimal
    entry_price: Decimal
    stop_price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionClosed(Event):
    """A position closed with realised P&L in quote currency (fees included)."""

    key: SymbolKey
    position_id: str
    direction: str
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitBreakerTripped(Event):
    """Portfolio or exchange circuit breaker opened; ``scope`` names which."""

    scope: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconciliationCompleted(Event):
    """Startup reconciliation finished; ``report`` is the human-readable report text."""

    report: str
    discrepancies: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StopAllTrading(Event):
    """Every entry is halted (seed 001 §8.3): the portfolio circuit breaker tripped and
    every position is being closed. ``scope`` names who halted (``portfolio``)."""

    scope: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioHealthDegraded(Event):
    """The portfolio health score fell into a worse band (seed 001 §8.3).

    Attributes:
        score: 0–100, exact.
        band: ``STOP_ENTRIES``, ``TIGHTEN`` or ``CLOSE_WORST``.
        action: what the engine does about it, in words.
        positions: open positions scored.
        unrealized_pnl: their unrealised P&L, quote currency.
        daily_drawdown_pct, open_loss_pct: percent (of the day-start equity / of equity).
        losing_share: share of open positions at a loss, 0–1.
    """

    score: Decimal
    band: str
    action: str
    positions: int
    unrealized_pnl: Decimal
    daily_drawdown_pct: Decimal
    open_loss_pct: Decimal
    losing_share: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class StopNewEntries(Event):
    """New entries are refused from now on (seed 001 §8.3: health score below 70) until
    the score recovers; ``score`` is the score that caused it."""

    reason: str
    score: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TightenStop(Event):
    """A position's trailing stop was tightened by the risk layer.

    Attributes:
        distance_pct: the new trailing distance, percent of price.
        stop_price: the stop's trigger price after tightening (quote).
        reason: which rule tightened it.
    """

    key: SymbolKey
    position_id: str
    distance_pct: Decimal
    stop_price: Decimal
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ForceExitRequired(Event):
    """A risk rule closes a position now, before its stop (seed 001 §8.3 ``_force_exit``).

    Attributes:
        rule: ``hold_time``, ``health``, ``circuit_breaker``, ``dump`` or ``correlation``.
        reason: the rule's finding, in words.
        client_order_id: the exit order sent (None if none could be sent).
    """

    key: SymbolKey
    position_id: str
    rule: str
    reason: str
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemErrorEvent(Event):
    """The process is dying of an exception (seed 001 §3.0.1 ``SystemErrorEvent``; the
    suffix keeps it apart from Python's built-in ``SystemError``).

    Attributes:
        error_type: the exception's class name.
        message: its text (secrets redacted by the notifier before mailing).
        where: the component that failed (``tapeflow run``).
    """

    error_type: str
    message: str
    where: str
