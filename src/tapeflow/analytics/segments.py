"""Where a continuous candle series breaks: data gaps are gaps, not flat candles.

A continuous series (:func:`tapeflow.analytics.candles.fill_candles`) fills an interval
without trades flat at the previous close, as Binance klines do for a quiet minute — but only
*inside a segment*. Between two consecutive traded candles ``A`` and ``B`` of a timeframe
``tf`` the series **breaks** (nothing is filled between them; ``B`` starts a new segment) when

1. **trade ids are missing** between them: some id in ``(A.last_trade_id,
   B.first_trade_id)`` is not stored (``ids_missing_between`` in
   ``sql/analytics/001_gaps.sql``, the same fact as the ``gaps`` view: ids are contiguous per
   symbol, so a missing id is a hole in the tape, whatever its length in time); or
2. **the symbol stopped trading for longer than it normally does**: more than
   ``max_empty(tf) = max_quiet // tf`` consecutive intervals without trades lie between
   them. ``max_quiet`` is the longest quiet stretch still taken as normal trading
   (configuration ``candles.max_quiet_minutes`` per symbol, default
   :data:`~tapeflow.config.symbols.DEFAULT_MAX_QUIET_MINUTES` = 60 minutes: 60 empty 1m
   candles, 12 of 5m, 4 of 15m, 1 of 1h, 0 of 4h). The default is 7.5 times the longest
   quiet run in the thinnest recording we hold (Binance spot XRPETH, October 2019: 8 empty
   minutes; the BTCUSDT and ETHUSDT captures have none), and well below an exchange halt or
   an outage.

A break is therefore never bridged: indicators, FVGs, zones and swings restart at a segment's
first candle (:func:`tapeflow.analytics.closed_candles.segments`), charts show only the
intervals that have data around them, and the strategy re-warms.

Gaps *inside* one candle (a few ids missing within a minute) do not split anything: the
candle is the trades that are stored.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from tapeflow.analytics.query import Query
from tapeflow.config.symbols import DEFAULT_MAX_QUIET_MINUTES
from tapeflow.model.timeframes import WIDTH_US, timeframe_delta

#: The default longest quiet stretch (minutes) that a continuous series still fills.
DEFAULT_MAX_QUIET = timedelta(minutes=DEFAULT_MAX_QUIET_MINUTES)

#: Pairs of candles checked for missing ids per query (one scalar subquery each).
_PAIRS_PER_QUERY = 64


def check_max_quiet(value: timedelta) -> timedelta:
    """Return ``value`` if it is a positive :class:`~datetime.timedelta`.

    Raises:
        ValueError: naming the value.
    """
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValueError(f"max_quiet must be a positive timedelta, got {value!r}")
    return value


def max_empty(tf: str, max_quiet: timedelta = DEFAULT_MAX_QUIET) -> int:
    """The most consecutive empty ``tf`` intervals a continuous series fills:
    ``max_quiet // tf`` (whole candles)."""
    return check_max_quiet(max_quiet) // timeframe_delta(tf)


def missing_ids_query(pairs: list[tuple[int, int]]) -> Query:
    """One row, column ``m{i}`` = ids missing strictly between ``pairs[i] = (lo, hi)``."""
    cols = ", ".join(f"ids_missing_between(?, ?) AS m{i}" for i in range(len(pairs)))
    return Query(f"SELECT {cols}", tuple(v for pair in pairs for v in pair))


def break_flags(
    run, traded: pl.DataFrame, tf: str, max_quiet: timedelta = DEFAULT_MAX_QUIET
) -> list[bool]:
    """For each row of ``traded`` (traded candles of ``tf`` sorted by ``open_time``, with
    ``first_trade_id`` / ``last_trade_id``; null ids = a row whose ids are not checked),
    whether the series breaks *before* it (module docstring). Row 0 is False.

    ``run`` executes a :class:`~tapeflow.analytics.query.Query` on the symbol's database;
    it is called only for pairs whose ids are not consecutive and whose quiet stretch does
    not already break (usually never).
    """
    n = traded.height
    if n < 2:
        return [False] * n
    limit = max_empty(tf, max_quiet)
    facts = traded.select(
        empty=(pl.col("open_time").diff().dt.total_microseconds() // WIDTH_US[tf] - 1),
        lo=pl.col("last_trade_id").shift(1),
        hi=pl.col("first_trade_id"),
    )
    quiet = [bool(e is not None and e > limit) for e in facts["empty"].to_list()]
    los, his = facts["lo"].to_list(), facts["hi"].to_list()
    check = [
        i
        for i in range(1, n)
        if not quiet[i] and los[i] is not None and his[i] is not None and his[i] > los[i] + 1
    ]
    flags = quiet
    for start in range(0, len(check), _PAIRS_PER_QUERY):
        chunk = check[start : start + _PAIRS_PER_QUERY]
        row = run(missing_ids_query([(los[i], his[i]) for i in chunk])).row(0)
        for i, missing in zip(chunk, row, strict=True):
            flags[i] = missing > 0
    flags[0] = False
    return flags
