"""Swing structure: the SQL definition (sql/analytics/160_structure.sql: swings, breaks of
structure, order blocks) equals the incremental tracker (tapeflow.analytics.structure) on
every real recording, over timeframes, windows and parameters; and it is reachable through
``tapeflow sql``, the Flight endpoint and a bare DuckDB connection."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeflow.analytics.api import Analytics
from tapeflow.analytics.endpoint import FlightRunner, QueryEndpoint, find_endpoint
from tapeflow.analytics.query import Query
from tapeflow.analytics.structure import order_blocks, structure_breaks, swings
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tapeflow.store.catalog import connect_with_catalog
from tests.analytics.sql_vs_tracker import assert_same_rows
from tests.support.paths import FREQTRADE_JSON_GZ

TIMEFRAMES = ["1m", "5m", "15m", "1h"]
SWINGS = 'SELECT kind, price, "at", confirmed_at FROM swings'
BREAKS = "SELECT direction, kind, level, swing_at, broken_at FROM structure_breaks"


def check_symbol(ta, symbol, tf: str, n: int, lookback: int, start=None, end=None) -> int:
    """Tracker frames == SQL rows for one symbol; returns the number of order blocks."""
    frame = ta.candles(symbol, tf, start, end, continuous=True, closed_only=True).drop("symbol")
    args = f"'{tf}', swing_bars := {n}"
    if start is not None:
        args += f", t_from := TIMESTAMP '{start}', t_to := TIMESTAMP '{end}'"
    assert_same_rows(swings(frame, swing_bars=n), ta.sql(symbol, f"{SWINGS}({args})"))
    assert_same_rows(structure_breaks(frame, swing_bars=n), ta.sql(symbol, f"{BREAKS}({args})"))
    blocks = order_blocks(frame, swing_bars=n, ob_lookback=lookback)
    sql = ta.sql(symbol, f"SELECT * FROM order_blocks({args}, ob_lookback := {lookback})")
    assert_same_rows(blocks, sql)
    return blocks.height


@pytest.mark.parametrize("tf", TIMEFRAMES)
def test_every_recording_with_the_default_parameters(recordings, tf) -> None:
    for symbol in recordings.symbols():
        check_symbol(recordings, symbol, tf, 2, 20)


def test_real_data_exercises_every_status_and_kind(recordings) -> None:
    blocks = pl.concat(
        [recordings.sql(s, "SELECT * FROM order_blocks('1m')") for s in recordings.symbols()]
    )
    assert set(blocks["status"]) == {"fresh", "mitigated", "broken"}
    assert blocks["mitigations"].max() >= 2
    breaks = pl.concat(
        [recordings.sql(s, "SELECT * FROM structure_breaks('1m')") for s in recordings.symbols()]
    )
    assert set(breaks["kind"]) == {"bos", "choch"}
    assert set(breaks["direction"]) == {"up", "down"}


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tf=st.sampled_from(TIMEFRAMES),
    n=st.integers(1, 5),
    lookback=st.integers(1, 60),
    window=st.none() | st.tuples(st.integers(0, 47 * 60), st.integers(10, 48 * 60)),
)
def test_parameters_and_windows_on_every_recording(recordings, tf, n, lookback, window) -> None:
    for symbol in recordings.symbols():
        start = end = None
        if window is not None:
            first = recordings.sql(symbol, "SELECT min(ts) AS t FROM ticks")["t"][0]
            first = first.replace(tzinfo=None, second=0, microsecond=0)
            start = first + timedelta(minutes=window[0])
            end = start + timedelta(minutes=window[1])
        check_symbol(recordings, symbol, tf, n, lookback, start, end)


def test_bad_parameters_name_the_rule(recordings) -> None:
    with pytest.raises(Exception, match="swing_bars and ob_lookback must be >= 1"):
        recordings.sql("binance/spot/XRPETH", "FROM order_blocks('1m', ob_lookback := 0)")
    with pytest.raises(Exception, match="swing_bars and ob_lookback must be >= 1"):
        recordings.sql("binance/spot/XRPETH", "FROM swings('1m', swing_bars := 0)")


# -- the three ways in: each equal to the tracker --------------------------------------------

XRP = SymbolKey("binance", "spot", "XRPETH")


def test_tapeflow_sql_answers_the_macros(recordings, recordings_root) -> None:
    from tests.sources.test_cli import run

    res = run(
        "sql", "XRPETH", "SELECT * FROM order_blocks('5m')", "--json", "--limit", "1000",
        "--root", str(recordings_root),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]  # one object per row
    tracker = recordings.order_blocks(XRP, "5m")
    assert len(rows) == tracker.height > 20
    assert [r["status"] for r in rows] == tracker["status"].to_list()
    assert [Decimal(r["price_low"]) for r in rows] == tracker["price_low"].to_list()
    assert [r["mitigations"] for r in rows] == tracker["mitigations"].to_list()


def test_a_bare_duckdb_connection_loads_the_catalog(recordings, recordings_root) -> None:
    con = connect_with_catalog(XRP.path(recordings_root))
    try:
        frame = con.sql("FROM order_blocks('15m', ob_lookback := 10)").pl()
    finally:
        con.close()
    assert_same_rows(recordings.order_blocks(XRP, "15m", ob_lookback=10), frame)


def test_the_flight_endpoint_answers_the_macros(tmp_path) -> None:
    with TickStore(tmp_path) as store:
        import_paths(store, [FREQTRADE_JSON_GZ], exchange="binance", market="spot", progress=False)
    with TickStore(tmp_path) as store, QueryEndpoint(store):
        local = Analytics.from_store(store)
        info = find_endpoint(tmp_path)
        assert info is not None
        frame = FlightRunner(info).run(XRP, Query("SELECT * FROM order_blocks('15m')"))
        assert_same_rows(local.order_blocks(XRP, "15m"), frame)
        assert frame.height > 5


def test_the_macro_defaults_are_the_configs(recordings) -> None:
    from tapeflow.config.strategy import DetectionSettings

    config = DetectionSettings()
    explicit = (
        f"swing_bars := {config.swing_bars}, ob_lookback := {config.order_block_lookback}, "
        "max_quiet_minutes := 60"
    )
    default = recordings.sql(XRP, "SELECT * FROM order_blocks('1m')")
    assert default.height > 50
    assert_same_rows(default, recordings.sql(XRP, f"SELECT * FROM order_blocks('1m', {explicit})"))
    assert_same_rows(default, recordings.order_blocks(XRP, "1m"))
