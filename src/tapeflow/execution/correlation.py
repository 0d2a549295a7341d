"""Correlation exits (seed 001 §8.3 ``CorrelationMonitor``): when a market leader (BTC,
ETH) dumps, exit the open longs of other symbols that move with it.

Every ``check_interval_s`` (60 s) of the engine's clock, for each leader on the engine's
venue: its change over the last ``drop_window_min`` (60) minutes is the last closed 1m
candle's close against the close of the earliest closed 1m candle of that window (the seed
gives the threshold, −1.5 %, but no window). At −1.5 % or lower, every open long in a
non-leader symbol whose Pearson correlation with the leader is ≥ 0.7 is closed. The
correlation is numpy's ``corrcoef`` of the two symbols' 1m log returns over the last
``window_hours`` (24) hours, on the minutes both traded (the closed, continuous candles of
``sql/analytics/101_candles.sql``); with fewer than ``min_points`` (30) returns there is no
correlation and nothing is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import duckdb
import numpy as np
import polars as pl

from tapeflow.analytics.candles import read_candles
from tapeflow.analytics.indicators import log_returns
from tapeflow.analytics.query import Query, utc_frame
from tapeflow.analytics.times import to_utc_naive

HUNDRED = Decimal(100)


def closes_1m(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """Closed continuous 1m candles of the symbol of ``con`` with ``open_time`` in
    ``[start, end)`` (UTC): columns ``open_time`` (Datetime UTC) and ``close`` (Decimal),
    oldest first."""

    def run(q: Query) -> pl.DataFrame:
        return utc_frame(con.sql(q.sql, params=list(q.params)).pl())

    frame = read_candles(
        run, "1m", to_utc_naive(start), to_utc_naive(end), continuous=True, closed_only=True
    )
    return frame.select("open_time", "close")


def change_pct(closes: pl.DataFrame, since: datetime) -> Decimal | None:
    """Percent change from the close of the earliest candle opening at or after ``since``
    to the last close; None with fewer than two such candles."""
    window = closes.filter(pl.col("open_time") >= since)
    if window.height < 2:
        return None
    first, last = window["close"][0], window["close"][-1]
    return (Decimal(last) - Decimal(first)) / Decimal(first) * HUNDRED


def correlation(a: pl.DataFrame, b: pl.DataFrame, min_points: int) -> float | None:
    """Pearson correlation of the 1m log returns of two close series (frames of
    :func:`closes_1m`), aligned on ``open_time``; None with fewer than ``min_points``
    returns or a constant series."""
    joined = a.join(b, on="open_time", how="inner", suffix="_b").sort("open_time")
    if joined.height - 1 < min_points:
        return None
    ra = log_returns(joined["close"].cast(pl.Float64).to_numpy())
    rb = log_returns(joined["close_b"].cast(pl.Float64).to_numpy())
    ok = np.isfinite(ra) & np.isfinite(rb)
    ra, rb = ra[ok], rb[ok]
    if ra.size < min_points or np.std(ra) == 0 or np.std(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass(frozen=True, slots=True)
class LeaderDump:
    """A leader's drop and the correlation of each candidate symbol with it.

    Attributes:
        leader: the leader's symbol (``"binance/usdm/BTCUSDT"``).
        change_pct: its change over the drop window, percent.
        correlations: symbol -> correlation (None: not enough data).
    """

    leader: str
    change_pct: Decimal
    correlations: dict[str, float | None]
