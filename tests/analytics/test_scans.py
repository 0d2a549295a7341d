"""What the hot queries read and how many they run: on a symbol with several ticks row
groups, the trailing flow window touches one row group of ticks and "last N closed candles"
none at all when the cache is current (ts zonemaps, constants in the filters)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from tapeflow.analytics.api import Analytics
from tapeflow.analytics.candles import TapeHint, read_candles, refresh_candles
from tapeflow.analytics.orderflow import flow_window_query
from tapeflow.analytics.query import Query
from tapeflow.analytics.times import MAX_TS, MIN_TS
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tests.analytics.rawdata import capture_table, replicate
from tests.support.paths import HFT_DIR

KEY = SymbolKey("binance", "usdm", "BTCUSDT")
COPIES = 30  # 30 x 21,313 ticks = 639,390 ticks: 6 row groups, 3 hours


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("scans")
    base = capture_table(HFT_DIR / "usdm" / "btcusdt_20240808.gz")
    with TickStore(root, memory_limit="512MB") as store:
        copies = [replicate(base, k, timedelta(minutes=6)) for k in range(COPIES)]
        store.append(KEY, pa.concat_tables(copies), id_space="trade")
        with store.connection(KEY) as con:
            refresh_candles(con)
        yield Analytics.from_store(store)


def ticks_row_groups(ta: Analytics, query: Query) -> list[tuple[int, int]]:
    """(scanned, total) for every scan of ``ticks`` in the query's profiled plan."""
    with ta.store.connection(KEY) as con:
        plan = con.execute("EXPLAIN ANALYZE " + query.sql, list(query.params)).fetchall()[0][1]
    found = []
    for block in plan.split("Table Scan")[1:]:
        table = re.search(r"Table: \S+\.(\w+)", block)
        groups = re.search(r"Row Groups Scanned: (\d+) / (\d+)", block)
        if table and table.group(1) == "ticks" and groups:
            found.append((int(groups.group(1)), int(groups.group(2))))
    return found


def recorded(ta: Analytics, read) -> tuple[pl.DataFrame, list[Query]]:
    queries: list[Query] = []

    def run(query: Query) -> pl.DataFrame:
        queries.append(query)
        return ta._run(KEY, query)

    return read(run), queries


def test_the_store_has_several_row_groups(big):
    assert big.sql(KEY, "SELECT count(*) AS n FROM ticks")["n"][0] == 21313 * COPIES
    scans = ticks_row_groups(big, Query("SELECT sum(quantity) FROM ticks WHERE price > ?", [1]))
    assert scans == [(6, 6)]


def test_flow_window_reads_one_row_group(big):
    last = big.sql(KEY, "SELECT max(ts) AS t FROM ticks")["t"][0].replace(tzinfo=None)
    for end in (last - timedelta(hours=1), last):
        scans = ticks_row_groups(big, flow_window_query(end, 60))
        assert scans and all(s <= 1 for s, _ in scans), scans


@pytest.mark.parametrize(
    ("tf", "continuous", "rows"),
    [("1m", True, 5), ("1m", False, 5), ("15m", True, 5), ("1h", False, 3), ("4h", True, 1)],
)
def test_last_closed_candles_read_no_ticks_when_the_cache_is_current(big, tf, continuous, rows):
    hint = TapeHint()

    def read(run):
        return read_candles(
            run, tf, MIN_TS, MAX_TS, hint=hint, continuous=continuous, closed_only=True, last=5
        )

    first, _ = recorded(big, read)  # learns where the newest ticks are
    assert hint.ts_floor > MIN_TS
    frame, queries = recorded(big, read)
    assert frame.equals(first)
    assert frame.height == rows and frame["closed"].all()  # 3 hours of data
    assert frame.equals(
        big.candles(KEY, tf, continuous=continuous).filter("closed").tail(5).drop("symbol")
    )
    # one query: the cache table and its currency check; max(ts) reads the newest row group.
    # With less history than asked for, the reader cannot tell from the newest rows alone
    # and falls back to the state + candle queries (still no tick row group but the last).
    assert len(queries) == 1 if rows == 5 else len(queries) >= 2
    for query in queries:
        assert ticks_row_groups(big, query) in ([], [(0, 6)], [(1, 6)]), query.sql


def test_a_stale_cache_falls_back_to_the_ticks(tmp_path: Path):
    """The one-query path notices new closed candles that are not cached yet (appended but
    not refreshed), and a refresh since its last look; both fall back to the general path."""
    base = capture_table(HFT_DIR / "usdm" / "btcusdt_20240808.gz")
    with TickStore(tmp_path) as store:
        store.append(KEY, base.slice(0, 10000), id_space="trade")
        with store.connection(KEY) as con:
            refresh_candles(con)
        ta = Analytics.from_store(store)
        hint = TapeHint()

        def read(run):
            return read_candles(run, "1m", MIN_TS, MAX_TS, closed_only=True, last=3, hint=hint)

        before, _ = recorded(ta, read)  # learns the watermarks
        again, queries = recorded(ta, read)
        assert len(queries) == 1 and again.equals(before)
        store.append(KEY, base.slice(10000), id_space="trade")  # not refreshed
        stale, queries = recorded(ta, read)
        assert len(queries) > 1  # ticks beyond the watermark: state + fresh candles
        assert stale["open_time"][-1] > before["open_time"][-1]
        with store.connection(KEY) as con:
            refresh_candles(con)
        refreshed, queries = recorded(ta, read)
        assert refreshed.equals(stale)
        assert len(queries) == 3  # the watermark moved: fast try, then state + candles
        _, queries = recorded(ta, read)
        assert len(queries) == 1  # learnt: one query again


def test_the_forming_candle_reads_its_own_row_group_only(big):
    frame, queries = recorded(big, lambda run: read_candles(run, "1m", MIN_TS, MAX_TS, last=2))
    assert frame["closed"].to_list() == [True, False]
    scans = [s for q in queries for s in ticks_row_groups(big, q)]
    assert scans and all(s <= 1 for s, _ in scans), scans
