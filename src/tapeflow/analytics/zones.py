"""Supply and demand zones on closed candles, detected and tracked incrementally.

The definition is SQL: the table macro ``zones`` in ``sql/analytics/152_zones.sql`` (seed 001
§4.1 ``supply_demand_zones``, §5.3), over the closed continuous candles and Wilder ATR of
``150_continuous_candles.sql``. :class:`ZoneTracker` is an incremental evaluation of that
definition for the live strategy (one candle at a time); ``tests/analytics/test_zones_sql.py``
proves the two equal, row for row, on every recording. The rules, restated:

Two ways a zone is born (``created_from``), following the supply/demand framework popularised by
Sam Seiden (Online Trading Academy): price *left* an area so fast that unfilled orders remain.

**consolidation** — leg-in, base, departure:

* a *base candle* has ``body <= base_body_ratio * range`` (``body = |close - open|``);
* the *base* is the run of 1..``max_base`` consecutive base candles right before the departure
  (a longer consolidation forms no zone); the *leg-in* is the candle before the base and must
  not be a base candle; its direction (close vs open) is the first letter of the pattern;
* the *departure* candle is not a base candle, has ``range >= departure_atr * ATR`` where ATR
  is ATR(``atr_period``) (Wilder) at the *previous* candle's close — the volatility before the
  move — and closes beyond the base: above the base's highest high (rally → **demand**:
  drop-base-rally ``DBR`` or rally-base-rally ``RBR``) or below its lowest low (drop →
  **supply**: rally-base-drop ``RBD`` or drop-base-drop ``DBD``).
* demand zone = ``[lowest low of the base, highest body top (max(open, close)) of the base]``;
  supply zone = ``[lowest body bottom (min(open, close)) of the base, highest high of the base]``
  (the usual proximal line at the bodies, distal line at the wicks).

**rejection** — one candle with ``range >= rejection_atr * ATR`` (previous candle's ATR) whose
lower wick ``min(open, close) - low >= rejection_wick_ratio * range`` → demand
``[low, min(open, close)]``; upper wick ``high - max(open, close)`` likewise → supply
``[max(open, close), high]`` (pattern ``"rejection"``).

A zone is known at the close of its departure (or rejection) candle: ``first_seen`` is that
candle's open time; only later candles test or break it:

* **broken** when a candle *closes* beyond the distal line (demand: ``close < price_low``;
  supply: ``close > price_high``) — final, no longer tracked;
* otherwise **tested** when a candle trades into the zone (demand: ``low <= price_high``;
  supply: ``high >= price_low``). Consecutive touching candles are one test (a visit);
  ``last_tested`` is the open time of the latest touching candle.
* status: ``fresh`` (no test yet), ``tested``, ``broken``.

**strength** (0..100) = departure (0..50) + time at base (0..25) + freshness (0..25):
``50 * min(departure_ratio / 3, 1)`` with ``departure_ratio`` = departure candle range (or the
rejection wick) / ATR — three ATRs or more scores full; ``25 * (max_base - base_candles + 1) /
max_base`` — the shorter the base, the stronger (a rejection counts as a 1-candle base);
``25 * 0.5 ** test_count``. A broken zone has strength 0.

Causal by construction: the state after candle ``t`` depends on candles ``<= t`` only.
:func:`zones` is :class:`ZoneTracker` run over a frame — one definition for batch and live use.
"""

from __future__ import annotations

import math
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
from tapeflow.analytics.indicators import atr_series
from tapeflow.analytics.price_ladder import PriceLadder
from tapeflow.config.strategy import DetectionSettings, IndicatorSettings
from tapeflow.model.candles import Candle

ZoneType = Literal["demand", "supply"]
ZoneStatus = Literal["fresh", "tested", "broken"]
CreatedFrom = Literal["consolidation", "rejection"]
ZoneChangeKind = Literal["created", "tested", "broken"]

# The defaults: ``strategy.detection`` and ``strategy.indicators`` of the configuration.
_DETECTION, _INDICATORS = DetectionSettings(), IndicatorSettings()


@dataclass(frozen=True, slots=True)
class ZoneParams:
    """Detection thresholds (see module docstring). ATR multiples are dimensionless.

    The defaults are those of :class:`tapeflow.config.strategy.DetectionSettings` (``zone_*``)
    and the ATR period of :class:`~tapeflow.config.strategy.IndicatorSettings`
    (:meth:`from_settings` maps configured sections onto these names).
    """

    base_body_ratio: float = _DETECTION.zone_base_body_ratio
    max_base: int = _DETECTION.zone_max_base
    departure_atr: float = _DETECTION.zone_departure_atr
    rejection_wick_ratio: float = _DETECTION.zone_rejection_wick_ratio
    rejection_atr: float = _DETECTION.zone_rejection_atr
    atr_period: int = _INDICATORS.atr_period

    @classmethod
    def from_settings(cls, d: DetectionSettings, i: IndicatorSettings) -> ZoneParams:
        """The thresholds of the ``strategy.detection`` / ``strategy.indicators`` sections."""
        return cls(
            base_body_ratio=d.zone_base_body_ratio,
            max_base=d.zone_max_base,
            departure_atr=d.zone_departure_atr,
            rejection_wick_ratio=d.zone_rejection_wick_ratio,
            rejection_atr=d.zone_rejection_atr,
            atr_period=i.atr_period,
        )

    def __post_init__(self) -> None:
        if not 0 < self.base_body_ratio < 1:
            raise ValueError(f"base_body_ratio={self.base_body_ratio} must be in (0, 1)")
        if self.max_base < 1 or self.atr_period < 1:
            raise ValueError("max_base and atr_period must be >= 1")
        if not 0.5 < self.rejection_wick_ratio < 1:
            raise ValueError(
                f"rejection_wick_ratio={self.rejection_wick_ratio} must be in "
                "(0.5, 1) so that only one wick can qualify"
            )
        if self.departure_atr <= 0 or self.rejection_atr <= 0:
            raise ValueError("departure_atr and rejection_atr must be positive")


#: The default thresholds (the configuration's defaults).
_DEFAULT = ZoneParams()


@dataclass(frozen=True, slots=True)
class Zone:
    """A supply or demand zone as of some candle (immutable snapshot).

    ``pattern``: "DBR", "RBR", "RBD", "DBD" or "rejection". Prices exact (quote units); times
    are candle open times (UTC). ``base_start`` is the first base (or the rejection) candle.
    """

    type: ZoneType
    pattern: str
    created_from: CreatedFrom
    price_low: Decimal
    price_high: Decimal
    base_start: datetime
    first_seen: datetime
    base_candles: int
    departure_ratio: float
    strength: float
    test_count: int
    last_tested: datetime | None
    status: ZoneStatus
    broken_at: datetime | None


@dataclass(frozen=True, slots=True)
class ZoneChange:
    """What one candle did to one zone."""

    kind: ZoneChangeKind
    zone: Zone


@dataclass(slots=True)
class _Live:
    zone: Zone
    touching: bool = False  # the previous candle touched (a visit in progress)


def strength(params: ZoneParams, departure_ratio: float, base_candles: int, tests: int) -> float:
    """Zone strength 0..100 for an unbroken zone (rule in the module docstring)."""
    departure = 50.0 * min(departure_ratio / 3.0, 1.0)
    base = 25.0 * (params.max_base - base_candles + 1) / params.max_base
    fresh = 25.0 * 0.5**tests
    return departure + base + fresh


class ZoneTracker:
    """Detects and tracks supply/demand zones one closed candle at a time.

    ``update(candle, atr)`` first applies the candle to the live zones (break, then test),
    then checks whether the candle completes a new zone (which it cannot test itself).
    ``atr`` is ATR(``atr_period``) at this candle's close; the tracker keeps it for the next
    candle's departure/rejection threshold. Returns the changes in that order.

    Raises:
        ValueError: a candle is not after the previous one.
    """

    def __init__(self, params: ZoneParams | None = None) -> None:
        self.params = params or ZoneParams()
        self._recent: deque[Candle] = deque(maxlen=self.params.max_base + 2)
        self._prev_atr: float | None = None
        self._all: list[_Live] = []
        self._touching: list[_Live] = []
        # Live demand zones keyed by price_high (reached from above); supply by price_low.
        self._demand: PriceLadder[_Live] = PriceLadder()
        self._supply: PriceLadder[_Live] = PriceLadder()

    def update(self, candle: Candle, atr: float | None = None) -> list[ZoneChange]:
        """Advance by one closed candle; return the changes (see class docstring)."""
        if self._recent and candle.open_time <= self._recent[-1].open_time:
            raise ValueError(
                f"candle at {candle.open_time} is not after {self._recent[-1].open_time}"
            )
        changes = self._track(candle)
        self._recent.append(candle)
        atr_before, self._prev_atr = self._prev_atr, atr
        if atr_before is not None and not math.isnan(atr_before) and atr_before > 0:
            for zone in (self._consolidation(atr_before), self._rejection(candle, atr_before)):
                if zone is not None:
                    changes.append(ZoneChange("created", self._add(zone)))
        return changes

    def zones(self) -> list[Zone]:
        """Every zone seen so far (any status), in creation order."""
        return [live.zone for live in self._all]

    def live(self) -> list[Zone]:
        """Zones not broken, in creation order."""
        return [live.zone for live in self._all if live.zone.status != "broken"]

    def _add(self, zone: Zone) -> Zone:
        live = _Live(zone)
        self._all.append(live)
        if zone.type == "demand":
            self._demand.add(zone.price_high, live)
        else:
            self._supply.add(zone.price_low, live)
        return zone

    def _track(self, candle: Candle) -> list[ZoneChange]:
        changes: list[ZoneChange] = []
        reached = [(self._demand, z) for z in self._demand.at_or_above(candle.low)]
        reached += [(self._supply, z) for z in self._supply.at_or_below(candle.high)]
        touching_now = []
        for ladder, live in reached:
            z = live.zone
            broken = (
                candle.close < z.price_low if z.type == "demand" else (candle.close > z.price_high)
            )
            if broken:
                live.zone = replace(z, status="broken", strength=0.0, broken_at=candle.open_time)
                ladder.remove(live)
                changes.append(ZoneChange("broken", live.zone))
                continue
            touching_now.append(live)
            tests = z.test_count + (0 if live.touching else 1)
            live.zone = replace(
                z,
                test_count=tests,
                last_tested=candle.open_time,
                status="tested",
                strength=strength(self.params, z.departure_ratio, z.base_candles, tests),
            )
            if not live.touching:
                changes.append(ZoneChange("tested", live.zone))
        for live in self._touching:
            live.touching = False
        for live in touching_now:
            live.touching = True
        self._touching = touching_now
        return changes

    def _consolidation(self, atr: float) -> Zone | None:
        p = self.params
        candles = list(self._recent)
        departure = candles[-1]
        if self._is_base(departure) or float(departure.range) < p.departure_atr * atr:
            return None
        base: list[Candle] = []
        for c in reversed(candles[:-1]):
            if not self._is_base(c):
                break
            base.append(c)
        n = len(base)
        if not 1 <= n <= p.max_base or n + 1 >= len(candles):
            return None  # no base, too long a base, or no leg-in candle seen
        base.reverse()
        leg_in = candles[-n - 2]
        if leg_in.close == leg_in.open:
            return None
        base_high = max(c.high for c in base)
        base_low = min(c.low for c in base)
        first = "R" if leg_in.bullish else "D"
        if departure.bullish and departure.close > base_high:
            ztype: ZoneType = "demand"
            low, high = base_low, max(max(c.open, c.close) for c in base)
            pattern = f"{first}BR"
        elif departure.bearish and departure.close < base_low:
            ztype = "supply"
            low, high = min(min(c.open, c.close) for c in base), base_high
            pattern = f"{first}BD"
        else:
            return None
        ratio = float(departure.range) / atr
        return Zone(
            ztype,
            pattern,
            "consolidation",
            low,
            high,
            base[0].open_time,
            departure.open_time,
            n,
            ratio,
            strength(p, ratio, n, 0),
            0,
            None,
            "fresh",
            None,
        )

    def _rejection(self, c: Candle, atr: float) -> Zone | None:
        p = self.params
        rng = c.range
        if rng <= 0 or float(rng) < p.rejection_atr * atr:
            return None
        lower = min(c.open, c.close) - c.low
        upper = c.high - max(c.open, c.close)
        threshold = Decimal(repr(p.rejection_wick_ratio)) * rng
        if lower >= threshold:
            ztype: ZoneType = "demand"
            low, high, wick = c.low, min(c.open, c.close), lower
        elif upper >= threshold:
            ztype, low, high, wick = "supply", max(c.open, c.close), c.high, upper
        else:
            return None
        ratio = float(wick) / atr
        return Zone(
            ztype,
            "rejection",
            "rejection",
            low,
            high,
            c.open_time,
            c.open_time,
            1,
            ratio,
            strength(p, ratio, 1, 0),
            0,
            None,
            "fresh",
            None,
        )

    def _is_base(self, c: Candle) -> bool:
        return float(c.body) <= self.params.base_body_ratio * float(c.range)


def zone_schema(price: pl.DataType = DEFAULT_PRICE_DTYPE) -> dict[str, pl.DataType]:
    """Columns of :func:`zones` (``price`` is the Decimal dtype of the candle prices)."""
    ts = pl.Datetime("us", "UTC")
    return {
        "type": pl.String,
        "pattern": pl.String,
        "created_from": pl.String,
        "price_low": price,
        "price_high": price,
        "base_start": ts,
        "first_seen": ts,
        "base_candles": pl.Int64,
        "departure_ratio": pl.Float64,
        "strength": pl.Float64,
        "test_count": pl.Int64,
        "last_tested": ts,
        "status": pl.String,
        "broken_at": ts,
    }


def zones_frame(items: list[Zone], price: pl.DataType = DEFAULT_PRICE_DTYPE) -> pl.DataFrame:
    """Zones as a DataFrame with :func:`zone_schema` columns."""
    return records_frame(items, zone_schema(price))


def zones(
    candles: pl.DataFrame,
    as_of: datetime | None = None,
    *,
    base_body_ratio: float = _DEFAULT.base_body_ratio,
    max_base: int = _DEFAULT.max_base,
    departure_atr: float = _DEFAULT.departure_atr,
    rejection_wick_ratio: float = _DEFAULT.rejection_wick_ratio,
    rejection_atr: float = _DEFAULT.rejection_atr,
    atr_period: int = _DEFAULT.atr_period,
) -> pl.DataFrame:
    """Every supply/demand zone formed by the closed candles with ``open_time <= as_of``, with
    its test/break state as of that candle (definitions: module docstring).

    Returns:
        One row per zone in creation order: ``type`` ("demand"/"supply"), ``pattern``
        ("DBR"/"RBR"/"RBD"/"DBD"/"rejection"), ``created_from`` ("consolidation"/"rejection"),
        ``price_low``, ``price_high`` (Decimal, the candles' dtype), ``base_start``,
        ``first_seen`` (Datetime), ``base_candles`` (Int64), ``departure_ratio`` (range or wick
        / ATR), ``strength`` (0..100), ``test_count`` (Int64), ``last_tested`` (Datetime, null
        if never), ``status`` ("fresh"/"tested"/"broken"), ``broken_at`` (Datetime, null).

    Raises:
        CandleFrameError: the frame breaks the closed-candle contract.
        ValueError: invalid thresholds.
    """
    params = ZoneParams(
        base_body_ratio, max_base, departure_atr, rejection_wick_ratio, rejection_atr, atr_period
    )
    frame = closed_candles(candles, as_of)
    found = [z for part in segments(frame) for z in run_tracker(part, params).zones()]
    return zones_frame(found, price_dtype(frame))


def run_tracker(frame: pl.DataFrame, params: ZoneParams | None = None) -> ZoneTracker:
    """A :class:`ZoneTracker` fed every candle of a validated closed-candle frame."""
    tracker = ZoneTracker(params)
    atr = atr_series(frame, tracker.params.atr_period).to_list()
    for candle, a in zip(iter_candles(frame), atr, strict=True):
        tracker.update(candle, a)
    return tracker
