"""The small, plain inputs the strategy levels decide on.

The engine (:mod:`tapeflow.strategy.engine`) fills these from the analytics views,
materialized tables and incremental feature trackers; tests build them by hand. Prices are
exact :class:`~decimal.Decimal` (quote currency); indicator values are floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

Direction = Literal["long", "short"]


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """Indicators of the last closed candle of the longest timeframe
    (:mod:`tapeflow.analytics.indicators`). ``None`` = not yet defined (warming up).

    Attributes:
        open_time: open time of that candle (UTC).
        close: its close (quote).
        ema_fast / ema_mid / ema_slow: EMA(20/50/200 by default) of closes (quote).
        atr: ATR, Wilder (quote). atr_pct: ATR / close × 100 (percent).
        adx: ADX, Wilder 1978 (0–100). hurst: Hurst exponent, AL-corrected R/S (≈0–1).
        mean_reversion: mean-reversion strength (0–1). autocorrelation: lag-1 autocorrelation
            of log returns (−1–1).
        mean_reversion_ema / mean_reversion_sigma: the mean (EMA of closes) and the
            population σ of ``close − mean`` the mean-reversion distance is measured in
            (quote); see :mod:`tapeflow.analytics.indicators`.
    """

    open_time: datetime | None
    close: float | None
    ema_fast: float | None
    ema_mid: float | None
    ema_slow: float | None
    atr: float | None
    atr_pct: float | None
    adx: float | None
    hurst: float | None
    mean_reversion: float | None
    autocorrelation: float | None
    mean_reversion_ema: float | None = None
    mean_reversion_sigma: float | None = None


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """Market profile of the longest timeframe's recent history (CBOT method).

    Attributes:
        poc / vah / val: point of control, value area high / low: the *lower edge* of their
            price bucket (quote).
        bucket_size: price bucket height (quote); a level's band is ``[L, L + bucket_size]``.
        start / end: time range profiled (UTC, end exclusive).
    """

    poc: Decimal
    vah: Decimal
    val: Decimal
    bucket_size: Decimal
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Zone:
    """A price band the strategy may trade from.

    Attributes:
        kind: ``demand`` / ``supply`` (supply/demand zones of :mod:`tapeflow.analytics.zones`)
            or ``poc`` / ``val`` / ``vah`` (market-profile levels).
        low / high: band edges (quote, exact).
        strength: 0–100.
        status: ``fresh`` / ``tested`` / ``broken`` for supply/demand zones; ``level`` for
            profile levels.
        first_seen: when the zone became known (UTC), if it is a supply/demand zone.
        touches: visits (tests) of a supply/demand zone since it formed (0 = fresh).
    """

    kind: Literal["demand", "supply", "poc", "val", "vah"]
    low: Decimal
    high: Decimal
    strength: float
    status: str = "fresh"
    first_seen: datetime | None = None
    touches: int = 0


@dataclass(frozen=True, slots=True)
class Gap:
    """A fair value gap (:mod:`tapeflow.analytics.fvg`): ``bullish``/``bearish``, its price
    band (quote) and fill status ``open`` / ``partial`` / ``filled``."""

    direction: Literal["bullish", "bearish"]
    low: Decimal
    high: Decimal
    status: str


@dataclass(frozen=True, slots=True)
class Flow:
    """Buy/sell volume imbalance (taker-buy volume / taker-sell volume) over the trailing
    fastest / middle / longest timeframe windows ending at the evaluated candle's close.
    ``None`` when a window holds no sell volume and no buy volume (undefined)."""

    fast: float | None
    middle: float | None
    longest: float | None


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle of the fastest timeframe (prices quote, volume base)."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
