"""Operator controls over the execution engines of one process: list positions, close
one symbol's positions or all, pause/resume new entries per symbol, reset the portfolio
circuit breaker.

The same functions serve a running ``tapeflow run`` (through its control endpoint) and
the stored state when no process runs (the CLI then starts the engines on the stored
books for the one action). Every action is idempotent and says what it did: a second
``close`` finds the position already closing or closed, a second ``pause`` finds the
symbol paused, a second ``risk reset`` finds the breaker closed.

Unrealised P&L (quote currency) = ``(mark − entry) × quantity × contract_size`` (× −1 for
a short), fees not included; ``mark`` is the last trade price the engine saw (the paper
exchange keeps its last prices across restarts; with no process, a live venue's mark is
unknown and the P&L is ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tapeflow.execution.engine import ExecutionEngine
from tapeflow.model.errors import TapeflowError
from tapeflow.model.records import utcnow
from tapeflow.model.symbols import SymbolKey

#: ``close_reason`` of a position closed by the operator.
OPERATOR_CLOSE = "operator close"


class UnknownSymbol(TapeflowError, ValueError):
    """A symbol no engine of this process trades, or a bare symbol on several venues."""


@dataclass(frozen=True)
class ControlResult:
    """What an action did.

    Attributes:
        changed: whether anything changed (False: it was already so).
        messages: one line per thing done or found, for people.
    """

    changed: bool
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"changed": self.changed, "messages": list(self.messages)}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class OperatorControls:
    """Controls over ``engines`` (one per venue) for the configured ``symbols``.

    Args:
        engines: started execution engines.
        symbols: the configured symbols (resolve a bare ``BTCUSDT``).
        clock: UTC now (the circuit-breaker reset's day).
    """

    def __init__(
        self,
        engines: Sequence[ExecutionEngine],
        symbols: Sequence[SymbolKey],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engines = list(engines)
        self.symbols = list(symbols)
        self.clock = clock

    def resolve(self, symbol: str) -> SymbolKey:
        """``exchange/market/SYMBOL`` or a bare symbol configured on exactly one venue.

        Raises:
            UnknownSymbol: not configured, or a bare symbol on several venues.
        """
        if "/" in symbol:
            key = SymbolKey.parse(symbol)
            if key not in self.symbols:
                raise UnknownSymbol(f"{key} is not a configured symbol")
            return key
        found = [k for k in self.symbols if k.symbol == symbol.upper()]
        if not found:
            raise UnknownSymbol(f"{symbol} is not a configured symbol")
        if len(found) > 1:
            names = ", ".join(str(k) for k in found)
            raise UnknownSymbol(f"{symbol} is configured on several venues ({names}); name one")
        return found[0]

    def _engine(self, key: SymbolKey) -> ExecutionEngine:
        for engine in self.engines:
            if (engine.settings.exchange, engine.settings.market) == (key.exchange, key.market):
                return engine
        raise UnknownSymbol(f"no engine trades {key.exchange}/{key.market}")

    # -- reading -------------------------------------------------------------------------

    def positions(self) -> list[dict[str, Any]]:
        """Every active position: ``position_id, symbol, direction, status, quantity,
        entry_price, stop_price, trailing_stop, target_price, mark, unrealized_pnl,
        opened_at, paused`` (prices and amounts as decimal strings, quote currency)."""
        rows = []
        for engine in self.engines:
            for pos in engine.book.active():
                key = SymbolKey.parse(pos.symbol)
                stop = engine.stops.get(pos.position_id)
                mark = engine.mark(key)
                upnl = None
                if mark is not None and pos.entry_price is not None and pos.status != "pending":
                    sign = 1 if pos.direction == "long" else -1
                    size = engine.exchange.market(key).contract_size
                    upnl = (mark - pos.entry_price) * pos.quantity * size * sign
                rows.append(
                    {
                        "position_id": pos.position_id,
                        "symbol": pos.symbol,
                        "direction": pos.direction,
                        "status": pos.status,
                        "quantity": str(pos.quantity),
                        "entry_price": _text(pos.entry_price),
                        "stop_price": _text(pos.stop_price),
                        "trailing_stop": _text(stop.stop_price if stop is not None else None),
                        "target_price": _text(pos.target_price),
                        "mark": _text(mark),
                        "unrealized_pnl": _text(upnl),
                        "opened_at": pos.opened_at.isoformat() if pos.opened_at else None,
                        "paused": engine.pauses.reason(key) is not None,
                    }
                )
        return sorted(rows, key=lambda r: (r["symbol"], r["position_id"]))

    # -- actions -------------------------------------------------------------------------

    async def close(self, symbol: str | None) -> ControlResult:
        """Close the open positions of ``symbol`` (None: every position) with a market
        exit each. A position already closing keeps its exit order (no second one)."""
        key = self.resolve(symbol) if symbol is not None else None
        changed, messages = False, []
        for engine in self.engines if key is None else [self._engine(key)]:
            for pos in engine.book.active(key):
                if pos.status == "pending":
                    messages.append(f"{pos.position_id} {pos.symbol}: entry pending, not closed")
                    continue
                was = pos.status
                order = await engine.lifecycle.close(pos, OPERATOR_CLOSE)
                if order is None:
                    messages.append(f"{pos.position_id} {pos.symbol}: not open, nothing sent")
                elif was == "closing":
                    messages.append(
                        f"{pos.position_id} {pos.symbol}: already closing "
                        f"(exit {order.client_order_id} {order.status})"
                    )
                else:
                    changed = True
                    messages.append(
                        f"{pos.position_id} {pos.symbol}: exit {order.client_order_id} "
                        f"{order.side} {order.quantity} {order.status}"
                    )
        if not messages:
            where = str(key) if key is not None else "any symbol"
            messages.append(f"no open position in {where}: nothing to close")
        return ControlResult(changed, messages)

    def pause(self, symbol: str, paused: bool = True) -> ControlResult:
        """Pause (or, ``paused=False``, resume) new entries in ``symbol``; persisted."""
        key = self.resolve(symbol)
        engine = self._engine(key)
        changed = engine.pauses.set(key, paused)
        if paused:
            text = "paused: no new entries" if changed else "already paused"
        else:
            text = "resumed: new entries allowed" if changed else "not paused: nothing to resume"
        return ControlResult(changed, [f"{key}: {text}"])

    async def risk_reset(self) -> ControlResult:
        """Lift a tripped portfolio circuit breaker on every venue, re-basing the day at
        the current equity (:meth:`PortfolioRisk.manual_reset`)."""
        changed, messages = False, []
        for engine in self.engines:
            venue = f"{engine.settings.exchange}/{engine.settings.market}"
            if not engine.risk.halted:
                messages.append(f"{venue}: circuit breaker not tripped, nothing to reset")
                continue
            equity = await engine.equity()
            reason = engine.risk.halt_reason
            engine.risk.manual_reset(equity, self.clock())
            changed = True
            messages.append(
                f"{venue}: circuit breaker reset (was: {reason}); day re-based at equity "
                f"{equity}; new entries allowed"
            )
        return ControlResult(changed, messages)
