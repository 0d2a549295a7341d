"""What the engine reads from a symbol's database — always through the analytics' queries
(``sql/analytics/1NN_*.sql`` via :mod:`tapeflow.analytics`), never by re-deriving them from ticks.

Every function takes a DuckDB cursor whose default database is the symbol's
(:meth:`tapeflow.store.TickStore.connection`). Times are UTC: aware datetimes in, aware
datetimes out; DuckDB parameters are naive UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import duckdb
import polars as pl

from tapeflow.analytics.candles import read_candles, read_state
from tapeflow.analytics.orderflow import flow_window_query
from tapeflow.analytics.profile import profile_summary_query, tick_size_query
from tapeflow.analytics.query import Query, utc_frame
from tapeflow.analytics.segments import DEFAULT_MAX_QUIET
from tapeflow.analytics.times import MIN_TS, to_utc_naive
from tapeflow.model.candles import Candle
from tapeflow.model.timeframes import floor_time, timeframe_delta
from tapeflow.strategy.inputs import Bar, Flow, ProfileSummary

#: Ticks the price step is inferred from when the exchange tick size is unknown.
PRICE_STEP_SAMPLE = 10_000


def _rows(con: duckdb.DuckDBPyConnection, q: Query) -> list[tuple]:
    return con.execute(q.sql, list(q.params)).fetchall()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple:
    """The single row of ``sql`` (fetched completely, so the cursor is free again)."""
    (row,) = con.execute(sql, params or []).fetchall()
    return row


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def runner(con: duckdb.DuckDBPyConnection) -> Callable[[Query], pl.DataFrame]:
    """An analytics query runner on ``con`` (times as UTC, decimals kept)."""

    def run(q: Query) -> pl.DataFrame:
        return utc_frame(con.sql(q.sql, params=list(q.params)).pl())

    return run


def last_tick_time(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Exchange time (UTC) of the newest stored tick, ``None`` if there is none."""
    (ts,) = _one(con, "SELECT max(ts) FROM ticks")
    return _aware(ts) if ts is not None else None


_FRAME_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "closed",
    "segment",
)


def closed_candles_frame(
    con: duckdb.DuckDBPyConnection,
    tf: str,
    start: datetime,
    end: datetime,
    max_quiet: timedelta = DEFAULT_MAX_QUIET,
) -> pl.DataFrame:
    """Closed continuous candles of ``tf`` with ``open_time`` in ``[start, end)`` — the
    candle frame of :mod:`tapeflow.analytics.candles` (``open_time`` Datetime UTC, prices
    Decimal(18, 8), ``volume`` / ``buy_volume`` / ``sell_volume`` Decimal(38, 8), ``closed``
    Boolean, ``segment`` Int64: breaks at data gaps, :mod:`tapeflow.analytics.segments`),
    oldest first. Served from the candle cache when it covers the range."""
    frame = read_candles(
        runner(con),
        tf,
        to_utc_naive(start),
        to_utc_naive(end),
        continuous=True,
        closed_only=True,
        max_quiet=max_quiet,
    )
    return frame.select(_FRAME_COLUMNS)


@dataclass(frozen=True, slots=True)
class SegmentRead:
    """What :func:`segment_candles` found.

    Attributes:
        candles: the closed continuous candles of the *current* segment in the range (the
            frame of :func:`closed_candles_frame`), oldest first; empty when the segment the
            tape is in at the range's end has no closed candle there yet.
        broken: a break lies in the range: candles before it were left out.
        gap_before: open time (UTC) of the last candle before that break, if one was seen.
        segment_start: open time (UTC) of the current segment's first candle, if seen.
    """

    candles: pl.DataFrame
    broken: bool
    gap_before: datetime | None
    segment_start: datetime | None


def segment_candles(
    con: duckdb.DuckDBPyConnection,
    tf: str,
    start: datetime,
    stop: datetime,
    max_quiet: timedelta = DEFAULT_MAX_QUIET,
) -> SegmentRead:
    """The closed ``tf`` candles with ``open_time`` in ``[start, stop)`` (``stop`` a ``tf``
    boundary, UTC) that belong to the continuity segment the tape is in at ``stop``: the
    candle opening at ``stop`` (the forming one) is read too, and when a break separates it
    from the closed ones they are an older segment and left out — the strategy never decides
    on prices from before a data gap. A quiet forming candle (no trade yet) tells nothing:
    the closed candles' last segment is then the current one.
    """
    width = timeframe_delta(tf)
    s, e = to_utc_naive(start), to_utc_naive(stop)
    frame = read_candles(
        runner(con),
        tf,
        s,
        e + width,
        continuous=True,
        max_quiet=max_quiet,
    )
    if frame.height == 0:
        return SegmentRead(frame.select(_FRAME_COLUMNS), False, None, None)
    current = frame["segment"][-1]
    stop_utc = _aware(stop)
    closed = frame.filter(pl.col("open_time") < stop_utc)
    earlier = closed.filter(pl.col("segment") < current)
    here = frame.filter(pl.col("segment") == current)
    keep = closed.filter((pl.col("segment") == current) & pl.col("closed"))
    return SegmentRead(
        candles=keep.select(_FRAME_COLUMNS),
        broken=earlier.height > 0,
        gap_before=earlier["open_time"][-1] if earlier.height else None,
        segment_start=here["open_time"][0],
    )


def continued_candles(
    con: duckdb.DuckDBPyConnection,
    tf: str,
    last: datetime,
    stop: datetime,
    hint: CacheHint | None = None,
    *,
    include_last: bool = False,
) -> list[Candle] | None:
    """The engine's per-candle update, when it is cheap to prove there is no break: the
    closed ``tf`` candles opening after ``last`` (the last candle fed; from ``last`` on with
    ``include_last``, when nothing was fed yet) and before ``stop`` (UTC), as exact
    :class:`~tapeflow.model.candles.Candle` rows, oldest first — or ``None`` when
    that cannot be told from the candle cache alone.

    One query (when the cache covers the range) reads the cached rows from ``last`` on and
    the first counted trade id of the candle forming at ``stop``: if every interval traded
    and the trade ids run on without a hole into the forming candle, no data gap lies
    between (:mod:`tapeflow.analytics.segments`) and those rows are the continuous series.
    Otherwise (a quiet interval, an id jump, no cache) the caller asks
    :func:`segment_candles`.
    """
    width = timeframe_delta(tf)
    s, e = to_utc_naive(last), to_utc_naive(stop)
    if e <= s or not (hint or CacheHint()).covers(con, tf, e):
        return None
    rows = con.execute(
        "SELECT open_time, open, high, low, close, first_trade_id, last_trade_id, "
        "(SELECT min(trade_id) FROM kline_ticks WHERE ts >= ? AND ts < ?) "
        f"FROM candles_{tf} WHERE open_time >= ? AND open_time < ? ORDER BY open_time",
        [e, e + width, s, e],
    ).fetchall()
    if len(rows) != (e - s) // width:
        return None
    after = [r[5] for r in rows[1:]] + [rows[-1][7]]
    if any(nxt is not None and nxt != r[6] + 1 for r, nxt in zip(rows, after, strict=True)):
        return None
    fed = rows if include_last else rows[1:]
    return [Candle(_aware(t), o, h, lo, c) for t, o, h, lo, c, *_ in fed]


def last_candle_before(
    con: duckdb.DuckDBPyConnection, tf: str, before: datetime
) -> datetime | None:
    """Open time (UTC) of the last traded ``tf`` candle opening before ``before``, if any."""
    frame = read_candles(runner(con), tf, MIN_TS, to_utc_naive(before), last=1)
    return frame["open_time"][0] if frame.height else None


class CacheHint:
    """The candle-cache watermarks last seen for one symbol, per timeframe
    (``sql/schema/102_candle_cache.sql``).

    A watermark never moves back (the cache only grows; a rebuild recomputes up to at least
    the old one), so once a range is known to be below it the check needs no query.
    """

    __slots__ = ("watermarks",)

    def __init__(self) -> None:
        self.watermarks: dict[str, datetime] = {}

    def covers(self, con: duckdb.DuckDBPyConnection, tf: str, end: datetime) -> bool:
        """Whether every ``tf`` candle opening before ``end`` (naive UTC) is cached."""
        if self.watermarks.get(tf, MIN_TS) >= end:
            return True
        (watermark,) = _one(con, "SELECT candle_watermark(?)", [tf])
        self.watermarks[tf] = watermark
        return watermark >= end


def recent_bars(
    con: duckdb.DuckDBPyConnection,
    tf: str,
    candle_time: datetime,
    n: int,
    hint: CacheHint | None = None,
) -> list[Bar]:
    """The *traded* ``tf`` candles among the ``n`` intervals ending with the one opening at
    ``candle_time`` (sparse: an interval without trades has no bar), oldest first.

    The hot path of the zone and bounce levels: when the candle cache covers the range, its
    table holds exactly these candles and is read directly (one small read); otherwise
    :func:`tapeflow.analytics.candles.read_candles` computes them.
    """
    width = timeframe_delta(tf)
    e = to_utc_naive(candle_time) + width
    s = e - n * width
    if (hint or CacheHint()).covers(con, tf, e):
        rows = con.execute(
            f"SELECT open_time, open, high, low, close, volume FROM candles_{tf} "
            "WHERE open_time >= ? AND open_time < ? ORDER BY open_time",
            [s, e],
        ).fetchall()
        return [Bar(_aware(t), o, h, lo, c, v) for t, o, h, lo, c, v in rows]
    frame = read_candles(runner(con), tf, s, e)
    cols = [frame[c].to_list() for c in ("open_time", "open", "high", "low", "close", "volume")]
    return [Bar(*row) for row in zip(*cols, strict=True)]


def first_tick_time(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Exchange time (UTC) of the oldest stored tick, ``None`` if there is none."""
    (ts,) = _one(con, "SELECT min(ts) FROM ticks")
    return _aware(ts) if ts is not None else None


def flow(
    con: duckdb.DuckDBPyConnection,
    tf: str,
    end: datetime,
    windows_s: Sequence[int],
    hint: CacheHint | None = None,
) -> Flow:
    """Imbalance (taker-buy / taker-sell volume; ``flow_imbalance`` of
    ``sql/analytics/110_order_flow.sql``) of the trailing windows ``[end - w, end)`` for the fast,
    middle and longest window lengths ``windows_s`` (seconds). ``+inf`` when a window has only
    buys, 0 with only sells, ``None`` with no trades.

    When ``end`` is a ``tf`` boundary, every window a whole number of ``tf`` candles and the
    candle cache covers them, the windows are summed from the cached candles' taker volumes
    (exactly the trades of the tick window; one small aggregate); otherwise
    :func:`flow_from_ticks` reads the ticks.
    """
    width = timeframe_delta(tf)
    e = to_utc_naive(end)
    step = int(width.total_seconds())
    aligned = floor_time(e, width) == e
    if not (aligned and all(w % step == 0 for w in windows_s)):
        return flow_from_ticks(con, e, windows_s)
    if not (hint or CacheHint()).covers(con, tf, e):
        return flow_from_ticks(con, e, windows_s)
    starts = [e - timedelta(seconds=w) for w in windows_s]
    cols = ", ".join(
        "flow_imbalance("
        "coalesce(sum(CASE WHEN open_time >= ? THEN buy_volume END), 0), "
        "coalesce(sum(CASE WHEN open_time >= ? THEN sell_volume END), 0))"
        for _ in starts
    )
    values = _one(
        con,
        f"SELECT {cols} FROM candles_{tf} WHERE open_time >= ? AND open_time < ?",
        [*(t for start in starts for t in (start, start)), min(starts), e],
    )
    return Flow(*values)


def flow_from_ticks(
    con: duckdb.DuckDBPyConnection, end: datetime, windows_s: Sequence[int]
) -> Flow:
    """:func:`flow` always through ``flow_window`` over the ticks (the reference)."""
    queries = [flow_window_query(to_utc_naive(end), w) for w in windows_s]
    sql = "SELECT " + ", ".join(f"(SELECT imbalance FROM ({q.sql}))" for q in queries)
    fast, middle, longest = _one(con, sql, [p for q in queries for p in q.params])
    return Flow(fast, middle, longest)


def price_step(con: duckdb.DuckDBPyConnection) -> Decimal | None:
    """The symbol's tick size (``symbol_meta``), else the step its prices imply
    (``sql/analytics/201_price_step.sql``); ``None`` without ticks."""
    (tick,) = _rows(con, tick_size_query())[0]
    if tick is None:
        (tick,) = _one(con, "SELECT inferred_price_step(?)", [PRICE_STEP_SAMPLE])
    return Decimal(tick).normalize() if tick is not None else None


def profile_summary(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    bucket: Decimal,
    value_area_pct: float,
) -> ProfileSummary | None:
    """Market profile of ticks in ``[start, end)`` with ``bucket``-wide levels
    (:mod:`tapeflow.analytics.profile`, CBOT value area of ``value_area_pct`` %); ``None``
    when nothing traded."""
    s, e = to_utc_naive(start), to_utc_naive(end)
    state = read_state(runner(con))
    share = Fraction(Decimal(repr(value_area_pct))) / 100
    q = profile_summary_query(s, e, bucket, share, 0, state.watermarks)
    rows = con.sql(q.sql, params=list(q.params)).pl()
    if rows.height == 0:
        return None
    summary = rows.row(0, named=True)
    return ProfileSummary(
        poc=summary["poc"],
        vah=summary["vah"],
        val=summary["val"],
        bucket_size=bucket,
        start=_aware(s),
        end=_aware(e),
    )
