"""The FVG and zone macros through each way in: ``tapeflow sql``, the Flight query endpoint
and a bare DuckDB connection that loads the catalog — each equal to the tracker."""

from __future__ import annotations

import json

import polars as pl

from tapeflow.analytics.api import Analytics
from tapeflow.analytics.endpoint import FlightRunner, QueryEndpoint, find_endpoint
from tapeflow.analytics.query import Query
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tapeflow.store.catalog import connect_with_catalog
from tests.analytics.sql_vs_tracker import assert_same_rows
from tests.cli.support import invoke
from tests.support.paths import FREQTRADE_JSON_GZ

XRP = SymbolKey("binance", "spot", "XRPETH")


def test_tapeflow_sql_answers_the_macros(recordings, recordings_root) -> None:
    res = invoke(
        "sql",
        "XRPETH",
        "SELECT status, count(*) AS n FROM fvgs('5m') GROUP BY ALL",
        "--json",
        "--root",
        recordings_root,
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]  # one object per row
    got = {r["status"]: int(r["n"]) for r in rows}
    expected = dict(recordings.fvgs(XRP, "5m")["status"].value_counts().iter_rows())
    assert got == expected


def test_a_bare_duckdb_connection_loads_the_catalog(recordings, recordings_root) -> None:
    con = connect_with_catalog(XRP.path(recordings_root))
    try:
        assert_same_rows(recordings.fvgs(XRP, "15m"), con.sql("FROM fvgs('15m')").pl())
        assert_same_rows(recordings.zones(XRP, "15m"), con.sql("FROM zones('15m')").pl())
    finally:
        con.close()


def test_the_flight_endpoint_answers_the_macros(tmp_path) -> None:
    with TickStore(tmp_path) as store:
        import_paths(store, [FREQTRADE_JSON_GZ], exchange="binance", market="spot", progress=False)
    with TickStore(tmp_path) as store, QueryEndpoint(store):
        local = Analytics.from_store(store)
        info = find_endpoint(tmp_path)
        assert info is not None
        runner = FlightRunner(info)
        fvgs = runner.run(XRP, Query("SELECT * FROM fvgs('15m')"))
        zones = runner.run(XRP, Query("SELECT * FROM zones('15m', max_base := 3)"))
        assert_same_rows(local.fvgs(XRP, "15m"), fvgs)
        assert_same_rows(local.zones(XRP, "15m", max_base=3), zones)
        assert fvgs.height > 20 and zones.height > 5
        assert isinstance(fvgs, pl.DataFrame)
