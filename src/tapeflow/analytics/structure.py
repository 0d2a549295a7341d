"""Swing structure on closed candles: swing highs/lows, breaks of structure, order blocks.

Definitions (Bill Williams' fractal for swings; ICT / "smart money concepts" for BOS, CHoCH and
order blocks, as commonly charted):

* **Swing high** (fractal of ``n`` bars each side) at candle ``k`` when
  ``high[k] > max(high[k-n .. k-1])`` and ``high[k] >= max(high[k+1 .. k+n])`` (strict on the
  left, so a flat double top marks its first bar). **Swing low** mirrored with lows.
  A swing is only *known* ``n`` candles later: ``confirmed_at`` is candle ``k + n``'s open time.
  This delay is what keeps it causal — nothing uses a swing before it is confirmed.
* **Break of structure**: the latest confirmed swing high (low) is the reference; the first
  later candle that *closes* above (below) it breaks structure upward (downward) and consumes
  the reference. The break is a ``"choch"`` (change of character) when it is against the
  direction of the previous break, else ``"bos"`` (the very first break is ``"bos"``).
* **Order block**: at an upward break at candle ``t``, the displacement leg starts at the
  candle with the lowest low among the last ``ob_lookback`` candles after the broken swing
  (ties: latest); the bullish order block is the last bearish candle (``close < open``) at or
  before that leg start within the same ``ob_lookback`` candles. Mirror image for downward
  breaks (highest high, last bullish candle). No such candle → no order block.
  The block spans the candle's full range ``[low, high]``.
* **Mitigation**: after its break candle, a bullish block is *mitigated* when a candle trades
  into it (``low <= price_high``) and *broken* when a candle closes below ``price_low``
  (bearish: ``high >= price_low`` / close above ``price_high``). Status: ``fresh``,
  ``mitigated``, ``broken`` (final, no longer tracked). ``mitigations`` counts visits
  (consecutive touching candles count once).

:class:`StructureTracker` does all of it one candle at a time; :func:`swings`,
:func:`structure_breaks` and :func:`order_blocks` run it over a frame. The definition is SQL:
``sql/analytics/160_structure.sql`` (table macros ``swings``, ``structure_breaks``,
``order_blocks``); the tracker is the fast incremental evaluation the live strategy needs,
proven equal to the SQL on every real recording (``tests/analytics/test_structure_sql.py``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

import polars as pl

from tapeflow.analytics.closed_candles import (
    DEFAULT_PRICE_DTYPE,
    closed_candles,
    iter_candles,
    price_dtype,
    records_frame,
    segments,
)
from tapeflow.analytics.price_ladder import PriceLadder
from tapeflow.config.strategy import DetectionSettings
from tapeflow.model.candles import Candle

SwingKind = Literal["high", "low"]
BreakDirection = Literal["up", "down"]
ObStatus = Literal["fresh", "mitigated", "broken"]

_DETECTION = DetectionSettings()  # the defaults: ``strategy.detection`` of the configuration


@dataclass(frozen=True, slots=True)
class StructureParams:
    """``swing_bars``: fractal half-width n; ``ob_lookback``: candles searched for the block.

    The defaults are ``swing_bars`` / ``order_block_lookback`` of
    :class:`tapeflow.config.strategy.DetectionSettings` (:meth:`from_settings` maps a
    configured section onto these names).
    """

    swing_bars: int = _DETECTION.swing_bars
    ob_lookback: int = _DETECTION.order_block_lookback

    @classmethod
    def from_settings(cls, d: DetectionSettings) -> StructureParams:
        """The parameters of the ``strategy.detection`` configuration section."""
        return cls(swing_bars=d.swing_bars, ob_lookback=d.order_block_lookback)

    def __post_init__(self) -> None:
        if self.swing_bars < 1 or self.ob_lookback < 1:
            raise ValueError("swing_bars and ob_lookback must be >= 1")


#: The default parameters (the configuration's defaults).
_DEFAULT = StructureParams()


@dataclass(frozen=True, slots=True)
class Swing:
    """A confirmed swing point. ``at``: its candle; ``confirmed_at``: n candles later."""

    kind: SwingKind
    price: Decimal
    at: datetime
    confirmed_at: datetime


@dataclass(frozen=True, slots=True)
class StructureBreak:
    """Close beyond the reference swing. ``kind``: "bos" or "choch"."""

    direction: BreakDirection
    kind: Literal["bos", "choch"]
    level: Decimal
    swing_at: datetime
    broken_at: datetime


@dataclass(frozen=True, slots=True)
class OrderBlock:
    """An order block as of some candle (immutable snapshot). Prices exact (quote units)."""

    direction: Literal["bullish", "bearish"]
    price_low: Decimal
    price_high: Decimal
    candle_at: datetime
    bos_at: datetime
    bos_level: Decimal
    status: ObStatus
    mitigations: int
    first_mitigated_at: datetime | None
    broken_at: datetime | None


@dataclass(frozen=True, slots=True)
class StructureChange:
    """``swing``, ``break``, ``order_block`` (created), ``mitigated`` or ``ob_broken``."""

    kind: Literal["swing", "break", "order_block", "mitigated", "ob_broken"]
    item: Swing | StructureBreak | OrderBlock


@dataclass(slots=True)
class _LiveBlock:
    block: OrderBlock
    touching: bool = False


class StructureTracker:
    """Swings, breaks of structure and order blocks, one closed candle at a time.

    ``update(candle)`` applies, in order: mitigation/break of live order blocks, a structure
    break by this candle's close (with its order block), then confirmation of the swing
    ``swing_bars`` candles back. Returns the changes in that order.

    Raises:
        ValueError: a candle is not after the previous one.
    """

    def __init__(self, params: StructureParams | None = None) -> None:
        self.params = params or StructureParams()
        n = self.params.swing_bars
        self._recent: deque[Candle] = deque(maxlen=max(2 * n + 1, self.params.ob_lookback))
        self._since_ref: dict[SwingKind, int] = {}  # candles since each reference swing
        self._ref: dict[SwingKind, Swing | None] = {"high": None, "low": None}
        self._last_break: BreakDirection | None = None
        self.swings: list[Swing] = []
        self.breaks: list[StructureBreak] = []
        self._blocks: list[_LiveBlock] = []
        self._touching: list[_LiveBlock] = []
        self._bullish: PriceLadder[_LiveBlock] = PriceLadder()  # keyed by price_high
        self._bearish: PriceLadder[_LiveBlock] = PriceLadder()  # keyed by price_low

    def order_blocks(self) -> list[OrderBlock]:
        """Every order block so far (any status), in creation order."""
        return [b.block for b in self._blocks]

    def update(self, candle: Candle) -> list[StructureChange]:
        """Advance by one closed candle; return the changes (see class docstring)."""
        if self._recent and candle.open_time <= self._recent[-1].open_time:
            raise ValueError(
                f"candle at {candle.open_time} is not after {self._recent[-1].open_time}"
            )
        changes = self._mitigate(candle)
        self._recent.append(candle)
        for kind in self._since_ref:
            self._since_ref[kind] += 1
        changes += self._break(candle)
        changes += self._confirm_swing()
        return changes

    def _mitigate(self, c: Candle) -> list[StructureChange]:
        changes: list[StructureChange] = []
        reached = [(self._bullish, b) for b in self._bullish.at_or_above(c.low)]
        reached += [(self._bearish, b) for b in self._bearish.at_or_below(c.high)]
        touching = []
        for ladder, live in reached:
            b = live.block
            if (c.close < b.price_low) if b.direction == "bullish" else (c.close > b.price_high):
                live.block = replace(b, status="broken", broken_at=c.open_time)
                ladder.remove(live)
                changes.append(StructureChange("ob_broken", live.block))
                continue
            touching.append(live)
            if not live.touching:
                live.block = replace(
                    b,
                    status="mitigated",
                    mitigations=b.mitigations + 1,
                    first_mitigated_at=b.first_mitigated_at or c.open_time,
                )
                changes.append(StructureChange("mitigated", live.block))
        for live in self._touching:
            live.touching = False
        for live in touching:
            live.touching = True
        self._touching = touching
        return changes

    def _break(self, c: Candle) -> list[StructureChange]:
        for kind, direction in (("high", "up"), ("low", "down")):
            ref = self._ref[kind]
            if ref is None:
                continue
            if (c.close > ref.price) if kind == "high" else (c.close < ref.price):
                since = self._since_ref.pop(kind)
                self._ref[kind] = None
                brk = StructureBreak(
                    direction,
                    "choch" if self._last_break not in (None, direction) else "bos",
                    ref.price,
                    ref.at,
                    c.open_time,
                )
                self._last_break = direction
                self.breaks.append(brk)
                changes = [StructureChange("break", brk)]
                block = self._order_block(brk, since)
                if block is not None:
                    changes.append(StructureChange("order_block", block))
                return changes  # one close cannot break both sides
        return []

    def _order_block(self, brk: StructureBreak, since_swing: int) -> OrderBlock | None:
        window = list(self._recent)[-min(since_swing, self.params.ob_lookback) :]
        up = brk.direction == "up"
        extreme = (min if up else max)(c.low if up else c.high for c in window)
        start = max(i for i, c in enumerate(window) if (c.low if up else c.high) == extreme)
        for c in reversed(window[: start + 1]):
            if c.bearish if up else c.bullish:
                block = OrderBlock(
                    "bullish" if up else "bearish",
                    c.low,
                    c.high,
                    c.open_time,
                    brk.broken_at,
                    brk.level,
                    "fresh",
                    0,
                    None,
                    None,
                )
                live = _LiveBlock(block)
                self._blocks.append(live)
                if up:
                    self._bullish.add(block.price_high, live)
                else:
                    self._bearish.add(block.price_low, live)
                return block
        return None

    def _confirm_swing(self) -> list[StructureChange]:
        n = self.params.swing_bars
        if len(self._recent) < 2 * n + 1:
            return []
        bars = list(self._recent)[-(2 * n + 1) :]
        mid, left, right = bars[n], bars[:n], bars[n + 1 :]
        now = bars[-1].open_time
        found = []
        if mid.high > max(c.high for c in left) and mid.high >= max(c.high for c in right):
            found.append(Swing("high", mid.high, mid.open_time, now))
        if mid.low < min(c.low for c in left) and mid.low <= min(c.low for c in right):
            found.append(Swing("low", mid.low, mid.open_time, now))
        for swing in found:
            self.swings.append(swing)
            self._ref[swing.kind] = swing
            self._since_ref[swing.kind] = n  # candles after the swing candle, up to now
        return [StructureChange("swing", s) for s in found]


def run_tracker(frame: pl.DataFrame, params: StructureParams | None = None) -> StructureTracker:
    """A :class:`StructureTracker` fed every candle of a validated closed-candle frame."""
    tracker = StructureTracker(params)
    for candle in iter_candles(frame):
        tracker.update(candle)
    return tracker


_TS = pl.Datetime("us", "UTC")


def swings(
    candles: pl.DataFrame, as_of: datetime | None = None, *, swing_bars: int = _DEFAULT.swing_bars
) -> pl.DataFrame:
    """Confirmed swing points of the closed candles with ``open_time <= as_of``.

    Returns:
        Columns ``kind`` ("high"/"low"), ``price`` (Decimal, candles' dtype), ``at`` (swing
        candle open time), ``confirmed_at`` (open time of the candle ``swing_bars`` later), in
        confirmation order.
    """
    frame = closed_candles(candles, as_of)
    params = StructureParams(swing_bars=swing_bars)
    found = [s for part in segments(frame) for s in run_tracker(part, params).swings]
    schema = {"kind": pl.String, "price": price_dtype(frame), "at": _TS, "confirmed_at": _TS}
    return records_frame(found, schema)


def structure_breaks(
    candles: pl.DataFrame, as_of: datetime | None = None, *, swing_bars: int = _DEFAULT.swing_bars
) -> pl.DataFrame:
    """Breaks of structure of the closed candles with ``open_time <= as_of``.

    Returns:
        Columns ``direction`` ("up"/"down"), ``kind`` ("bos"/"choch"), ``level`` (Decimal,
        the broken swing price), ``swing_at`` and ``broken_at`` (Datetime), in time order.
    """
    frame = closed_candles(candles, as_of)
    params = StructureParams(swing_bars=swing_bars)
    found = [b for part in segments(frame) for b in run_tracker(part, params).breaks]
    schema = {
        "direction": pl.String,
        "kind": pl.String,
        "level": price_dtype(frame),
        "swing_at": _TS,
        "broken_at": _TS,
    }
    return records_frame(found, schema)


def order_block_schema(price: pl.DataType = DEFAULT_PRICE_DTYPE) -> dict[str, pl.DataType]:
    """Columns of :func:`order_blocks`."""
    return {
        "direction": pl.String,
        "price_low": price,
        "price_high": price,
        "candle_at": _TS,
        "bos_at": _TS,
        "bos_level": price,
        "status": pl.String,
        "mitigations": pl.Int64,
        "first_mitigated_at": _TS,
        "broken_at": _TS,
    }


def order_blocks_frame(
    blocks: list[OrderBlock], price: pl.DataType = DEFAULT_PRICE_DTYPE
) -> pl.DataFrame:
    """Order blocks as a DataFrame with :func:`order_block_schema` columns."""
    return records_frame(blocks, order_block_schema(price))


def order_blocks(
    candles: pl.DataFrame,
    as_of: datetime | None = None,
    *,
    swing_bars: int = _DEFAULT.swing_bars,
    ob_lookback: int = _DEFAULT.ob_lookback,
) -> pl.DataFrame:
    """Order blocks of the closed candles with ``open_time <= as_of``, with their state then.

    Returns:
        One row per block in creation order: ``direction`` ("bullish"/"bearish"),
        ``price_low``, ``price_high`` (Decimal, the block candle's range), ``candle_at`` (block
        candle), ``bos_at`` (the breaking candle), ``bos_level`` (broken swing price),
        ``status`` ("fresh"/"mitigated"/"broken"), ``mitigations`` (Int64 visits),
        ``first_mitigated_at``, ``broken_at`` (Datetime, null if not yet).

    Raises:
        CandleFrameError: the frame breaks the closed-candle contract.
    """
    frame = closed_candles(candles, as_of)
    params = StructureParams(swing_bars, ob_lookback)
    found = [b for part in segments(frame) for b in run_tracker(part, params).order_blocks()]
    return order_blocks_frame(found, price_dtype(frame))
