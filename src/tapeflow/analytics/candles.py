"""Candles (OHLCV bars with taker-side volumes) and their cache.

Definition: ``sql/analytics/101_candles.sql`` (from ticks), cached in the tables of
``sql/schema/102_candle_cache.sql`` (read by ``sql/analytics/102_candle_cache.sql``).
This module builds the queries, fills the continuous series (:func:`fill_candles`) and keeps
the cache current (:func:`refresh_candles`).

Candle frame (polars), one row per interval, sorted by ``open_time``:

==================  ======================  ===============================================
column              dtype                   meaning
==================  ======================  ===============================================
symbol              String                  ``"binance/usdm/BTCUSDT"``
open_time           Datetime("us", "UTC")   interval start, epoch-aligned
close_time          Datetime("us", "UTC")   interval end, EXCLUSIVE (Binance: this - 1 ms)
open                Decimal(18, 8)          price of the lowest trade id in the interval
high                Decimal(18, 8)          highest price
low                 Decimal(18, 8)          lowest price
close               Decimal(18, 8)          price of the highest trade id
volume              Decimal(38, 8)          sum(quantity), base units
quote_volume        Decimal(38, 16)         sum(price * quantity), exact
trades              Int64                   number of trades
buy_volume          Decimal(38, 8)          taker-buy base volume
buy_quote_volume    Decimal(38, 16)         taker-buy quote volume
sell_volume         Decimal(38, 8)          taker-sell base volume
sell_quote_volume   Decimal(38, 16)         taker-sell quote volume
buy_trades          Int64                   taker-buy trades
sell_trades         Int64                   taker-sell trades
vwap                Decimal(18, 8)          quote_volume / volume, exact, rounded half up
                                            to 8 decimals; null on filled intervals
first_trade_id      Int64                   lowest trade id (null on filled intervals)
last_trade_id       Int64                   highest trade id (null on filled intervals)
closed              Boolean                 a tick exists at or after close_time
==================  ======================  ===============================================

Only trades with ``trade_type`` NULL or ``'MARKET'`` count (Binance klines exclude
INSURANCE_FUND / ADL / NA trades). ``quote_volume`` is ``sum(price * quantity)``, Binance's
quote asset volume for spot and USD-M; for COIN-M, where quantity counts contracts, it is
price times contracts (Binance's COIN-M kline reports base asset volume there instead).
*Continuous* series fill intervals without trades with
``open = high = low = close =`` the previous close, volumes 0, counts 0 — inside a continuity
segment only: where trade ids are missing or the symbol was quiet for longer than
``max_quiet`` the series breaks, nothing is filled, and an extra column ``segment`` (Int64; 0
for the first row, +1 after each break) tells the segments apart
(:mod:`tapeflow.analytics.segments`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl

from tapeflow.analytics.query import Query
from tapeflow.analytics.segments import DEFAULT_MAX_QUIET, break_flags
from tapeflow.analytics.times import MAX_TS, MIN_TS
from tapeflow.model.timeframes import (
    TIMEFRAMES,
    WIDTH_US,
    ceil_time,
    check_timeframe,
    floor_time,
)

#: The volume and trade-count columns: 0 (not null) in an interval without trades.
_FILLED_ZERO: tuple[str, ...] = (
    "volume",
    "quote_volume",
    "trades",
    "buy_volume",
    "buy_quote_volume",
    "sell_volume",
    "sell_quote_volume",
    "buy_trades",
    "sell_trades",
)

#: Column order of a candle frame (after the ``symbol`` column the API adds).
CANDLE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "close_time",
    "open",
    "high",
    "low",
    "close",
    *_FILLED_ZERO,
    "vwap",
    "first_trade_id",
    "last_trade_id",
    "closed",
)
_SELECT = ", ".join(CANDLE_COLUMNS)


@dataclass(frozen=True, slots=True)
class CandleState:
    """What a reader needs to know about a symbol's tape and cache before a candle query
    (``candle_state()`` in ``sql/analytics/102_candle_cache.sql``), naive UTC.

    Attributes:
        last_ts: time of the last tick of any type (None without ticks).
        watermarks: per timeframe, the open time below which candles are cached (the epoch
            when nothing is cached).
    """

    last_ts: datetime | None
    watermarks: dict[str, datetime]

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> CandleState:
        """From the result of :func:`state_query`."""
        naive = frame.with_columns(pl.col("watermark", "last_ts").dt.replace_time_zone(None))
        marks = dict(zip(naive["timeframe"], naive["watermark"], strict=True))
        return cls(naive["last_ts"][0] if naive.height else None, marks)

    def closed_end(self, tf: str, end: datetime) -> datetime:
        """``end`` cut at the ``tf`` interval holding the last tick: every candle opening
        before it is closed."""
        return end if self.last_ts is None else min(end, floor_time(self.last_ts, tf))

    def tape_end(self, tf: str, end: datetime) -> datetime:
        """``end`` cut after the ``tf`` interval holding the last tick (no candle opens
        later)."""
        if self.last_ts is None:
            return end
        return min(end, floor_time(self.last_ts, tf) + timedelta(microseconds=WIDTH_US[tf]))


def state_query(ts_floor: datetime = MIN_TS) -> Query:
    """Query for the :class:`CandleState` of a symbol. ``ts_floor``: a time known to be at or
    before the last tick (a watermark seen before), which limits the search for it to the
    last ticks row groups."""
    return Query(
        "SELECT timeframe, watermark, last_ts FROM candle_state_from(CAST(? AS TIMESTAMP))",
        (ts_floor,),
    )


@dataclass(slots=True)
class TapeHint:
    """What a long-lived reader remembers about one symbol between queries (keep one per
    symbol; read functions update it):

    * ``ts_floor``: a time known to be at or before the last tick (the newest 1m watermark
      seen; neither ever moves back past it), so the search for the last tick reads only the
      newest ticks row groups;
    * ``watermarks``: the cache watermarks last seen per timeframe, so "last N closed
      candles" can check in the same query that the cache is still current
      (:func:`closed_from_cache`).
    """

    ts_floor: datetime = MIN_TS
    watermarks: dict[str, datetime] = field(default_factory=dict)

    def remember(self, state: CandleState) -> None:
        """Take the watermarks of a state just read."""
        self.watermarks = dict(state.watermarks)
        self.ts_floor = max(self.ts_floor, state.watermarks["1m"])


def read_state(run: Runner, hint: TapeHint | None = None) -> CandleState:
    """The :class:`CandleState` of the symbol ``run`` queries (one query; two if the hint
    turned out to be past the last tick, e.g. another store at the same path)."""
    floor = hint.ts_floor if hint is not None else MIN_TS
    state = CandleState.from_frame(run(state_query(floor)))
    if state.last_ts is None and floor > MIN_TS:
        state = CandleState.from_frame(run(state_query()))
    if hint is not None:
        hint.remember(state)
    return state


def check_last(last: int | None) -> None:
    """Refuse a ``last`` that is not None or a positive int.

    Raises:
        ValueError: naming the value.
    """
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 1):
        raise ValueError(f"last must be a positive number of candles, got {last!r}")


def state_params(tf: str, state: CandleState) -> tuple:
    """``(last_ts, wm_1m, wm_tf)``: the state arguments of the ``*_at`` macros."""
    return (state.last_ts, state.watermarks["1m"], state.watermarks[tf])


def sparse_query(
    tf: str,
    start: datetime,
    end: datetime,
    state: CandleState,
    *,
    last: int | None = None,
    first: int | None = None,
) -> Query:
    """Query for the sparse candles of ``tf`` with ``open_time`` in ``[start, end)`` (naive
    UTC), sorted; ``last=N`` keeps the last ``N``, ``first=N`` the first ``N``.

    A range wholly below the cache watermark reads the ``candles_<tf>`` table alone (the
    cache holds exactly the definition's rows there); otherwise ``candles_1m_fresh_at`` /
    ``candles_rollup_fresh_at`` add the intervals above the watermark from the ticks, with
    the state passed as constants.
    """
    check_timeframe(tf)
    check_last(last)
    if end <= state.watermarks[tf] or start >= end:
        source = f"SELECT {_SELECT} FROM candles_{tf} WHERE open_time >= ? AND open_time < ?"
        params: tuple = (start, end)
    elif tf == "1m":
        source = f"SELECT {_SELECT} FROM candles_1m_fresh_at(?, ?, ?, ?)"
        params = (start, end, state.last_ts, state.watermarks["1m"])
    else:
        source = f"SELECT {_SELECT} FROM candles_rollup_fresh_at(?, ?, ?, ?, ?, ?)"
        params = (tf, start, end, *state_params(tf, state))
    if first is not None:
        return Query(f"{source} ORDER BY open_time LIMIT {int(first)}", params)
    if last is None:
        return Query(f"{source} ORDER BY open_time", params)
    return Query(
        f"SELECT * FROM ({source} ORDER BY open_time DESC LIMIT {int(last)}) ORDER BY open_time",
        params,
    )


def fill_candles(
    traded: pl.DataFrame,
    tf: str,
    first_open: datetime,
    last_open: datetime,
    last_ts: datetime,
    breaks: list[bool],
) -> pl.DataFrame:
    """The continuous series: the ``tf`` intervals from ``first_open`` to ``last_open`` (naive
    UTC, inclusive) that lie inside a segment (:mod:`tapeflow.analytics.segments`) — the
    traded candles where they exist, otherwise a filled candle: ``open = high = low = close
    =`` the previous close, volumes and counts 0, ``vwap`` and trade ids null, ``closed`` as
    ``close_time <= last_ts``. An interval between two traded candles with a break between
    them is left out (no candle is invented across a data gap). This is the one definition
    of the filled series.

    Args:
        traded: the traded candles (candle frame, sorted), including the last one before
            ``first_open`` and the first one after ``last_open`` when those bound quiet
            intervals of the range (a row after the range may hold ``open_time`` only).
        breaks: per row of ``traded``, whether the series breaks before it
            (:func:`tapeflow.analytics.segments.break_flags`).

    Returns:
        The candle frame of the module docstring plus ``segment`` (Int64): 0 for the first
        row, +1 after each break inside the frame.
    """
    width = timedelta(microseconds=WIDTH_US[tf])
    schema = traded.schema
    columns = [c for c in traded.columns if c != "segment"]
    lo, hi = first_open.replace(tzinfo=UTC), last_open.replace(tzinfo=UTC)
    nxt = pl.col("open_time").shift(-1)
    runs = (
        traded.select("open_time")
        .with_columns(brk=pl.Series(breaks, dtype=pl.Boolean))
        .with_columns(
            segment=pl.col("brk").cum_sum().cast(pl.Int64),
            run_end=pl.when(nxt.is_not_null() & ~pl.col("brk").shift(-1, fill_value=True))
            .then(nxt - width)
            .otherwise(pl.col("open_time")),
        )
    )
    grid = runs.select(
        pl.datetime_ranges(
            "open_time", "run_end", interval=width, time_unit="us", time_zone="UTC"
        ).alias("open_time"),
        "segment",
    ).explode("open_time")
    frame = grid.join(traded.select(columns), on="open_time", how="left", maintain_order="left")
    carried = pl.col("close").forward_fill()
    zero = [c for c in _FILLED_ZERO if c in schema]
    filled = (
        frame.with_columns(
            pl.col("open_time").add(width).alias("close_time"),
            *(pl.coalesce(c, carried).cast(schema[c]).alias(c) for c in ("open", "high", "low")),
            carried.cast(schema["close"]).alias("close"),
            *(pl.col(c).fill_null(0).cast(schema[c]) for c in zero),
            (pl.col("open_time") + width <= last_ts.replace(tzinfo=UTC)).alias("closed"),
        )
        .filter(pl.col("open_time").is_between(lo, hi))
        .select(*columns, "segment")
    )
    if filled.height:
        filled = filled.with_columns(pl.col("segment") - filled["segment"][0])
    return filled


Runner = Callable[[Query], pl.DataFrame]


def closed_from_cache(
    run: Runner,
    tf: str,
    start: datetime,
    end: datetime,
    hint: TapeHint,
    *,
    last: int,
    continuous: bool,
    max_quiet: timedelta = DEFAULT_MAX_QUIET,
) -> pl.DataFrame | None:
    """The last ``last`` closed candles from the ``candles_<tf>`` table in one query, or None
    when that cannot be answered from the cache alone.

    With ``W`` the watermark the hint remembers for ``tf``, the query reads the newest cache
    rows below ``W`` (from ``last + 1`` intervals before it on) and checks that the cache is
    still *current*: its watermark is still ``W`` and no tick exists at or after ``W + tf``
    (so ``W`` opens the interval holding the last tick). That check reads no ticks: the ts
    zonemaps answer it. Then the rows are exactly the newest closed candles. Otherwise (a
    refresh or a new candle since, no hint yet, or less history than asked for near ``W``)
    it returns None and the caller takes the general path, which updates the hint.

    A continuous series is filled by :func:`fill_candles`, seeded by the row before its first
    interval (``last + 1`` rows include one, if history has it).
    """
    watermark = hint.watermarks.get(tf)
    if watermark is None or watermark <= MIN_TS:
        return None
    width = timedelta(microseconds=WIDTH_US[tf])
    want = last + 1 if continuous else last
    lower = max(start, floor_time(min(end, watermark), tf) - want * width)
    frame = run(
        Query(
            "SELECT * FROM (SELECT c.*, s.watermark AS _watermark, s.ahead AS _ahead "
            f"FROM candles_{tf} c, (SELECT "
            "  (SELECT open_time FROM candle_watermarks WHERE timeframe = ?) AS watermark,"
            "  EXISTS (SELECT 1 FROM ticks WHERE ts >= ?) AS ahead) s "
            "WHERE c.open_time >= ? AND c.open_time < ? "
            f"ORDER BY c.open_time DESC LIMIT {int(want)}) ORDER BY open_time",
            (tf, watermark + width, lower, min(end, watermark)),
        )
    )
    if frame.height == 0 or frame["_ahead"][0]:
        return None
    if frame["_watermark"][0].replace(tzinfo=None) != watermark:
        return None  # refreshed since: the general path learns the new watermark
    if frame.height < want and lower > start:
        return None  # older history may hold more candles
    rows = frame.select(CANDLE_COLUMNS)
    if not continuous:
        return rows
    last_open = ceil_time(min(end, watermark), tf) - width
    first_open = max(ceil_time(start, tf), last_open - (last - 1) * width)
    cut = rows["open_time"].search_sorted(first_open.replace(tzinfo=UTC))
    if rows.height == cut or rows["open_time"][-1] != last_open.replace(tzinfo=UTC):
        return None  # quiet at the end: the general path looks at the forming candle too
    # the row before the window (if any) seeds quiet intervals at its start; fewer rows
    # than asked for means nothing traded before them in the range
    traded = rows.slice(max(cut - 1, 0))
    breaks = break_flags(run, traded, tf, max_quiet)
    return fill_candles(traded, tf, first_open, last_open, watermark, breaks)


def continuous_candles(
    run: Runner,
    sparse: pl.DataFrame,
    tf: str,
    first_open: datetime,
    last_open: datetime,
    state: CandleState,
    max_quiet: timedelta = DEFAULT_MAX_QUIET,
) -> pl.DataFrame:
    """The continuous series of ``tf`` from ``first_open`` to ``last_open`` (naive UTC,
    inclusive; ``last_open`` at most the interval holding the last tick) from the sparse
    candles of that range: :func:`fill_candles` with the breaks of
    :func:`~tapeflow.analytics.segments.break_flags`.

    Quiet intervals at the start of the range need the last traded candle before it (one
    query; none before: the series starts at the first candle), quiet intervals at the end
    the first traded candle after it (one query; none: the tape's end), to know whether they
    lie inside a segment.
    """
    width = timedelta(microseconds=WIDTH_US[tf])
    parts = [sparse]
    times = sparse["open_time"]
    if sparse.height == 0 or times[0].replace(tzinfo=None) > first_open:
        parts.insert(0, run(sparse_query(tf, MIN_TS, first_open, state, last=1)))
    if sparse.height == 0 or times[-1].replace(tzinfo=None) < last_open:
        after = run(sparse_query(tf, last_open + width, MAX_TS, state, first=1))
        if after.height == 0 and state.last_ts is not None:
            # the last ticks are of a kind candles leave out: the tape ends in that interval
            end = floor_time(state.last_ts, tf).replace(tzinfo=UTC)
            after = pl.DataFrame([pl.Series("open_time", [end], dtype=times.dtype)])
        parts.append(after)
    traded = pl.concat(parts, how="diagonal")
    breaks = break_flags(run, traded, tf, max_quiet)
    return fill_candles(traded, tf, first_open, last_open, state.last_ts, breaks)


def with_segment(frame: pl.DataFrame) -> pl.DataFrame:
    """A sparse candle frame with the ``segment`` column of a continuous one (all 0)."""
    return frame.with_columns(pl.lit(0, dtype=pl.Int64).alias("segment"))


def read_candles(
    run: Runner,
    tf: str,
    start: datetime,
    end: datetime,
    *,
    state: CandleState | None = None,
    hint: TapeHint | None = None,
    continuous: bool = False,
    closed_only: bool = False,
    last: int | None = None,
    max_quiet: timedelta = DEFAULT_MAX_QUIET,
) -> pl.DataFrame:
    """Candles of ``tf`` with ``open_time`` in ``[start, end)`` (naive UTC) of the symbol
    ``run`` queries: the candle frame of the module docstring.

    Queries: the state (:func:`read_state`, unless given), then the candles; for a
    continuous series whose first interval has no trade also the seed close. The hot case —
    the last ``N`` closed candles, with a ``hint`` — first tries one query on the cache
    table that also checks the cache is still current (:func:`closed_from_cache`).
    ``closed_only`` ends the range at the interval holding the last tick, so with a current
    cache no tick is read. ``last=N`` keeps the last ``N`` candles: a continuous series
    fills only that span; a sparse one first looks ``N`` intervals back and widens to the
    whole range only if that held fewer.

    Raises:
        UnknownTimeframeError: ``tf`` is not one of :data:`TIMEFRAMES`.
        ValueError: ``last`` is not a positive int.
    """
    check_timeframe(tf)
    check_last(last)
    if state is None and hint is not None and closed_only and last is not None:
        frame = closed_from_cache(
            run, tf, start, end, hint, last=last, continuous=continuous, max_quiet=max_quiet
        )
        if frame is not None:
            return frame
    state = state or read_state(run, hint)
    hi = state.closed_end(tf, end) if closed_only else state.tape_end(tf, end)
    if state.last_ts is None or start >= hi:
        empty = run(sparse_query(tf, start, start, state))
        return with_segment(empty) if continuous else empty
    width = timedelta(microseconds=WIDTH_US[tf])
    if not continuous:
        if last is None:
            return run(sparse_query(tf, start, hi, state))
        lo = max(start, hi - last * width)
        frame = run(sparse_query(tf, lo, hi, state, last=last))
        if frame.height < last and lo > start:
            frame = run(sparse_query(tf, start, hi, state, last=last))
        return frame
    last_open = ceil_time(hi, tf) - width
    first_open = ceil_time(start, tf)
    if last is not None:
        first_open = max(first_open, last_open - (last - 1) * width)
    if first_open > last_open:
        return with_segment(run(sparse_query(tf, start, start, state)))
    sparse = run(sparse_query(tf, first_open, last_open + width, state))
    return continuous_candles(run, sparse, tf, first_open, last_open, state, max_quiet)


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What :func:`refresh_candles` did: rows added per timeframe, and whether the cache was
    rebuilt (late ticks detected, ``rebuild=True``) or recomputed from ``since``."""

    added: dict[str, int]
    rebuilt: bool
    watermark: datetime | None


def refresh_candles(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    rebuild: bool = False,
) -> RefreshResult:
    """Bring the candle cache of ``con``'s symbol database up to date with its ticks.

    Call after each append batch (or on demand) from the symbol's writer, with a cursor whose
    default database is the symbol's (``TickStore.connection``). Runs in one transaction.

    Work done: the 1m candles from the old 1m watermark up to the interval holding the last
    tick are computed from the ticks (reads only those row groups), then each higher
    timeframe is rolled up from the cached 1m rows; the per-minute and per-hour volume at
    price of the market profile (``price_volume_1m``/``_1h``,
    ``sql/schema/120_price_volume.sql``) are cached with the 1m and 1h candles, under the
    same watermarks. Only closed candles are cached; the forming one is always computed live
    by readers.

    Late ticks: if the number of ticks older than the 1m watermark changed since the last
    refresh (a gap backfill inserted older trades), the whole cache is rebuilt. A caller that
    knows the earliest time it touched passes ``since`` instead: the cache is recomputed from
    the interval holding ``since`` on (naive UTC), without the check.

    Args:
        con: cursor on the symbol's database, read-write.
        since: recompute from this time on (UTC).
        rebuild: drop and recompute the whole cache.

    Returns:
        :class:`RefreshResult`.

    Raises:
        duckdb.Error: from DuckDB (the transaction is rolled back).
    """
    con.execute("BEGIN TRANSACTION")
    try:
        result = _refresh(con, since, rebuild)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def _refresh(
    con: duckdb.DuckDBPyConnection, since: datetime | None, rebuild: bool
) -> RefreshResult:
    state = {
        tf: (wm, before)
        for tf, wm, before in con.execute(
            "SELECT timeframe, open_time, ticks_before FROM candle_watermarks"
        ).fetchall()
    }
    wm1, before1 = state["1m"]
    # the last tick is at or after any watermark: search only there (see candle_state_from)
    total, last_ts = con.execute(
        "SELECT (SELECT count(*) FROM ticks), (SELECT max(ts) FROM ticks WHERE ts >= ?)",
        [wm1 or MIN_TS],
    ).fetchall()[0]
    if (
        not rebuild
        and since is None
        and wm1 is not None
        and total - _count_from(con, wm1) != before1
    ):
        rebuild = True
    restart = MIN_TS if rebuild else since
    if restart is not None:
        for tf in TIMEFRAMES:
            floor = con.execute(
                "SELECT floor_us(CAST(? AS TIMESTAMP), timeframe_us(?))", [restart, tf]
            ).fetchall()[0][0]
            con.execute(f"DELETE FROM candles_{tf} WHERE open_time >= ?", [floor])
            if tf in ("1m", "1h"):  # the volume at price shares the 1m and 1h watermarks
                con.execute(f"DELETE FROM price_volume_{tf} WHERE open_time >= ?", [floor])
            wm, _ = state[tf]
            state[tf] = (floor if wm is None else min(wm, floor), None)
    added: dict[str, int] = {}
    new_wm1 = None
    for tf in TIMEFRAMES:
        wm, _ = state[tf]
        new_wm = con.execute(
            "SELECT floor_us(CAST(? AS TIMESTAMP), timeframe_us(?))", [last_ts, tf]
        ).fetchall()[0][0]
        if new_wm is None:  # no ticks
            added[tf] = 0
            continue
        if tf == "1m":
            source, args = "candles_from_ticks(?, ?, ?, ?)", [tf, wm or MIN_TS, new_wm, last_ts]
        else:  # from the 1m rows cached just above (all below new_wm1 >= new_wm)
            source = "candles_rollup_at(?, ?, ?, ?, ?)"
            args = [tf, wm or MIN_TS, new_wm, last_ts, new_wm1]
        added[tf] = con.execute(
            f"INSERT INTO candles_{tf} BY NAME SELECT * FROM {source} ORDER BY open_time", args
        ).fetchall()[0][0]
        before = total - _count_from(con, new_wm) if tf == "1m" else None
        con.execute(
            "UPDATE candle_watermarks SET open_time = ?, ticks_before = ?, "
            "refreshed_at = now() AT TIME ZONE 'UTC' WHERE timeframe = ?",
            [new_wm, before, tf],
        )
        if tf == "1m":
            new_wm1 = new_wm
            con.execute(
                "INSERT INTO price_volume_1m BY NAME SELECT * FROM price_volume_from_ticks(?, ?) "
                "ORDER BY open_time, price",
                [wm or MIN_TS, new_wm],
            )
        elif tf == "1h":
            con.execute(
                "INSERT INTO price_volume_1h BY NAME SELECT * FROM price_volume_rollup_1h(?, ?) "
                "ORDER BY open_time, price",
                [wm or MIN_TS, new_wm],
            )
    return RefreshResult(added=added, rebuilt=rebuild, watermark=new_wm1)


def _count_from(con: duckdb.DuckDBPyConnection, ts: datetime) -> int:
    """Ticks with ts >= ``ts`` (reads only the row groups the ts zonemap allows)."""
    return con.execute("SELECT count(*) FROM ticks WHERE ts >= ?", [ts]).fetchall()[0][0]
