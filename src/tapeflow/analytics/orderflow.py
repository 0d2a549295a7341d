"""Order flow per candle (delta, CVD, imbalance, aggressive counts, average sizes) and over a
trailing window of ticks. Definitions: ``sql/analytics/110_order_flow.sql``.

Order-flow frame (polars), one row per candle with trades (per interval when
``continuous``; see :func:`fill_order_flow`), sorted by ``open_time``:

=============  ======================  ==================================================
column         dtype                   meaning
=============  ======================  ==================================================
symbol         String                  ``"binance/usdm/BTCUSDT"``
open_time      Datetime("us", "UTC")   candle start
close_time     Datetime("us", "UTC")   candle end (exclusive)
closed         Boolean                 as in the candle frame
trades         Int64                   trades (buy_trades + sell_trades)
buy_trades     Int64                   aggressive (taker) buys
sell_trades    Int64                   aggressive (taker) sells
volume         Decimal(38, 8)          base volume
buy_volume     Decimal(38, 8)          taker-buy base volume
sell_volume    Decimal(38, 8)          taker-sell base volume
delta          Decimal(38, 8)          buy_volume - sell_volume
cvd            Decimal(38, 8)          cumulative delta from the anchor (null before it)
imbalance      Float64                 buy_volume / sell_volume; +inf if only buys,
                                       0.0 if only sells, null without trades
delta_ratio    Float64                 (buy - sell) / (buy + sell) in [-1, 1]; null
                                       without trades
avg_buy_size   Decimal(38, 8)          buy_volume / buy_trades (exact, half up);
avg_sell_size  Decimal(38, 8)          null without trades of that side
=============  ======================  ==================================================

CVD anchors: ``"none"`` — from the first candle of the requested range; ``"day"`` — restarts
at 00:00 UTC each day, counting the day's candles before ``start`` too; a ``datetime`` — from
the first candle opening at or after it (candles before it have null CVD; candles between it
and ``start`` are counted).

Flow-window row (:func:`flow_window_query`): ``window_start``, ``window_end`` (Datetime UTC;
the window is ``[end - seconds, end)`` so ``flow_window(close_time, 60)`` equals the 1m
candle's flow), ``trades``, ``buy_trades``, ``sell_trades`` (Int64), ``volume``,
``quote_volume``, ``buy_volume``, ``sell_volume``, ``delta`` (Decimal), ``imbalance``,
``delta_ratio`` (Float64), ``avg_buy_size``, ``avg_sell_size``, ``vwap``, ``open``, ``high``,
``low``, ``close`` (Decimal, null when the window is empty), ``first_trade_id``,
``last_trade_id`` (Int64). Cost: the ticks row groups whose ts zonemap overlaps the window,
i.e. O(trades in the window + one row group of 122,880 rows).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from tapeflow.analytics.candles import (
    CandleState,
    Runner,
    TapeHint,
    read_candles,
    read_state,
    state_params,
)
from tapeflow.analytics.errors import InvalidRangeError
from tapeflow.analytics.query import Query
from tapeflow.analytics.segments import DEFAULT_MAX_QUIET
from tapeflow.analytics.times import to_utc_naive
from tapeflow.model.timeframes import check_timeframe, floor_time

ORDER_FLOW_COLUMNS: tuple[str, ...] = (
    "open_time",
    "close_time",
    "closed",
    "trades",
    "buy_trades",
    "sell_trades",
    "volume",
    "buy_volume",
    "sell_volume",
    "delta",
    "cvd",
    "imbalance",
    "delta_ratio",
    "avg_buy_size",
    "avg_sell_size",
)

Anchor = str | datetime


def check_anchor(anchor: Anchor) -> tuple[str, datetime | None]:
    """``(kind, anchor time)`` for the SQL: ``("none"|"day", None)`` or ``("ts", time)``.

    Raises:
        InvalidRangeError: not ``"none"``, ``"day"`` or a time.
    """
    if isinstance(anchor, datetime):
        return "ts", to_utc_naive(anchor, "anchor")
    if anchor in ("none", "day"):
        return anchor, None
    if isinstance(anchor, str):
        try:
            return "ts", to_utc_naive(anchor, "anchor")
        except InvalidRangeError:
            pass
    raise InvalidRangeError(
        f"anchor must be 'none', 'day' or a time (datetime / ISO string), got {anchor!r}"
    )


def order_flow_query(
    tf: str,
    start: datetime,
    end: datetime,
    state: CandleState,
    *,
    anchor: Anchor = "none",
    closed_only: bool = False,
) -> Query:
    """Query for per-candle order flow of ``tf`` (candles with trades) with ``open_time`` in
    ``[start, end)``, given the symbol's ``state`` (passed as constants).

    Raises:
        UnknownTimeframeError: unknown ``tf``.
        InvalidRangeError: an unusable ``anchor``.
    """
    check_timeframe(tf)
    kind, anchor_ts = check_anchor(anchor)
    hi = state.closed_end(tf, end) if closed_only else end
    return Query(
        f"SELECT {', '.join(ORDER_FLOW_COLUMNS)} "
        "FROM order_flow_at(?, ?, ?, ?, ?, ?, ?, ?) ORDER BY open_time",
        (tf, start, hi, kind, anchor_ts, *state_params(tf, state)),
    )


def read_order_flow(
    run: Runner,
    tf: str,
    start: datetime,
    end: datetime,
    *,
    state: CandleState | None = None,
    hint: TapeHint | None = None,
    anchor: Anchor = "none",
    continuous: bool = False,
    closed_only: bool = False,
    max_quiet: timedelta = DEFAULT_MAX_QUIET,
) -> pl.DataFrame:
    """Order-flow frame (module docstring) of the symbol ``run`` queries: the state
    (:func:`~tapeflow.analytics.candles.read_state`, unless given), then
    :func:`order_flow_query`; for a ``continuous`` series also the continuous candles, whose
    quiet intervals are filled by :func:`fill_order_flow` (only inside continuity segments,
    as the candles: :mod:`tapeflow.analytics.segments`)."""
    check_timeframe(tf)
    kind, anchor_ts = check_anchor(anchor)
    state = state or read_state(run, hint)
    if not continuous:
        return run(order_flow_query(tf, start, end, state, anchor=anchor, closed_only=closed_only))
    grid = read_candles(
        run,
        tf,
        start,
        end,
        state=state,
        continuous=True,
        closed_only=closed_only,
        max_quiet=max_quiet,
    ).select("open_time", "close_time", "closed")
    # flows from the anchor on, so quiet intervals at the start carry the anchored CVD
    since = {"day": floor_time(start, "1d"), "ts": min(start, anchor_ts or start)}.get(kind, start)
    flow = run(order_flow_query(tf, since, end, state, anchor=anchor, closed_only=closed_only))
    return fill_order_flow(flow, grid, kind, anchor_ts)


def fill_order_flow(
    flow: pl.DataFrame, grid: pl.DataFrame, kind: str, anchor_ts: datetime | None
) -> pl.DataFrame:
    """Order flow on every interval of ``grid`` (``open_time``, ``close_time``, ``closed`` of
    the continuous candles): a quiet interval has counts, volumes and delta 0, imbalance,
    delta ratio and average sizes null, and carries the CVD of the last candle before it in
    its anchor group (0 when there is none; null before a time anchor). ``flow`` may hold
    candles before the grid (from the anchor on); they only seed the CVD.
    """
    if grid.height == 0:
        return flow.clear()
    schema = flow.schema
    first = grid["open_time"][0]
    rows = pl.concat(
        [
            flow.filter(pl.col("open_time") < first),
            grid.join(flow.drop("close_time", "closed"), on="open_time", how="left").select(
                flow.columns
            ),
        ]
    )
    if kind == "day":
        group = pl.col("open_time").dt.truncate("1d")
    elif kind == "ts":
        group = pl.col("open_time") >= anchor_ts.replace(tzinfo=UTC)
    else:
        group = pl.lit(0)
    cvd = pl.col("cvd").forward_fill().over(group).fill_null(0)
    if kind == "ts":
        cvd = pl.when(group).then(cvd).otherwise(None)
    zero = ("trades", "buy_trades", "sell_trades", "volume", "buy_volume", "sell_volume", "delta")
    return (
        rows.with_columns(
            *(pl.col(c).fill_null(0).cast(schema[c]) for c in zero),
            cvd.cast(schema["cvd"]).alias("cvd"),
        )
        .filter(pl.col("open_time") >= first)
        .select(ORDER_FLOW_COLUMNS)
    )


def flow_window_query(end: datetime, seconds: float | timedelta) -> Query:
    """Query for the order flow of trades with ts in ``[end - seconds, end)`` (one row).

    ``seconds`` may be fractional (µs resolution) or a ``timedelta``.

    Raises:
        InvalidRangeError: ``seconds`` is not positive.
    """
    width = seconds if isinstance(seconds, timedelta) else None
    if width is None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise InvalidRangeError(f"seconds must be a number, got {seconds!r}")
        width = timedelta(seconds=seconds)
    width_us = width // timedelta(microseconds=1)
    if width_us <= 0:
        raise InvalidRangeError(f"window length must be positive, got {seconds!r}")
    return Query("SELECT * FROM flow_window(CAST(? AS TIMESTAMP), ?)", (end, width_us))
