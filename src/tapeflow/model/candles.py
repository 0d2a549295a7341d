"""A closed candle (OHLC) with exact prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed candle; prices exact. ``open_time`` is the interval start (UTC)."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    @property
    def range(self) -> Decimal:
        """high - low (quote units)."""
        return self.high - self.low

    @property
    def body(self) -> Decimal:
        """|close - open| (quote units)."""
        return abs(self.close - self.open)

    @property
    def bullish(self) -> bool:
        """close > open."""
        return self.close > self.open

    @property
    def bearish(self) -> bool:
        """close < open."""
        return self.close < self.open
