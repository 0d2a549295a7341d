"""Fair value gaps (FVGs) on closed candles, detected and tracked incrementally.

The definition is SQL: the table macro ``fvgs`` in ``sql/analytics/151_fvgs.sql`` (seed 001
§4.1 ``fair_value_gaps``, §5.4), over the closed continuous candles and Wilder ATR of
``150_continuous_candles.sql``. :class:`FvgTracker` is an incremental evaluation of that
definition for the live strategy (one candle at a time, O(live gaps touched) per candle);
``tests/analytics/test_fvg_sql.py`` proves the two equal, row for row, on every recording.
The rules, restated:

Definition (the three-candle imbalance of ICT's "fair value gap", as commonly used in
order-flow / SMC charting; e.g. LuxAlgo's and TradingView's FVG indicators). With candles
``c1, c2, c3`` consecutive and closed:

* **bullish** when ``c1.high < c3.low`` and ``c2`` is bullish (``close > open``):
  the gap is ``[bottom, top] = [c1.high, c3.low]``;
* **bearish** when ``c1.low > c3.high`` and ``c2`` is bearish (``close < open``):
  the gap is ``[bottom, top] = [c3.high, c1.low]``.

Edges are candle prices and stay exact (Decimal). A gap is *created* at ``c3`` (known at its
close); ``anchor_at`` is ``c2``'s open time. Optional size filters (all that are set must hold):
``size >= min_ticks * tick_size``; ``size / c3.close * 100 >= min_pct``;
``size >= min_atr * ATR`` with ATR = ATR(``atr_period``) (Wilder) at ``c3``'s close — a gap is
rejected while ATR is still undefined when ``min_atr`` is set.

Fill tracking uses only candles **after** ``c3``. For a bullish gap (price returns from above)
the *deepest* price is the lowest low traded since; ``fill_pct = (top - deepest) / size * 100``
clipped to 0..100. Mirror image for bearish (highest high, ``deepest - bottom``). The gap is
*touched* when a candle trades strictly inside it (bullish: ``low < top``; bearish:
``high > bottom``) and *filled* when price reaches the far edge (bullish: ``low <= bottom``;
bearish: ``high >= top``). Status: ``open`` (never touched), ``partial`` (touched, not filled),
``filled``. A filled gap is final and no longer tracked.

Every result is causal: the state after candle ``t`` is a function of candles ``<= t`` only.
:func:`fvgs` is :class:`FvgTracker` run over a frame — one definition for batch and live use.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import polars as pl

from tapeflow.analytics.closed_candles import (
    DEFAULT_PRICE_DTYPE,
    closed_candles,
    iter_candles,
    price_dtype,
    segments,
)
from tapeflow.analytics.indicators import atr_series
from tapeflow.analytics.price_ladder import PriceLadder
from tapeflow.config.strategy import DetectionSettings, IndicatorSettings
from tapeflow.model.candles import Candle

Direction = Literal["bullish", "bearish"]
FvgStatus = Literal["open", "partial", "filled"]
ChangeKind = Literal["created", "touched", "deepened", "filled"]

# The defaults: ``strategy.detection`` and ``strategy.indicators`` of the configuration.
_DETECTION, _INDICATORS = DetectionSettings(), IndicatorSettings()


@dataclass(frozen=True, slots=True)
class FvgParams:
    """Size filters (0 / None = off). ``tick_size`` (quote units) is needed with ``min_ticks``.

    ``min_pct`` / ``min_atr`` default to ``fvg_min_pct`` / ``fvg_min_atr`` of
    :class:`tapeflow.config.strategy.DetectionSettings`, ``atr_period`` to the ATR period of
    :class:`~tapeflow.config.strategy.IndicatorSettings` (:meth:`from_settings` maps
    configured sections onto these names).
    """

    min_ticks: int = 0
    tick_size: Decimal | None = None
    min_pct: float = _DETECTION.fvg_min_pct
    min_atr: float = _DETECTION.fvg_min_atr
    atr_period: int = _INDICATORS.atr_period

    @classmethod
    def from_settings(cls, d: DetectionSettings, i: IndicatorSettings) -> FvgParams:
        """The size filters of the ``strategy.detection`` / ``strategy.indicators`` sections
        (no tick filter: the configuration has none)."""
        return cls(min_pct=d.fvg_min_pct, min_atr=d.fvg_min_atr, atr_period=i.atr_period)

    def __post_init__(self) -> None:
        if self.min_ticks < 0 or self.min_pct < 0 or self.min_atr < 0:
            raise ValueError("FVG size filters min_ticks, min_pct, min_atr must be >= 0")
        if self.min_ticks and (self.tick_size is None or self.tick_size <= 0):
            raise ValueError("FVG filter min_ticks needs a positive tick_size")
        if self.atr_period <= 0:
            raise ValueError(f"atr_period={self.atr_period} must be positive")


#: The default filters (the configuration's defaults).
_DEFAULT = FvgParams()


@dataclass(frozen=True, slots=True)
class Fvg:
    """One fair value gap as of some candle (an immutable snapshot).

    Prices in quote units (Decimal, exact); times are candle open times (UTC).
    ``deepest`` is the furthest price traded into the gap since creation — for a filled gap
    the filling candle's low (bullish) or high (bearish), which may lie beyond the far edge;
    None if untouched.
    """

    direction: Direction
    anchor_at: datetime
    created_at: datetime
    bottom: Decimal
    top: Decimal
    size_pct: float
    size_atr: float | None
    fill_pct: float
    status: FvgStatus
    first_touched_at: datetime | None
    filled_at: datetime | None
    deepest: Decimal | None

    @property
    def size(self) -> Decimal:
        """top - bottom (quote units)."""
        return self.top - self.bottom

    @property
    def unfilled(self) -> tuple[Decimal, Decimal] | None:
        """The part of the gap price has not yet traded through, or None once filled."""
        if self.status == "filled":
            return None
        if self.deepest is None:
            return (self.bottom, self.top)
        if self.direction == "bullish":
            return (self.bottom, self.deepest)
        return (self.deepest, self.top)


@dataclass(frozen=True, slots=True)
class FvgChange:
    """What one candle did to one gap: ``created``, first ``touched``, ``deepened``, ``filled``."""

    kind: ChangeKind
    fvg: Fvg


@dataclass(slots=True)
class _Live:
    fvg: Fvg


class FvgTracker:
    """Detects and tracks FVGs one closed candle at a time.

    ``update(candle, atr)`` applies the candle to the live (unfilled) gaps first — a gap is
    filled only by candles after the one that created it — then checks whether the candle
    completes a new gap. Returns the changes it made, in that order. ``atr`` is ATR at this
    candle's close (e.g. ``IndicatorTracker`` row ``"atr"``); needed only for ``min_atr`` and
    ``size_atr``.

    Raises:
        ValueError: a candle is not after the previous one.
    """

    def __init__(self, params: FvgParams | None = None) -> None:
        self.params = params or FvgParams()
        self._window: deque[Candle] = deque(maxlen=3)
        self._all: list[_Live] = []
        # Live bullish gaps keyed by top (reached from above), bearish by bottom (from below).
        self._bullish: PriceLadder[_Live] = PriceLadder()
        self._bearish: PriceLadder[_Live] = PriceLadder()

    def update(self, candle: Candle, atr: float | None = None) -> list[FvgChange]:
        """Advance by one closed candle; return the changes (see class docstring)."""
        if self._window and candle.open_time <= self._window[-1].open_time:
            raise ValueError(
                f"candle at {candle.open_time} is not after {self._window[-1].open_time}"
            )
        changes = self._track(candle)
        self._window.append(candle)
        created = self._detect(atr)
        if created is not None:
            changes.append(FvgChange("created", created.fvg))
        return changes

    def gaps(self) -> list[Fvg]:
        """Every gap seen so far (any status), in creation order."""
        return [live.fvg for live in self._all]

    def live(self) -> list[Fvg]:
        """Gaps not yet filled, in creation order."""
        return [live.fvg for live in self._all if live.fvg.status != "filled"]

    def _track(self, candle: Candle) -> list[FvgChange]:
        changes = []
        reached = [(self._bullish, live, candle.low) for live in self._bullish.above(candle.low)]
        reached += [(self._bearish, live, candle.high) for live in self._bearish.below(candle.high)]
        for ladder, live, price in reached:  # bullish: low < top; bearish: high > bottom
            change = self._apply(live, price, candle.open_time)
            if change is None:
                continue
            if change.kind == "filled":
                ladder.remove(live)
            changes.append(change)
        return changes

    @staticmethod
    def _apply(live: _Live, price: Decimal, at: datetime) -> FvgChange | None:
        g = live.fvg
        bullish = g.direction == "bullish"
        deeper = g.deepest is None or (price < g.deepest if bullish else price > g.deepest)
        if not deeper:
            return None
        filled = price <= g.bottom if bullish else price >= g.top
        depth = (g.top - price) if bullish else (price - g.bottom)
        fill_pct = 100.0 if filled else min(100.0, float(depth / g.size * 100))
        kind: ChangeKind = "filled" if filled else "touched" if g.deepest is None else "deepened"
        live.fvg = _replace(
            g,
            deepest=price,
            fill_pct=fill_pct,
            status="filled" if filled else "partial",
            first_touched_at=g.first_touched_at or at,
            filled_at=at if filled else None,
        )
        return FvgChange(kind, live.fvg)

    def _detect(self, atr: float | None) -> _Live | None:
        if len(self._window) < 3:
            return None
        c1, c2, c3 = self._window
        if c1.high < c3.low and c2.bullish:
            direction: Direction = "bullish"
            bottom, top = c1.high, c3.low
        elif c1.low > c3.high and c2.bearish:
            direction, bottom, top = "bearish", c3.high, c1.low
        else:
            return None
        size = top - bottom
        p = self.params
        size_pct = float(size / c3.close * 100)
        size_atr = float(size) / atr if atr else None
        if p.min_ticks and size < p.min_ticks * p.tick_size:
            return None
        if size_pct < p.min_pct:
            return None
        if p.min_atr and (atr is None or math.isnan(atr) or float(size) < p.min_atr * atr):
            return None
        fvg = Fvg(
            direction,
            c2.open_time,
            c3.open_time,
            bottom,
            top,
            size_pct,
            size_atr,
            0.0,
            "open",
            None,
            None,
            None,
        )
        live = _Live(fvg)
        self._all.append(live)
        if direction == "bullish":
            self._bullish.add(top, live)
        else:
            self._bearish.add(bottom, live)
        return live


def _replace(g: Fvg, **changes) -> Fvg:
    values = {name: getattr(g, name) for name in Fvg.__slots__}
    values.update(changes)
    return Fvg(**values)


def fvg_schema(price: pl.DataType = DEFAULT_PRICE_DTYPE) -> dict[str, pl.DataType]:
    """Columns of :func:`fvgs` (``price`` is the Decimal dtype of the candle prices)."""
    ts = pl.Datetime("us", "UTC")
    return {
        "direction": pl.String,
        "anchor_at": ts,
        "created_at": ts,
        "bottom": price,
        "top": price,
        "size": price,
        "size_pct": pl.Float64,
        "size_atr": pl.Float64,
        "fill_pct": pl.Float64,
        "status": pl.String,
        "first_touched_at": ts,
        "filled_at": ts,
        "deepest": price,
        "unfilled_bottom": price,
        "unfilled_top": price,
    }


def fvgs_frame(gaps: list[Fvg], price: pl.DataType = DEFAULT_PRICE_DTYPE) -> pl.DataFrame:
    """Gaps as a DataFrame with :func:`fvg_schema` columns."""
    rows = []
    for g in gaps:
        unfilled = g.unfilled
        rows.append(
            (
                g.direction,
                g.anchor_at,
                g.created_at,
                g.bottom,
                g.top,
                g.size,
                g.size_pct,
                g.size_atr,
                g.fill_pct,
                g.status,
                g.first_touched_at,
                g.filled_at,
                g.deepest,
                unfilled[0] if unfilled else None,
                unfilled[1] if unfilled else None,
            )
        )
    return pl.DataFrame(rows, schema=fvg_schema(price), orient="row")


def fvgs(
    candles: pl.DataFrame,
    as_of: datetime | None = None,
    *,
    min_ticks: int = _DEFAULT.min_ticks,
    tick_size: Decimal | None = _DEFAULT.tick_size,
    min_pct: float = _DEFAULT.min_pct,
    min_atr: float = _DEFAULT.min_atr,
    atr_period: int = _DEFAULT.atr_period,
) -> pl.DataFrame:
    """Every FVG formed by the closed candles with ``open_time <= as_of``, and its fill state
    as of that candle (definitions: module docstring).

    Args:
        candles: the continuous closed candle frame; rows with ``closed = False`` are ignored.
            Each continuity segment is searched on its own: no gap spans a data gap, and a
            gap's fill state is as of the last candle of its segment.
        as_of: last candle open time to use (UTC); default the last closed candle. Nothing in
            the result depends on later candles.
        min_ticks, tick_size, min_pct, min_atr, atr_period: size filters (see module).

    Returns:
        One row per gap, in creation order: ``direction`` ("bullish"/"bearish"), ``anchor_at``
        (middle candle), ``created_at`` (third candle), ``bottom``, ``top``, ``size`` (Decimal,
        quote units, the candles' dtype), ``size_pct`` (% of c3 close), ``size_atr`` (size /
        ATR, null before ATR exists), ``fill_pct`` (0..100), ``status``
        ("open"/"partial"/"filled"), ``first_touched_at``, ``filled_at`` (Datetime, null if not
        yet), ``deepest`` (furthest price traded into the gap; see :class:`Fvg`),
        ``unfilled_bottom``/``unfilled_top`` (part not yet traded through; null once filled).

    Raises:
        CandleFrameError: the frame breaks the closed-candle contract.
        ValueError: invalid filter parameters.
    """
    params = FvgParams(min_ticks, tick_size, min_pct, min_atr, atr_period)
    frame = closed_candles(candles, as_of)
    found = [g for part in segments(frame) for g in run_tracker(part, params).gaps()]
    return fvgs_frame(found, price_dtype(frame))


def run_tracker(frame: pl.DataFrame, params: FvgParams | None = None) -> FvgTracker:
    """An :class:`FvgTracker` fed every candle of a validated closed-candle frame."""
    tracker = FvgTracker(params)
    atr = atr_series(frame, tracker.params.atr_period).to_list()
    for candle, a in zip(iter_candles(frame), atr, strict=True):
        tracker.update(candle, a)
    return tracker
