"""Timeframes a symbol's strategy runs on: longest / middle / fastest."""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import model_validator

from tapeflow.config.base import Section
from tapeflow.model.timeframes import Timeframe, timeframe_delta


class Timeframes(Section):
    """The three timeframes of the hierarchical strategy.

    Attributes:
        longest: regime and zones (default ``15m``).
        middle: the middle window of the order-flow cascade (default ``5m``).
        fastest: the evaluation clock, bounce candle and fast cascade window (default ``1m``).

    Validation: each is one of 1m, 5m, 15m, 1h, 4h and ``longest > middle > fastest`` by
    duration. ``longest`` must be a whole multiple of ``fastest`` (so a longest candle closes
    exactly when a fastest one does) — true of every allowed pair.
    """

    longest: Timeframe = "15m"
    middle: Timeframe = "5m"
    fastest: Timeframe = "1m"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        lo, mi, fa = (timeframe_delta(t) for t in (self.longest, self.middle, self.fastest))
        if not lo > mi > fa:
            raise ValueError(
                "must be ordered longest > middle > fastest "
                f"(got longest={self.longest}, middle={self.middle}, fastest={self.fastest})"
            )
        return self

    def seconds(self, which: str) -> int:
        """Length in seconds of ``"longest"``, ``"middle"`` or ``"fastest"``."""
        return timeframe_delta(getattr(self, which)) // timedelta(seconds=1)
