"""The analytics query API: candles, order flow, CVD, market profile and the trailing flow
window of the symbols in a tick store, as polars DataFrames (the profile methods return a
frame of levels with its summary: :class:`~tapeflow.analytics.profile.MarketProfile`,
:class:`~tapeflow.analytics.profile.MarketProfiles`).

>>> import tapeflow
>>> with tapeflow.open("data") as ta:                      # read-only by default
...     c = ta.candles("BTCUSDT", "5m", "2024-08-08", "2024-08-09", continuous=True)
...     p = ta.market_profile("binance/usdm/BTCUSDT", "2024-08-08", "2024-08-09")

Every method builds a :class:`~tapeflow.analytics.query.Query` over the SQL macros of
``sql/analytics/1NN_*.sql`` and hands it to one :class:`~tapeflow.analytics.query.QueryRunner` — the
seam where a remote (Arrow Flight) runner replaces the local store when a live process holds
the files.

Conventions for every method:

* ``symbols``: a :class:`~tapeflow.store.SymbolKey`, ``"binance/usdm/BTCUSDT"``, or a bare
  ``"BTCUSDT"`` when exactly one market under the root has it — or a list of these. The
  result has a ``symbol`` column (``"binance/usdm/BTCUSDT"``) first; several symbols are
  concatenated in the order given.
* ``start``/``end``: ``datetime`` (aware -> converted to UTC; naive -> taken as UTC), ISO
  strings, or ``None`` for an open end. Intervals select rows by ``open_time`` in
  ``[start, end)``.
* Times in results are ``Datetime("us", "UTC")``; prices ``Decimal(18, 8)``; base volumes
  ``Decimal(38, 8)``; quote volumes ``Decimal(38, 16)``; counts ``Int64``. Column tables:
  :mod:`tapeflow.analytics.candles`, :mod:`tapeflow.analytics.orderflow`,
  :mod:`tapeflow.analytics.profile`.

Errors: :class:`~tapeflow.analytics.errors.UnknownTimeframeError`,
:class:`~tapeflow.analytics.errors.InvalidRangeError`,
:class:`~tapeflow.analytics.errors.BucketError`,
:class:`~tapeflow.analytics.errors.ReadOnlyQueryError` (all ``ValueError``),
:class:`~tapeflow.analytics.errors.AmbiguousSymbolError` (``ValueError``) and
:class:`~tapeflow.analytics.errors.SymbolNotFoundError` (``KeyError``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from tapeflow.analytics.candles import (
    RefreshResult,
    Runner,
    TapeHint,
    check_last,
    read_candles,
    read_state,
    refresh_candles,
)
from tapeflow.analytics.errors import (
    InvalidRangeError,
    SymbolNotFoundError,
)
from tapeflow.analytics.orderflow import Anchor, check_anchor, flow_window_query, read_order_flow
from tapeflow.analytics.profile import (
    MarketProfile,
    MarketProfiles,
    ProfileSummary,
    build_profiles,
    check_bucket,
    check_value_area,
    profile_dense_query,
    profile_summary_query,
    summary_frame,
    tick_size_query,
)
from tapeflow.analytics.query import Query, QueryRunner, StoreRunner
from tapeflow.analytics.resolve import resolve_symbol
from tapeflow.analytics.segments import DEFAULT_MAX_QUIET, check_max_quiet
from tapeflow.analytics.times import TimeLike, resolve_range, to_utc_naive
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.timeframes import PERIODS, check_timeframe, timeframe_delta
from tapeflow.store import TickStore, UnknownSymbolError
from tapeflow.store.owner import StoreBusyError, root_owner
from tapeflow.store.tickstore import GAPS_SQL, SUMMARY_SQL

SymbolLike = SymbolKey | str
Symbols = SymbolLike | Sequence[SymbolLike]


def open(
    root: str | Path = "data",
    read_only: bool = True,
    *,
    max_quiet: timedelta = DEFAULT_MAX_QUIET,
    **store_options: Any,
) -> Analytics:
    """Open the tick store at ``root`` for analytics; close it with ``.close()`` or ``with``.

    Args:
        root: the store root (``{root}/{exchange}/{market}/{symbol}/trading.duckdb``).
        read_only: open the symbol files read-only (default). If a live ``tapeflow run``
            holds the files (DuckDB lets no other process open them then), queries go to
            its read-only query endpoint instead (:mod:`tapeflow.analytics.endpoint`):
            same API, same results.
        max_quiet: the longest quiet stretch a continuous series fills; longer ones, and
            missing trade ids, break it (:mod:`tapeflow.analytics.segments`; default 60
            minutes, as the configuration's ``candles.max_quiet_minutes``).
        **store_options: passed to :class:`~tapeflow.store.TickStore` (``pool_limit``,
            ``memory_limit``, ``threads``). ``memory_limit`` defaults to ``"1GB"`` here (the
            store's own default, 192 MB, is sized for 200 files under write load; a notebook
            attaches a few files and scans long histories).

    Raises:
        FileNotFoundError: ``root`` does not exist and ``read_only`` is true.
        StoreBusyError: a ``tapeflow run`` holds the root but its endpoint is not published
            (yet), or ``read_only`` is false while a run holds the root.
    """
    if read_only and not Path(root).is_dir():
        raise FileNotFoundError(f"no tick store at {root}")
    owner = root_owner(root)
    if read_only:
        from tapeflow.analytics.endpoint import FlightRunner, find_endpoint

        live = find_endpoint(root)
        if live is not None:
            runner = FlightRunner(live)
            return Analytics(runner, closer=runner.close, max_quiet=max_quiet)
    if owner is not None:
        why = "and its query endpoint is not up" if read_only else "(it opens the files read-write)"
        raise StoreBusyError(f"{owner.describe(root)} {why}")
    store_options.setdefault("memory_limit", "1GB")
    store = TickStore(root, read_only=read_only, **store_options)
    return Analytics(StoreRunner(store), store=store, owns_store=True, max_quiet=max_quiet)


class Analytics:
    """Analytics over the symbols a :class:`QueryRunner` reaches; see the module docstring.

    Args:
        runner: executes the queries (:class:`StoreRunner` for a local store).
        store: the local store behind ``runner``, if any (needed only by
            :meth:`refresh_candles`).
        owns_store: close ``store`` on :meth:`close`.
        max_quiet: where continuous series break (see :func:`open`).

    Raises:
        ValueError: ``max_quiet`` is not a positive timedelta.
    """

    def __init__(
        self,
        runner: QueryRunner,
        *,
        store: TickStore | None = None,
        owns_store: bool = False,
        closer: Callable[[], None] | None = None,
        max_quiet: timedelta = DEFAULT_MAX_QUIET,
    ) -> None:
        self.max_quiet = check_max_quiet(max_quiet)
        self._runner = runner
        self._store = store
        self._owns_store = owns_store
        self._closer = closer
        self._resolved: dict[str, SymbolKey] = {}
        self._hints: dict[SymbolKey, TapeHint] = {}

    @classmethod
    def from_store(cls, store: TickStore) -> Analytics:
        """Analytics over an open store (e.g. the live process's), not closing it."""
        return cls(StoreRunner(store), store=store)

    @property
    def store(self) -> TickStore | None:
        """The local store behind this object (None for a remote runner)."""
        return self._store

    def close(self) -> None:
        """Close the store if this object opened it (or the endpoint client). Idempotent."""
        if self._owns_store and self._store is not None:
            self._store.close()
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> Analytics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- symbols ----------------------------------------------------------------------------

    def symbols(self) -> list[SymbolKey]:
        """Every symbol with a database.

        Returns:
            A ``list[SymbolKey]``, sorted.
        """
        return self._runner.symbols()

    def resolve(self, symbol: SymbolLike) -> SymbolKey:
        """The :class:`SymbolKey` for ``symbol`` (see the module docstring and
        :func:`~tapeflow.analytics.resolve.resolve_symbol`; ``btcusdt`` is ``BTCUSDT``).

        Returns:
            The stored symbol's :class:`SymbolKey`.

        Raises:
            SymbolNotFoundError: no such symbol under the root.
            AmbiguousSymbolError: a bare symbol that exists in several markets.
        """
        if isinstance(symbol, SymbolKey):
            return symbol
        key = self._resolved.get(symbol) if isinstance(symbol, str) else None
        if key is not None:
            return key
        key = resolve_symbol(symbol, self.symbols())
        self._resolved[symbol] = key
        return key

    def _run(self, key: SymbolKey, query: Query, *, user: bool = False) -> pl.DataFrame:
        """``query`` on ``key`` (a user's query, where writing is impossible, if ``user``)."""
        try:
            return (self._runner.sql if user else self._runner.run)(key, query)
        except UnknownSymbolError as exc:
            if isinstance(exc, SymbolNotFoundError):
                raise
            raise SymbolNotFoundError(str(exc)) from exc

    def _keys(self, symbols: Symbols) -> list[SymbolKey]:
        keys = (
            [self.resolve(symbols)]
            if isinstance(symbols, SymbolKey | str)
            else [self.resolve(s) for s in symbols]
        )
        if not keys:
            raise SymbolNotFoundError("no symbols given")
        return keys

    def _each(
        self, symbols: Symbols, read: Callable[[SymbolKey, Runner], pl.DataFrame]
    ) -> pl.DataFrame:
        """``read(key, run)`` (``run``: run a query on this symbol) for each symbol, with a
        ``symbol`` column first, concatenated."""
        frames = []
        for key in self._keys(symbols):
            frame = read(key, lambda query, key=key: self._run(key, query))
            frames.append(frame.select(pl.lit(str(key)).alias("symbol"), pl.all()))
        return frames[0] if len(frames) == 1 else pl.concat(frames)

    def _hint(self, key: SymbolKey) -> TapeHint:
        """What this object remembers about ``key`` between queries (see TapeHint)."""
        return self._hints.setdefault(key, TapeHint())

    # -- candles and order flow -------------------------------------------------------------

    def candles(
        self,
        symbols: Symbols,
        timeframe: str = "1m",
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        continuous: bool = False,
        closed_only: bool = False,
        last: int | None = None,
    ) -> pl.DataFrame:
        """Candles of ``timeframe`` (``1m 5m 15m 1h 4h``) with ``open_time`` in ``[start, end)``.

        Returns:
            A polars DataFrame, one row per candle sorted by ``open_time``: ``symbol`` then
            :data:`~tapeflow.analytics.candles.CANDLE_COLUMNS` (dtypes in
            :mod:`tapeflow.analytics.candles`).

        Args:
            continuous: fill intervals without trades (flat at the previous close, volume 0)
                inside each continuity segment; a data gap (missing trade ids, or no trades
                for longer than ``max_quiet``) is left out, and the column ``segment``
                (Int64, 0 for the first row, +1 after each break) tells the segments apart
                (:mod:`tapeflow.analytics.segments`).
            closed_only: drop the forming candle (``closed`` false).
            last: keep only the last ``N`` candles (after ``closed_only``).

        Raises:
            UnknownTimeframeError, InvalidRangeError, SymbolNotFoundError,
            AmbiguousSymbolError; ValueError for a bad ``last``.
        """
        check_timeframe(timeframe)
        check_last(last)
        lo, hi = resolve_range(start, end)
        return self._each(
            symbols,
            lambda key, run: read_candles(
                run,
                timeframe,
                lo,
                hi,
                hint=self._hint(key),
                continuous=continuous,
                closed_only=closed_only,
                last=last,
                max_quiet=self.max_quiet,
            ),
        )

    def order_flow(
        self,
        symbols: Symbols,
        timeframe: str = "1m",
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        anchor: Anchor = "none",
        continuous: bool = False,
        closed_only: bool = False,
    ) -> pl.DataFrame:
        """Per-candle order flow: delta, CVD from ``anchor`` (``"none"``, ``"day"`` or a
        time), imbalance, aggressive counts, average sizes — for the candles with trades, or
        every interval of the continuous series when ``continuous``.

        Returns:
            A polars DataFrame, one row per candle: ``symbol`` then
            :data:`~tapeflow.analytics.orderflow.ORDER_FLOW_COLUMNS` (dtypes and definitions
            in :mod:`tapeflow.analytics.orderflow`).

        Raises:
            UnknownTimeframeError, InvalidRangeError, SymbolNotFoundError,
            AmbiguousSymbolError.
        """
        check_timeframe(timeframe)
        check_anchor(anchor)
        lo, hi = resolve_range(start, end)
        return self._each(
            symbols,
            lambda key, run: read_order_flow(
                run,
                timeframe,
                lo,
                hi,
                hint=self._hint(key),
                anchor=anchor,
                continuous=continuous,
                closed_only=closed_only,
                max_quiet=self.max_quiet,
            ),
        )

    def cvd(
        self,
        symbols: Symbols,
        timeframe: str = "1m",
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        anchor: Anchor = "day",
        continuous: bool = False,
        closed_only: bool = False,
    ) -> pl.DataFrame:
        """Cumulative volume delta per candle, anchored at ``anchor`` (default: each UTC day).

        Returns:
            A polars DataFrame, one row per candle: ``symbol``, ``open_time``,
            ``close_time`` (Datetime UTC), ``closed``, ``delta``, ``cvd`` (Decimal(38, 8));
            see :meth:`order_flow`.
        """
        frame = self.order_flow(
            symbols,
            timeframe,
            start,
            end,
            anchor=anchor,
            continuous=continuous,
            closed_only=closed_only,
        )
        return frame.select("symbol", "open_time", "close_time", "closed", "delta", "cvd")

    def flow_window(
        self, symbol: SymbolLike, end: datetime | str, seconds: float | timedelta
    ) -> pl.DataFrame:
        """Order flow of the trades with ts in ``[end - seconds, end)``.

        Returns:
            A polars DataFrame of one row (also when no trades): ``symbol`` then the columns
            listed in :mod:`tapeflow.analytics.orderflow`.

        Raises:
            InvalidRangeError: ``end`` is not a time or ``seconds`` is not positive.
            SymbolNotFoundError, AmbiguousSymbolError.
        """
        query = flow_window_query(to_utc_naive(end, "end"), seconds)
        return self._each(symbol, lambda key, run: run(query))

    # -- market profile ---------------------------------------------------------------------

    def _bucket(self, key: SymbolKey, bucket: Decimal | str | float | None) -> Decimal:
        tick = self._run(key, tick_size_query())["tick_size"][0]
        return check_bucket(bucket, tick)

    def market_profile(
        self,
        symbol: SymbolLike,
        start: datetime | str,
        end: datetime | str,
        *,
        bucket: Decimal | str | float | None = None,
        value_area: float = 0.70,
    ) -> MarketProfile:
        """Volume profile of the trades with ts in ``[start, end)``.

        Args:
            bucket: level size in price units — the symbol's tick size (default, from
                ``symbol_meta.tick_size``) or a multiple of it.
            value_area: share of volume the value area must reach (CBOT: 0.70).

        Returns:
            A :class:`~tapeflow.analytics.profile.MarketProfile` (not a DataFrame):
            ``.levels``, a polars DataFrame of every level from the lowest to the highest
            traded one, ascending, and ``.summary``, a
            :class:`~tapeflow.analytics.profile.ProfileSummary` (POC, VAL/VAH, VWAP, shape,
            ...). Definitions in :mod:`tapeflow.analytics.profile`.

        Raises:
            InvalidRangeError: missing, unusable or inverted bounds.
            BucketError: no bucket given and no tick size known, or an unusable bucket.
            ValueError: ``value_area`` outside (0, 1].
            SymbolNotFoundError, AmbiguousSymbolError.
        """
        if start is None or end is None:
            raise InvalidRangeError("market_profile needs both start and end")
        result = self._profiles(symbol, start, end, None, bucket, value_area)
        return MarketProfile(levels=result.levels.drop("symbol"), summary=result.summaries[0])

    def market_profiles(
        self,
        symbol: SymbolLike,
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        period: str = "1d",
        bucket: Decimal | str | float | None = None,
        value_area: float = 0.70,
    ) -> MarketProfiles:
        """One profile per ``period`` (``"1d"`` = UTC session, or ``1m .. 4h``) that traded in
        ``[start, end)``; periods are epoch-aligned and clipped to the range.

        Returns:
            A :class:`~tapeflow.analytics.profile.MarketProfiles` (not a DataFrame):
            ``.levels`` (with ``period_start``) and ``.summary`` (one row per period), both
            polars DataFrames with ``symbol``.

        Raises:
            UnknownTimeframeError: unknown ``period``; otherwise as :meth:`market_profile`.
        """
        check_timeframe(period, PERIODS)
        result = self._profiles(symbol, start, end, period, bucket, value_area)
        return MarketProfiles(levels=result.levels, summary=result.summary)

    def _profiles(
        self,
        symbol: SymbolLike,
        start: TimeLike,
        end: TimeLike,
        period: str | None,
        bucket: Decimal | str | float | None,
        value_area: float,
    ) -> _ProfileResult:
        share = check_value_area(value_area)
        lo, hi = resolve_range(start, end)
        key = self.resolve(symbol)
        size = self._bucket(key, bucket)
        width = None if period is None else timeframe_delta(period)
        width_us = 0 if width is None else width // timedelta(microseconds=1)
        state = read_state(lambda query: self._run(key, query), self._hint(key))
        marks = state.watermarks
        rows = self._run(key, profile_summary_query(lo, hi, size, share, width_us, marks))
        dense = self._run(key, profile_dense_query(lo, hi, size, width_us, marks))
        lo_utc = lo.replace(tzinfo=UTC)
        # no trades: one empty summary for the single range, none per period
        periods = None if width is not None else [(lo_utc, hi.replace(tzinfo=UTC))]
        levels, summaries = build_profiles(dense, rows, bucket=size, start=lo_utc, periods=periods)
        name = pl.lit(str(key)).alias("symbol")
        return _ProfileResult(
            levels=levels.select(name, pl.all()),
            summary=summary_frame(summaries).select(name, pl.all()),
            summaries=summaries,
        )

    # -- ad-hoc SQL ---------------------------------------------------------------------------

    def sql(self, symbol: SymbolLike, query: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        """Run one read-only ``SELECT`` (or ``EXPLAIN``; may use every view and macro of
        ``sql/``) on the symbol's database.

        The query runs where writing is impossible (:mod:`tapeflow.store.sandbox`: the file
        attached read-only, or a snapshot of it in the live process; no file access, locked
        settings, one statement), so a data-modifying CTE, ``COPY … TO`` or ``read_csv``
        fails and changes nothing.

        Returns:
            A polars DataFrame with the query's columns (times as UTC).

        Raises:
            ReadOnlyQueryError: not exactly one SELECT/EXPLAIN statement, or the query tried
                to write, change a setting or reach a file.
            SymbolNotFoundError, AmbiguousSymbolError; duckdb.Error (locally) or
            RuntimeError (through the endpoint) from the query.
        """
        from tapeflow.analytics.endpoint import check_read_only

        check_read_only(query)  # a friendly early error; the sandbox is the protection
        return self._run(self.resolve(symbol), Query(query, tuple(params)), user=True)

    # -- store figures (``tapeflow info`` / ``tapeflow gaps``) ---------------------------------

    def summary(self, symbol: SymbolLike) -> dict[str, Any]:
        """One symbol's figures: ``rows``, ``first_ts``/``last_ts`` (UTC), ``first_id``/
        ``last_id``, ``id_space``, ``gaps`` (ranges), ``missing_ids``, ``quarantined``,
        ``conflicts`` (the query of :meth:`tapeflow.store.TickStore.summary`, without the
        file size).

        Returns:
            A ``dict`` of those figures.

        Raises:
            SymbolNotFoundError, AmbiguousSymbolError.
        """
        key = self.resolve(symbol)
        return self._run(key, Query(SUMMARY_SQL)).rows(named=True)[0]

    def missing_ids(self, symbol: SymbolLike) -> list[tuple[int, int]]:
        """Missing trade-id ranges ``(first_missing, last_missing)``, inclusive, ascending
        (trade ids are contiguous per symbol, so each range is missing trades).

        Returns:
            A ``list[tuple[int, int]]`` (empty: no gap).

        Raises:
            SymbolNotFoundError, AmbiguousSymbolError.
        """
        frame = self._run(self.resolve(symbol), Query(GAPS_SQL))
        return list(frame.iter_rows())

    # -- cache maintenance (local read-write store only) --------------------------------------

    def refresh_candles(
        self, symbols: Symbols | None = None, **options: Any
    ) -> dict[str, RefreshResult]:
        """Refresh the candle cache of ``symbols`` (default: all); see
        :func:`~tapeflow.analytics.candles.refresh_candles` for ``since`` / ``rebuild``.

        Returns:
            ``{"exchange/market/SYMBOL": RefreshResult}`` per refreshed symbol.

        Raises:
            PermissionError: no local read-write store behind this object.
        """
        if self._store is None or self._store.read_only:
            raise PermissionError("refresh_candles needs a local store opened read-write")
        keys = self.symbols() if symbols is None else self._keys(symbols)
        done = {}
        for key in keys:
            with self._store.connection(key) as con:
                done[str(key)] = refresh_candles(con, **options)
        return done

    # -- detectors on the continuous closed candle frame ------------------------------------

    def _closed_frame(self, symbol: SymbolLike, timeframe: str, start: TimeLike, end: TimeLike):
        """The continuous closed candles with their ``segment`` column: each detector runs
        per continuity segment, never across a data gap."""
        return self.candles(symbol, timeframe, start, end, continuous=True, closed_only=True).drop(
            "symbol"
        )

    def indicators(
        self,
        symbol: SymbolLike,
        timeframe: str = "1m",
        start: TimeLike = None,
        end: TimeLike = None,
        **params: Any,
    ) -> pl.DataFrame:
        """:func:`tapeflow.analytics.indicators.indicators` on the continuous closed candles
        of ``symbol``/``timeframe`` in ``[start, end)``; ``params`` are passed through.

        Returns:
            A polars DataFrame, one row per closed candle (columns in
            :func:`tapeflow.analytics.indicators.indicators`).
        """
        from tapeflow.analytics.indicators import indicators

        return indicators(self._closed_frame(symbol, timeframe, start, end), **params)

    def fvgs(
        self,
        symbol: SymbolLike,
        timeframe: str = "1m",
        start: TimeLike = None,
        end: TimeLike = None,
        **params: Any,
    ) -> pl.DataFrame:
        """:func:`tapeflow.analytics.fvg.fvgs` on the continuous closed candles (see
        :meth:`indicators`): the same rows as the SQL definition, ``SELECT * FROM
        fvgs('<timeframe>', ...)`` (``sql/analytics/151_fvgs.sql``, e.g. through :meth:`sql`).

        Returns:
            A polars DataFrame, one row per fair value gap
            (:func:`tapeflow.analytics.fvg.fvg_schema` columns).
        """
        from tapeflow.analytics.fvg import fvgs

        return fvgs(self._closed_frame(symbol, timeframe, start, end), **params)

    def zones(
        self,
        symbol: SymbolLike,
        timeframe: str = "1m",
        start: TimeLike = None,
        end: TimeLike = None,
        **params: Any,
    ) -> pl.DataFrame:
        """:func:`tapeflow.analytics.zones.zones` on the continuous closed candles (see
        :meth:`indicators`): the same rows as the SQL definition, ``SELECT * FROM
        zones('<timeframe>', ...)`` (``sql/analytics/152_zones.sql``, e.g. through :meth:`sql`).

        Returns:
            A polars DataFrame, one row per supply/demand zone
            (:func:`tapeflow.analytics.zones.zone_schema` columns).
        """
        from tapeflow.analytics.zones import zones

        return zones(self._closed_frame(symbol, timeframe, start, end), **params)

    def order_blocks(
        self,
        symbol: SymbolLike,
        timeframe: str = "1m",
        start: TimeLike = None,
        end: TimeLike = None,
        **params: Any,
    ) -> pl.DataFrame:
        """:func:`tapeflow.analytics.structure.order_blocks` on the continuous closed candles
        (see :meth:`indicators`).

        Returns:
            A polars DataFrame, one row per order block
            (:func:`tapeflow.analytics.structure.order_block_schema` columns).
        """
        from tapeflow.analytics.structure import order_blocks

        return order_blocks(self._closed_frame(symbol, timeframe, start, end), **params)


@dataclass(frozen=True, slots=True)
class _ProfileResult:
    levels: pl.DataFrame
    summary: pl.DataFrame
    summaries: list[ProfileSummary]
