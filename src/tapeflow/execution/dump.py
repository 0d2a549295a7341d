"""Dump detection (seed 001 §8.3 ``DumpDetector``): exit a long early, before its trailing
stop, when the tape turns against it.

Checked for every open long of a symbol when that symbol's 1m candle closes (the candle
clock makes it durable first, so the reads see it; a replay checks at the same candles on
every run). Any one signal exits (as in the seed). The inputs come from the store's
analytics (``sql/analytics/101_candles.sql``, ``110_order_flow.sql``; the EMA of
:mod:`tapeflow.analytics.indicators`), never re-derived here:

=====================  =====================================================================
signal                 fires when (defaults; ``DumpSettings``)
=====================  =====================================================================
``volume_reversal``    taker-sell volume > 1.5 × taker-buy volume in each of the last 3
                       closed 1m candles
``flow_flip``          taker-buy / taker-sell volume of the last 60 s below 0.4 (the seed's
                       2.5 : 1 flipped to 1 : 2.5)
``momentum_break``     the last price below the EMA(20) of the closed 5m candles
``liquidity_drop``     quote volume traded in the last 10 min ≤ 70 % of the 10 min before
                       (meme coins only, as in the seed). Substitution: the seed measures a
                       DEX quote's slippage (order-book depth); tapeflow stores trades only,
                       so the traded quote volume stands in for the liquidity
``resistance_reject``  the last closed 1m candle made a high at or above the highest high of
                       the 20 candles before it and closed red in the lower half of its range.
                       The seed names the signal without a rule; this is tapeflow's
=====================  =====================================================================

A signal whose inputs are missing (too little history for the EMA, no trades in a window)
does not fire. Shorts are not checked (the seed's rules describe dumps against longs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb
import polars as pl

from tapeflow.analytics.candles import read_candles
from tapeflow.analytics.indicators import ema_series
from tapeflow.analytics.orderflow import flow_window_query
from tapeflow.analytics.query import Query, utc_frame
from tapeflow.analytics.times import to_utc_naive
from tapeflow.config.execution import DumpSettings, DumpSignal
from tapeflow.model.timeframes import floor_time


@dataclass(frozen=True, slots=True)
class Bar1m:
    """One closed 1m candle: prices quote, volumes base (taker buy / taker sell)."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    buy_volume: Decimal
    sell_volume: Decimal


@dataclass(frozen=True, slots=True)
class DumpInputs:
    """What the rules look at for one symbol at one candle close.

    Attributes:
        bars: closed 1m candles, oldest first (the last one just closed).
        flow_imbalance: taker-buy / taker-sell volume of the flow window (None: no trades).
        price: the last trade price (quote).
        ema: EMA of the closed 5m closes (None: not enough history).
        quote_volume_recent, quote_volume_before: traded quote volume of the last
            liquidity window and of the one before it.
    """

    bars: Sequence[Bar1m]
    flow_imbalance: float | None
    price: Decimal
    ema: float | None
    quote_volume_recent: Decimal
    quote_volume_before: Decimal


def dump_signals(x: DumpInputs, s: DumpSettings, *, meme: bool = False) -> list[DumpSignal]:
    """The enabled signals that fire on ``x`` (rules in the module docstring)."""
    out: list[DumpSignal] = []
    on = set(s.signals)
    last = list(x.bars[-s.reversal_candles :])
    if (
        "volume_reversal" in on
        and len(last) == s.reversal_candles
        and all(b.sell_volume > b.buy_volume * s.sell_buy_ratio for b in last)
    ):
        out.append("volume_reversal")
    if "flow_flip" in on and x.flow_imbalance is not None and x.flow_imbalance < s.flow_flip_below:
        out.append("flow_flip")
    if "momentum_break" in on and x.ema is not None and float(x.price) < x.ema:
        out.append("momentum_break")
    if (
        "liquidity_drop" in on
        and (meme or not s.liquidity_meme_only)
        and x.quote_volume_before > 0
        and x.quote_volume_recent <= x.quote_volume_before * (1 - s.liquidity_drop_pct / 100)
    ):
        out.append("liquidity_drop")
    if "resistance_reject" in on and len(x.bars) > s.resistance_lookback:
        bar = x.bars[-1]
        resistance = max(b.high for b in x.bars[-1 - s.resistance_lookback : -1])
        if bar.high >= resistance and bar.close < bar.open and bar.close < (bar.high + bar.low) / 2:
            out.append("resistance_reject")
    return out


def read_dump_inputs(
    con: duckdb.DuckDBPyConnection, end: datetime, price: Decimal, s: DumpSettings
) -> DumpInputs:
    """Read :class:`DumpInputs` for the symbol of ``con`` at ``end`` (UTC, the close time
    of the 1m candle that just closed) through the analytics queries."""

    def run(q: Query) -> pl.DataFrame:
        return utc_frame(con.sql(q.sql, params=list(q.params)).pl())

    e = to_utc_naive(end)
    n = max(s.reversal_candles, s.resistance_lookback + 1)
    one = read_candles(run, "1m", e - timedelta(minutes=n), e, continuous=True, closed_only=True)
    bars = [
        Bar1m(o, h, lo, c, b, sv)
        for o, h, lo, c, b, sv in one.select(
            "open", "high", "low", "close", "buy_volume", "sell_volume"
        ).iter_rows()
    ]
    e5 = floor_time(e, "5m")  # 5m candles closed by ``end``
    five = read_candles(
        run,
        "5m",
        e5 - timedelta(minutes=5 * 3 * s.ema_period),
        e5,
        continuous=True,
        closed_only=True,
    )
    ema = None
    if five.height >= s.ema_period:
        value = ema_series(five["close"].cast(pl.Float64), s.ema_period)[-1]
        ema = float(value) if value is not None else None
    flow = run(flow_window_query(e, s.flow_window_s))
    width = timedelta(minutes=s.liquidity_window_min)
    recent = run(flow_window_query(e, width))["quote_volume"][0]
    before = run(flow_window_query(e - width, width))["quote_volume"][0]
    return DumpInputs(
        bars=bars,
        flow_imbalance=flow["imbalance"][0],
        price=price,
        ema=ema,
        quote_volume_recent=Decimal(recent or 0),
        quote_volume_before=Decimal(before or 0),
    )
