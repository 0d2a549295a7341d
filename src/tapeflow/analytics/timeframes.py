"""Candle timeframes and profile periods: names, widths and epoch-aligned bucket arithmetic.

Buckets are aligned to the Unix epoch in UTC (a 4h candle opens at 00:00, 04:00, ... UTC, as
on Binance). The same widths are defined in SQL (``sql/analytics/101_candles.sql``:
``timeframe_us``); a test checks that the two agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tapeflow.analytics.errors import UnknownTimeframeError

#: Candle timeframes, shortest first. The cache (``candles_<tf>`` tables) holds each.
TIMEFRAMES: tuple[str, ...] = ("1m", "5m", "15m", "1h", "4h")

#: Profile / session periods: the candle timeframes plus the UTC day session.
PERIODS: tuple[str, ...] = (*TIMEFRAMES, "1d")

#: Width of each period in microseconds.
WIDTH_US: dict[str, int] = {
    "1m": 60_000_000,
    "5m": 300_000_000,
    "15m": 900_000_000,
    "1h": 3_600_000_000,
    "4h": 14_400_000_000,
    "1d": 86_400_000_000,
}

_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def check_timeframe(tf: object, allowed: tuple[str, ...] = TIMEFRAMES) -> str:
    """Return ``tf`` if it is one of ``allowed``.

    Raises:
        UnknownTimeframeError: naming the value and the allowed ones.
    """
    if not isinstance(tf, str) or tf not in allowed:
        raise UnknownTimeframeError(
            f"unknown timeframe {tf!r}; expected one of {', '.join(allowed)}"
        )
    return tf


def timeframe_delta(tf: str) -> timedelta:
    """Length of one ``tf`` bucket (``"1m"`` ... ``"4h"``, ``"1d"``).

    Raises:
        UnknownTimeframeError: for an unknown name.
    """
    return timedelta(microseconds=WIDTH_US[check_timeframe(tf, PERIODS)])


def floor_time(t: datetime, tf: str) -> datetime:
    """Start of the ``tf`` bucket holding ``t`` (naive UTC, >= 1970)."""
    w = WIDTH_US[tf]
    return _EPOCH + ((t - _EPOCH) // _US // w * w) * _US


def ceil_time(t: datetime, tf: str) -> datetime:
    """The first ``tf`` bucket start at or after ``t`` (naive UTC, >= 1970)."""
    w = WIDTH_US[tf]
    return _EPOCH + (-(-((t - _EPOCH) // _US) // w) * w) * _US
