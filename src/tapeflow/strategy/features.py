"""Per-symbol features of the longest timeframe, computed once from stored history and then
updated one closed candle at a time.

The features are those of :mod:`tapeflow.analytics` — indicators (EMA, ATR, ADX, Hurst,
mean reversion, autocorrelation), supply/demand zones, fair value gaps, swing structure and
order blocks — driven through their incremental trackers, so the strategy never rescans
history on a candle: each update is O(window) work in the trackers. The result after any
sequence of updates equals the analytics' batch functions over the same candles (property
tested in ``tests/strategy/test_features.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from tapeflow.analytics.closed_candles import closed_candles, iter_candles, last_segment
from tapeflow.analytics.fvg import FvgParams, FvgTracker
from tapeflow.analytics.indicators import IndicatorParams, IndicatorTracker
from tapeflow.analytics.structure import StructureParams, StructureTracker
from tapeflow.analytics.zones import ZoneParams, ZoneTracker
from tapeflow.config.strategy import StrategySettings
from tapeflow.model.candles import Candle
from tapeflow.strategy.inputs import Gap, IndicatorRow, Zone


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """The analytics parameters a strategy configuration implies."""

    indicators: IndicatorParams
    zones: ZoneParams
    fvgs: FvgParams
    structure: StructureParams

    @classmethod
    def from_settings(cls, s: StrategySettings) -> FeatureParams:
        """The analytics params of ``strategy.indicators`` / ``strategy.detection``."""
        i, d = s.indicators, s.detection
        return cls(
            IndicatorParams.from_settings(i),
            ZoneParams.from_settings(d, i),
            FvgParams.from_settings(d, i),
            StructureParams.from_settings(d),
        )


class LongestFeatures:
    """Incremental features of one symbol's longest timeframe.

    Build with :meth:`from_history` (a closed-candle frame, see
    :mod:`tapeflow.analytics.closed_candles`), then :meth:`update` with each newly closed
    candle in ``open_time`` order.

    Attributes:
        first_open_time: open time (UTC) of the first candle fed (the recursive indicators
            — EMA, Wilder smoothing — start there), ``None`` before any.
        last_open_time: open time (UTC) of the last candle fed, ``None`` before any.
        candles_seen: candles fed so far.
        data_gap: ``(last candle before, first candle after)`` (open times, UTC) of the data
            gap these features start after, or ``None``: the engine builds features from one
            continuity segment only (:mod:`tapeflow.analytics.segments`), so after a gap
            they warm up again.
    """

    def __init__(self, params: FeatureParams) -> None:
        self.params = params
        self.indicators = IndicatorTracker(params.indicators)
        self.zones = ZoneTracker(params.zones)
        self.fvgs = FvgTracker(params.fvgs)
        self.structure = StructureTracker(params.structure)
        self.row: dict | None = None
        self.first_open_time: datetime | None = None
        self.last_open_time: datetime | None = None
        self.candles_seen = 0
        self.data_gap: tuple[datetime, datetime] | None = None
        self._derived: dict[str, object] = {}  # per-candle cache of the views below

    @classmethod
    def from_history(cls, candles: pl.DataFrame, params: FeatureParams) -> LongestFeatures:
        """Features after every closed candle of ``candles`` (one batch indicator pass, the
        pattern trackers fed candle by candle with that pass's ATR). Only the frame's last
        continuity segment is used (its ``segment`` column): nothing before a data gap.

        Raises:
            tapeflow.analytics.closed_candles.CandleFrameError: on a malformed frame.
        """
        feats = cls(params)
        frame = last_segment(closed_candles(candles))
        if frame.height == 0:
            return feats
        feats.indicators, rows = IndicatorTracker.from_frame(frame, params.indicators)
        atr = rows["atr"].to_list()
        for candle, a in zip(iter_candles(frame), atr, strict=True):
            feats._patterns(candle, a)
        feats._derived = {}
        feats.row = rows.row(-1, named=True)
        feats.first_open_time = frame["open_time"][0]
        feats.last_open_time = frame["open_time"][-1]
        feats.candles_seen = frame.height
        return feats

    def _patterns(self, candle: Candle, atr: float | None) -> None:
        self.zones.update(candle, atr)
        self.fvgs.update(candle, atr)
        self.structure.update(candle)

    def update(self, candle: Candle) -> None:
        """Feed one newly closed candle (prices exact, ``open_time`` UTC-aware).

        Raises:
            ValueError: the candle is not after the last one fed.
        """
        row = self.indicators.update(candle)
        self._patterns(candle, row["atr"])
        self._derived = {}
        self.row = row
        if self.first_open_time is None:
            self.first_open_time = candle.open_time
        self.last_open_time = candle.open_time
        self.candles_seen += 1

    # ------------------------------------------------------------------ strategy inputs

    def indicator_row(self) -> IndicatorRow:
        """The last candle's indicators as a :class:`~tapeflow.strategy.inputs.IndicatorRow`
        (all ``None`` before any candle).

        Raises:
            KeyError: the indicator row lacks a column this code expects (the analytics'
                column names changed) — never silently ``None``.
        """
        r = self.row
        if r is None:
            return IndicatorRow(*([None] * 11))
        e = self.params.indicators.ema
        return IndicatorRow(
            open_time=r["open_time"],
            close=r["close"],
            ema_fast=r[f"ema_{e[0]}"],
            ema_mid=r[f"ema_{e[1]}"],
            ema_slow=r[f"ema_{e[2]}"],
            atr=r["atr"],
            atr_pct=r["atr_pct"],
            adx=r["adx"],
            hurst=r["hurst"],
            mean_reversion=r["mean_reversion"],
            autocorrelation=r["autocorrelation"],
            mean_reversion_ema=r["mean_reversion_ema"],
            mean_reversion_sigma=r["mean_reversion_sigma"],
        )

    def _cached(self, name: str, build):
        if name not in self._derived:
            self._derived[name] = build()
        return self._derived[name]

    def live_zones(self) -> list[Zone]:
        """Unbroken supply/demand zones, oldest first (computed once per candle fed)."""
        return self._cached(
            "zones",
            lambda: [
                Zone(
                    z.type,
                    z.price_low,
                    z.price_high,
                    z.strength,
                    z.status,
                    z.first_seen,
                    z.test_count,
                )
                for z in self.zones.live()
            ],
        )

    def live_gaps(self) -> list[Gap]:
        """Unfilled FVGs; the band is the part not yet traded through (computed once per
        candle fed)."""

        def build() -> list[Gap]:
            out = []
            for g in self.fvgs.live():
                low, high = g.unfilled or (g.bottom, g.top)
                out.append(Gap(g.direction, low, high, g.status))
            return out

        return self._cached("gaps", build)

    def summary(self) -> dict:
        """For the decision log: candles fed (first, last, count), the data gap they start
        after (``data_gap``: ``[last before, first after]`` or None) and the live zones, FVGs
        and order blocks (computed once per candle fed)."""
        return self._cached(
            "summary",
            lambda: {
                "candles": self.candles_seen,
                "first_candle": self.first_open_time,
                "last_candle": self.last_open_time,
                "data_gap": list(self.data_gap) if self.data_gap else None,
                "zones": len(self.live_zones()),
                "fvgs": len(self.live_gaps()),
                "order_blocks": sum(
                    1 for b in self.structure.order_blocks() if b.status != "broken"
                ),
            },
        )
