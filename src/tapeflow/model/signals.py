"""The trade signal the strategy emits and the execution chain consumes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from tapeflow.model.symbols import SymbolKey

Direction = Literal["long", "short"]


@dataclass(frozen=True, slots=True)
class TradeSignal:
    """A decision to enter a position, produced on a closed candle.

    Attributes:
        key: symbol the signal is for.
        direction: ``"long"`` or ``"short"``.
        entry_price: reference entry price (quote), the close of the deciding candle.
        stop_loss: protective stop at the zone boundary (quote).
        candle_time: open time (UTC) of the closed fastest-timeframe candle that decided.
        strategy: name of the strategy configuration that produced it.
        entry_score: bounce strength × fast imbalance (dimensionless).
        zone_strength: strength of the zone traded from, 0–100.
        confluence: confluence score, 0–8.
        probability: ``"low"``, ``"medium"`` or ``"high"`` from the confluence score.
        metrics: per-level metrics, as recorded in the decision log.
        target: optional take-profit price (quote).
    """

    key: SymbolKey
    direction: Direction
    entry_price: Decimal
    stop_loss: Decimal
    candle_time: datetime
    strategy: str = "hierarchical"
    entry_score: float = 0.0
    zone_strength: float = 0.0
    confluence: float = 0.0
    probability: str = "low"
    metrics: dict[str, Any] = field(default_factory=dict)
    target: Decimal | None = None

    @property
    def signal_id(self) -> str:
        """Deterministic id of this decision: same symbol, direction, candle and strategy
        always give the same id (the basis of client order ids)."""
        raw = f"{self.key}|{self.strategy}|{self.direction}|{self.candle_time.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:20]
