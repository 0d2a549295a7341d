"""Candle timeframes and profile periods: the one table of names and widths, and the one
epoch-aligned floor / ceiling.

Buckets are aligned to the Unix epoch in UTC (a 4h candle opens at 00:00, 04:00, ... UTC, as
Binance's klines are). SQL has the same widths in the ``timeframe_us`` macro
(``sql/analytics/101_candles.sql``, with ``floor_us`` / ``ceil_us``) so that views can be
queried from a bare DuckDB connection; a test checks that macro against :data:`WIDTH_US`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from tapeflow.model.errors import TapeflowError

#: A candle timeframe name (what the strategy and the candle cache accept).
Timeframe = Literal["1m", "5m", "15m", "1h", "4h"]

#: Candle timeframes, shortest first. The candle cache (``candles_<tf>`` tables) holds each.
TIMEFRAMES: tuple[str, ...] = get_args(Timeframe)

#: Profile / session periods: the candle timeframes plus the UTC day session ``"1d"``.
PERIODS: tuple[str, ...] = (*TIMEFRAMES, "1d")

#: Width of each period in microseconds; every one divides a UTC day.
WIDTH_US: dict[str, int] = {
    "1m": 60_000_000,
    "5m": 300_000_000,
    "15m": 900_000_000,
    "1h": 3_600_000_000,
    "4h": 14_400_000_000,
    "1d": 86_400_000_000,
}

_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)
_US = timedelta(microseconds=1)


class UnknownTimeframeError(TapeflowError, ValueError):
    """A timeframe or period name that is not supported."""


def check_timeframe(tf: object, allowed: tuple[str, ...] = TIMEFRAMES) -> str:
    """Return ``tf`` if it is one of ``allowed`` (default: the candle timeframes).

    Raises:
        UnknownTimeframeError: naming the value and the allowed ones.
    """
    if not isinstance(tf, str) or tf not in allowed:
        raise UnknownTimeframeError(
            f"unknown timeframe {tf!r}; expected one of {', '.join(allowed)}"
        )
    return tf


def timeframe_delta(tf: str) -> timedelta:
    """Length of one ``tf`` bucket (``"1m"`` ... ``"4h"``, or ``"1d"``).

    Raises:
        UnknownTimeframeError: for an unknown name.
    """
    return timedelta(microseconds=WIDTH_US[check_timeframe(tf, PERIODS)])


def _width_us(width: str | timedelta) -> int:
    if isinstance(width, timedelta):
        return width // _US
    return WIDTH_US[check_timeframe(width, PERIODS)]


def floor_time(t: datetime, width: str | timedelta) -> datetime:
    """Start of the epoch-aligned bucket of ``width`` holding ``t``.

    ``width`` is a period name (``"1m"`` ... ``"1d"``) or a positive ``timedelta``. A naive
    ``t`` is taken as UTC and the result is naive; an aware ``t`` is converted to UTC and the
    result is aware (UTC).

    Raises:
        UnknownTimeframeError: ``width`` is an unknown name.
    """
    w = _width_us(width)
    base = _EPOCH if t.tzinfo is None else _EPOCH_UTC
    return base + ((t - base) // _US // w * w) * _US


def ceil_time(t: datetime, width: str | timedelta) -> datetime:
    """The first epoch-aligned bucket start of ``width`` at or after ``t`` (same rules as
    :func:`floor_time`).

    Raises:
        UnknownTimeframeError: ``width`` is an unknown name.
    """
    w = _width_us(width)
    base = _EPOCH if t.tzinfo is None else _EPOCH_UTC
    return base + (-(-((t - base) // _US) // w) * w) * _US
