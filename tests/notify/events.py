"""One realistic instance of every event that produces mail."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tapeflow.model.events import (
    CircuitBreakerTripped,
    ConnectionLost,
    ForceExitRequired,
    OrderFailed,
    PortfolioHealthDegraded,
    PositionClosed,
    PositionOpened,
    ReconciliationCompleted,
    SignalGenerated,
    StopAllTrading,
    StopNewEntries,
    SystemErrorEvent,
    TightenStop,
)
from tapeflow.model.notifications import Priority
from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey

BTC = SymbolKey("binance", "usdm", "BTCUSDT")
AT = datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)

SIGNAL = TradeSignal(
    key=BTC,
    direction="long",
    entry_price=Decimal("64123.40"),
    stop_loss=Decimal("63500.00"),
    candle_time=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    entry_score=1.8,
    zone_strength=72.0,
    confluence=5.0,
    probability="high",
    target=Decimal("65500"),
)


def all_events() -> dict[str, object]:
    return {
        "signal": SignalGenerated(signal=SIGNAL, at=AT),
        "position_opened": PositionOpened(
            key=BTC,
            position_id="pos-7",
            direction="long",
            quantity=Decimal("0.015"),
            entry_price=Decimal("64123.40"),
            stop_price=Decimal("63500.00"),
            at=AT,
        ),
        "position_closed": PositionClosed(
            key=BTC,
            position_id="pos-7",
            direction="long",
            quantity=Decimal("0.015"),
            entry_price=Decimal("64123.40"),
            exit_price=Decimal("64500.10"),
            pnl=Decimal("5.6505"),
            reason="trailing stop",
            at=AT,
        ),
        "order_failed": OrderFailed(
            key=BTC,
            client_order_id="tf-3c1e-entry",
            reason="Margin is insufficient (-2019)",
            at=AT,
        ),
        "circuit_breaker": CircuitBreakerTripped(
            scope="portfolio", reason="daily loss 3.10% >= 3%", at=AT
        ),
        "connection_lost": ConnectionLost(feed="binance/usdm", reason="ping timeout", at=AT),
        "reconciliation": ReconciliationCompleted(
            report="positions: 1 closed locally (missing on exchange)\norders: 0 adopted",
            discrepancies=1,
            at=AT,
        ),
        "stop_all_trading": StopAllTrading(
            scope="portfolio", reason="daily drawdown 5.012% >= 5%", at=AT
        ),
        "portfolio_health": PortfolioHealthDegraded(
            score=Decimal("44.5"),
            band="TIGHTEN",
            action="stops tightened to 0.3%; new entries refused",
            positions=2,
            unrealized_pnl=Decimal("-150.25"),
            daily_drawdown_pct=Decimal("2.5"),
            open_loss_pct=Decimal("1.5"),
            losing_share=Decimal("0.5"),
            at=AT,
        ),
        "stop_new_entries": StopNewEntries(reason="score 64.00 < 70", score=Decimal(64), at=AT),
        "tighten_stop": TightenStop(
            key=BTC,
            position_id="pos-7",
            distance_pct=Decimal("0.3"),
            stop_price=Decimal("63930.0298"),
            reason="portfolio health 44.50 < 50",
            at=AT,
        ),
        "force_exit": ForceExitRequired(
            key=BTC,
            position_id="pos-7",
            rule="hold_time",
            reason="max hold time reached",
            client_order_id="tf-pos-7-ex",
            at=AT,
        ),
        "system_error": SystemErrorEvent(
            error_type="SourceError",
            message="trades.csv: line 3: price 'abc' is not a number",
            where="tapeflow run",
            at=AT,
        ),
    }


#: kind -> (priority, subject title) each event of :func:`all_events` must produce.
EXPECTED = {
    "signal": (
        Priority.P3,
        "Signal LONG binance/usdm/BTCUSDT @ 64123.40 (stop 63500.00)",
    ),
    "position_opened": (
        Priority.P3,
        "Position opened LONG 0.015 binance/usdm/BTCUSDT @ 64123.40",
    ),
    "position_closed": (
        Priority.P3,
        "Position closed LONG binance/usdm/BTCUSDT P&L +5.6505 (trailing stop)",
    ),
    "order_failed": (
        Priority.P1,
        "Order failed binance/usdm/BTCUSDT: Margin is insufficient (-2019)",
    ),
    "circuit_breaker": (Priority.P1, "CIRCUIT BREAKER portfolio: daily loss 3.10% >= 3%"),
    "connection_lost": (Priority.P2, "Connection lost binance/usdm"),
    "reconciliation": (Priority.P2, "Reconciliation: 1 discrepancies resolved"),
    "stop_all_trading": (Priority.P1, "STOP ALL TRADING (portfolio): daily drawdown 5.012% >= 5%"),
    "portfolio_health": (
        Priority.P2,
        "Portfolio health 44.50: stops tightened to 0.3%; new entries refused",
    ),
    "stop_new_entries": (Priority.P2, "New entries stopped: portfolio health score 64.00 < 70"),
    "tighten_stop": (
        Priority.P3,
        "Stop tightened binance/usdm/BTCUSDT to 0.3% (stop 63930.0298)",
    ),
    "force_exit": (
        Priority.P2,
        "Force exit binance/usdm/BTCUSDT (hold_time): max hold time reached",
    ),
    "system_error": (
        Priority.P1,
        "SYSTEM ERROR in tapeflow run: SourceError: trades.csv: line 3: price 'abc' is not a "
        "number",
    ),
}
