"""FVGs: the SQL definition (sql/analytics/151_fvgs.sql) equals the incremental tracker
(tapeflow.analytics.fvg) on every real recording, over timeframes and parameters; the
continuous candles and ATR it reads (150) equal the Python series."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeflow.analytics.closed_candles import segments
from tapeflow.analytics.indicators import atr_series
from tests.analytics.sql_vs_tracker import assert_same_rows, naive_utc

TIMEFRAMES = ["1m", "5m", "15m"]
SETTINGS = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def sql_args(**params: object) -> str:
    """Named macro arguments: floats as DOUBLE, Decimals as their exact literal."""

    def literal(v: object) -> str:
        if isinstance(v, float):
            return f"CAST({v!r} AS DOUBLE)"
        return f"{v:f}" if isinstance(v, Decimal) else repr(v)

    return ", ".join(f"{k} := {literal(v)}" for k, v in params.items())


def test_every_recording_is_in_the_store(recordings) -> None:
    assert len(recordings.symbols()) == 7


@pytest.mark.parametrize("max_quiet", [60, 5])
@pytest.mark.parametrize("tf", ["1m", "5m", "15m", "1h"])
def test_continuous_candles_and_atr_equal_the_python_series(recordings, tf, max_quiet) -> None:
    recordings.max_quiet = timedelta(minutes=max_quiet)
    try:
        for symbol in recordings.symbols():
            py = recordings.candles(symbol, tf, continuous=True, closed_only=True)
            sql = recordings.sql(
                symbol,
                f"SELECT * FROM candles_atr('{tf}', TIMESTAMP '1970-01-01', "
                f"TIMESTAMP '9999-01-01', {max_quiet}, 14)",
            )
            cols = ["open_time", "open", "high", "low", "close", "volume", "trades"]
            assert_same_rows(py.select(cols), sql.select(cols))
            # segments: the same partition of the rows
            assert py["segment"].rank("dense").to_list() == sql["segment"].rank("dense").to_list()
            atr = [a for part in segments(py.drop("symbol")) for a in atr_series(part).to_list()]
            assert atr == sql["atr"].to_list()
    finally:
        recordings.max_quiet = timedelta(minutes=60)


def test_real_data_exercises_every_status(recordings) -> None:
    statuses = pl.concat(
        [recordings.sql(s, "SELECT status FROM fvgs('1m')") for s in recordings.symbols()]
    )
    assert set(statuses["status"]) == {"open", "partial", "filled"}
    assert statuses.height > 800


@SETTINGS
@given(
    tf=st.sampled_from(TIMEFRAMES),
    min_pct=st.one_of(st.just(0.0), st.floats(0.0, 0.1)),
    min_atr=st.one_of(st.just(0.0), st.floats(0.0, 2.0)),
    atr_period=st.integers(2, 20),
    min_ticks=st.sampled_from([0, 1, 3, 10]),
)
def test_sql_fvgs_equal_the_tracker_on_every_recording(
    recordings, tf, min_pct, min_atr, atr_period, min_ticks
) -> None:
    for symbol in recordings.symbols():
        tick = Decimal("0.00000001") if symbol.symbol == "XRPETH" else Decimal("0.01")
        params = dict(min_pct=min_pct, min_atr=min_atr, atr_period=atr_period)
        if min_ticks:
            params |= dict(min_ticks=min_ticks, tick_size=tick)
        tracker = recordings.fvgs(symbol, tf, **params)
        sql = recordings.sql(symbol, f"SELECT * FROM fvgs('{tf}', {sql_args(**params)})")
        assert_same_rows(tracker, sql)


def test_defaults_and_a_range(recordings) -> None:
    symbol = "binance/spot/XRPETH"
    assert_same_rows(recordings.fvgs(symbol, "5m"), recordings.sql(symbol, "FROM fvgs('5m')"))
    start, end = "2019-10-11 13:07", "2019-10-12 02:00"
    tracker = recordings.fvgs(symbol, "1m", start, end)
    sql = recordings.sql(symbol, f"FROM fvgs('1m', TIMESTAMP '{start}', TIMESTAMP '{end}')")
    assert tracker.height > 50
    assert_same_rows(tracker, sql)
    created = naive_utc(sql)["created_at"]
    assert str(created.min()) >= start and str(created.max()) < end


def test_bad_parameters_name_the_rule(recordings) -> None:
    with pytest.raises(Exception, match="min_ticks needs a positive tick_size"):
        recordings.sql("binance/spot/XRPETH", "FROM fvgs('1m', min_ticks := 2)")
    with pytest.raises(Exception, match="min_ticks needs a positive tick_size"):
        recordings.sql("binance/spot/XRPETH", "FROM fvgs('1m', min_ticks := 2, tick_size := -1)")
    with pytest.raises(Exception, match="atr_period must be >= 1"):
        recordings.sql("binance/spot/XRPETH", "FROM fvgs('1m', atr_period := 0)")
    with pytest.raises(Exception, match="must be >= 0"):
        recordings.sql("binance/spot/XRPETH", "FROM fvgs('1m', min_pct := -1.0)")
