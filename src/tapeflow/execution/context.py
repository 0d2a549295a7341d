"""What the execution chain's handlers know about one signal as it passes the chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tapeflow.config.execution import RiskSettings
from tapeflow.execution.markets import MarketRules
from tapeflow.execution.sizing import SizeDecision
from tapeflow.model.records import Order, Position
from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey


@dataclass(slots=True)
class SignalContext:
    """What the handlers know about one signal, filled in as it passes.

    Attributes:
        signal: the strategy's decision.
        key: its symbol.
        now: UTC time the chain started.
        risk: the symbol's risk settings.
        market: market rules (set by ``sizing``).
        balance: the sizing basis: account equity in the market's quote asset.
        size: the sizing decision (set by ``sizing``).
        position, entry_order: set by ``placement``.
        exits: exit orders sent by ``reversal``.
        notes: remarks handlers leave for the record.
    """

    signal: TradeSignal
    key: SymbolKey
    now: datetime
    risk: RiskSettings
    market: MarketRules | None = None
    balance: Decimal | None = None
    size: SizeDecision | None = None
    position: Position | None = None
    entry_order: Order | None = None
    exits: list[Order] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
