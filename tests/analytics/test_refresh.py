"""The candle cache: incremental refresh, late ticks (gap backfill), ``since``, and that
readers are never stale with respect to the ticks appended in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tapeflow.analytics.api import Analytics
from tapeflow.analytics.candles import refresh_candles
from tapeflow.model.timeframes import TIMEFRAMES, timeframe_delta
from tapeflow.store import TickStore
from tests.analytics.conftest import USDM_BTC, usdm_btc_trades
from tests.analytics.rawdata import trades_table
from tests.analytics.test_candles import assert_same_candles
from tests.support.reference import reference_candles


@pytest.fixture
def store(tmp_path: Path):
    with TickStore(tmp_path, pool_limit=4, memory_limit="256MB") as s:
        yield s


def cached(store: TickStore, tf: str) -> pl.DataFrame:
    with store.connection(USDM_BTC) as con:
        return con.sql(f"SELECT * FROM candles_{tf} ORDER BY open_time").pl()


def test_reads_before_any_refresh_equal_the_definition(store):
    trades = usdm_btc_trades()
    store.append(USDM_BTC, trades_table(trades), id_space="trade")
    ta = Analytics.from_store(store)
    before = {tf: ta.candles(USDM_BTC, tf, continuous=True) for tf in TIMEFRAMES}
    assert cached(store, "1m").height == 0  # nothing cached: everything read live
    result = ta.refresh_candles(USDM_BTC)[str(USDM_BTC)]
    assert result.watermark == datetime(2024, 7, 19, 0, 5)  # the forming minute
    assert result.added["1m"] == 8 and not result.rebuilt
    for tf in TIMEFRAMES:
        assert ta.candles(USDM_BTC, tf, continuous=True).equals(before[tf])
    again = ta.refresh_candles(USDM_BTC)[str(USDM_BTC)]
    assert again.added == dict.fromkeys(TIMEFRAMES, 0)


def test_small_batches_build_the_same_cache_as_one_refresh(store, tmp_path: Path):
    trades = usdm_btc_trades()
    ta = Analytics.from_store(store)
    for i in range(0, len(trades), 500):
        store.append(USDM_BTC, trades_table(trades[i : i + 500]), id_space="trade")
        ta.refresh_candles(USDM_BTC)
        # between refreshes the API always equals the raw trades seen so far
        if i % 2500 == 0:
            seen = trades[: i + 500]
            assert_same_candles(
                ta.candles(USDM_BTC, "5m").drop("symbol"),
                reference_candles(seen, timedelta(minutes=5)),
            )
    with TickStore(tmp_path / "other") as other:
        other.append(USDM_BTC, trades_table(trades), id_space="trade")
        with other.connection(USDM_BTC) as con:
            refresh_candles(con)
        for tf in TIMEFRAMES:
            assert cached(store, tf).equals(cached(other, tf)), tf


def test_late_ticks_are_detected_and_the_cache_rebuilt(store):
    trades = usdm_btc_trades()
    day2 = [t for t in trades if t.ts >= datetime(2024, 7, 19, tzinfo=UTC)]
    day1 = [t for t in trades if t.ts < datetime(2024, 7, 19, tzinfo=UTC)]
    ta = Analytics.from_store(store)
    store.append(USDM_BTC, trades_table(day2), id_space="trade")
    ta.refresh_candles(USDM_BTC)
    # a backfill inserts the older trades (lower ids, older times)
    store.append(USDM_BTC, trades_table(day1), id_space="trade")
    # until the next refresh the cache does not know them (documented): day 1 is missing
    stale = ta.candles(USDM_BTC, "1h")
    assert stale["open_time"][0] == datetime(2024, 7, 19, tzinfo=UTC)
    result = ta.refresh_candles(USDM_BTC)[str(USDM_BTC)]
    assert result.rebuilt
    for tf in TIMEFRAMES:
        assert_same_candles(
            ta.candles(USDM_BTC, tf).drop("symbol"), reference_candles(trades, timeframe_delta(tf))
        )


def test_refresh_since_recomputes_from_there(store):
    trades = usdm_btc_trades()
    cut = datetime(2024, 7, 19, 0, 2, tzinfo=UTC)
    early = [t for t in trades if t.ts < cut]
    late = [t for t in trades if t.ts >= cut]
    ta = Analytics.from_store(store)
    # the minute before the cut is incomplete at first: its second half comes later
    hole = [t for t in early if t.ts >= cut - timedelta(seconds=30)]
    store.append(USDM_BTC, trades_table([t for t in early if t not in hole]), id_space="trade")
    store.append(USDM_BTC, trades_table(late), id_space="trade")
    ta.refresh_candles(USDM_BTC)
    store.append(USDM_BTC, trades_table(hole), id_space="trade")  # the gap is filled
    result = ta.refresh_candles(USDM_BTC, since=hole[0].ts.replace(tzinfo=None))
    assert not result[str(USDM_BTC)].rebuilt
    for tf in TIMEFRAMES:
        assert_same_candles(
            ta.candles(USDM_BTC, tf).drop("symbol"), reference_candles(trades, timeframe_delta(tf))
        )
