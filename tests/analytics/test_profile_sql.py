"""The market profile's POC, value area and shape in SQL (``121_profile_value_area.sql``)
equal a plain Python statement of the rules (:mod:`tests.analytics.profile_reference`) on
every real recording, over windows, periods, buckets and value-area shares; and the SQL is
reachable through ``tapeflow sql``, the Flight endpoint and a bare DuckDB connection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeflow.analytics.candles import read_state
from tapeflow.analytics.profile import (
    profile_levels_query,
    profile_summary_query,
)
from tapeflow.analytics.query import Query
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tests.analytics.profile_reference import classify_shape, point_of_control, value_area
from tests.support.paths import MARKET_DIR

DAY_US = 86_400_000_000
PERIODS_US = (0, 60_000_000, 300_000_000, 900_000_000, 3_600_000_000, 14_400_000_000, DAY_US)


Run = Callable[[Query], pl.DataFrame]


def runner(ta, symbol) -> Run:
    """Run a query on ``symbol`` through ``ta.sql`` (the read-only path; times UTC)."""
    return lambda q: ta.sql(symbol, q.sql, q.params)


def _units(value: Decimal) -> int:
    return int(value.scaleb(8))


def reference(raw: pl.DataFrame, step: int, share: Fraction) -> dict[datetime, dict]:
    """Per period (aligned label): the dense volumes and POC / value area / shape by the
    Python rules, from the traded levels of ``profile_levels_at``."""
    out = {}
    for (period,), group in raw.group_by("period_start", maintain_order=True):
        traded = dict(zip(group["level_units"], group["volume_units"], strict=True))
        first, last = min(traded), max(traded)
        vols = [int(traded.get(u, 0)) for u in range(first, last + step, step)]
        total = sum(vols)
        quote16 = int(sum(group["quote_volume"]).scaleb(16))
        vwap = Fraction(quote16, total)  # 1e-8 price units
        poc = point_of_control(
            vols, lambda i, first=first, vwap=vwap: first + i * step + Fraction(step, 2) - vwap
        )
        lo, hi = value_area(vols, poc, share)
        out[period] = {
            "levels": len(vols),
            "poc": first + poc * step,
            "val": first + lo * step,
            "vah": first + hi * step,
            "shape": classify_shape(vols, lo, hi),
            "value_area_units": sum(vols[lo : hi + 1]),
            "volume_units": total,
            "flags": [(lo <= i <= hi, i == poc) for i in range(len(vols))],
        }
    return out


def check_equal(
    run: Run,
    start: datetime,
    end: datetime,
    bucket: Decimal,
    period_us: int,
    share: Fraction,
) -> int:
    """SQL summary and levels against the reference; returns the number of periods."""
    marks = read_state(run).watermarks
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)  # naive UTC
    raw = run(profile_levels_query(start, end, bucket, period_us, marks))
    ref = reference(raw, _units(bucket), share)
    query = profile_summary_query(start, end, bucket, share, period_us, marks)
    summary = run(query)
    levels = run(Query(query.sql.replace("profile_summary_at", "profile_at"), query.params))
    assert summary.height == len(ref)
    aligned = sorted(ref)
    for label, row in zip(aligned, summary.iter_rows(named=True), strict=True):
        want = ref[label]
        got = {
            "levels": row["levels"],
            "poc": _units(row["poc"]),
            "val": _units(row["val"]),
            "vah": _units(row["vah"]),
            "shape": row["shape"],
            "value_area_units": _units(row["value_area_volume"]),
            "volume_units": _units(row["volume"]),
        }
        assert got == {k: v for k, v in want.items() if k != "flags"}, (label, bucket, share)
        assert row["value_area_share"] == want["value_area_units"] / want["volume_units"]
        rows = levels.filter(pl.col("period_start") == row["period_start"])
        flags = list(zip(rows["in_value_area"], rows["is_poc"], strict=True))
        assert flags == want["flags"]
        assert row["period_start"] == max(label, start.replace(tzinfo=label.tzinfo))
    return len(ref)


def _days(run: Run) -> list[datetime]:
    q = Query("SELECT DISTINCT floor_us(ts, 86400000000) AS day FROM kline_ticks ORDER BY 1")
    return run(q)["day"].to_list()


def _step(run: Run) -> Decimal:
    return Decimal(run(Query("SELECT inferred_price_step(100000) AS step"))["step"][0])


def test_every_recording_every_period(recordings):
    """Each symbol, each UTC day it traded: as one range at its price step and ten steps,
    per minute at ten steps, per hour at one step; 70 %: SQL == reference."""
    checked = set()
    for key in recordings.symbols():
        run = runner(recordings, key)
        step = _step(run)
        for day in _days(run):
            end = day + timedelta(days=1)
            for period_us, steps in ((0, 1), (0, 10), (60_000_000, 10), (3_600_000_000, 1)):
                bucket = step * steps
                assert check_equal(run, day, end, bucket, period_us, Fraction(7, 10)) > 0
        checked.add(str(key))
    assert checked == {
        "binance/coinm/BTCUSD_PERP",
        "binance/coinm/ETHUSD_PERP",
        "binance/spot/BTCUSDT",
        "binance/spot/ETHUSDT",
        "binance/spot/XRPETH",
        "binance/usdm/BTCUSDT",
        "binance/usdm/ETHUSDT",
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_windows_buckets_and_shares(recordings, data):
    """Random windows inside a traded day, any period, buckets of 1-50 price steps and
    value-area shares of 1 % .. 100 %: SQL == reference."""
    keys = sorted(recordings.symbols(), key=str)
    run = runner(recordings, data.draw(st.sampled_from(keys), label="symbol"))
    day = data.draw(st.sampled_from(_days(run)), label="day")
    a = data.draw(st.integers(0, DAY_US - 1), label="from_us")
    b = data.draw(st.integers(a + 1, DAY_US), label="to_us")
    start, end = day + timedelta(microseconds=a), day + timedelta(microseconds=b)
    period_us = data.draw(st.sampled_from(PERIODS_US), label="period_us")
    bucket = _step(run) * data.draw(st.sampled_from((1, 2, 5, 10, 50)), label="steps")
    share = Fraction(data.draw(st.integers(1, 100), label="percent"), 100)
    check_equal(run, start, end, bucket, period_us, share)


def test_value_area_tie_and_edges_by_hand(tmp_path: Path):
    """Trades placed so the levels carry hand-worked volumes: the CBOT walk adds pairs, takes
    both pairs on a tie, and takes what remains at an edge."""
    from tests.analytics.rawdata import trades_table
    from tests.support.reference import Trade

    key = SymbolKey("binance", "spot", "ABCUSDT")
    t0 = datetime(2024, 1, 2, 10, tzinfo=UTC)
    cases = {
        # volumes by level (bucket 0.1 from 10.0), expected (VAL, VAH) at 70 %
        0: ([5, 30, 20, 100, 25, 25, 5], ("10.1", "10.5")),  # tie: both pairs
        1: ([5, 10, 70, 10, 100, 60, 50, 10, 5], ("10.2", "10.6")),  # pairs, not levels
        2: ([10, 30, 20, 50], ("10.1", "10.3")),  # top edge: only below remains
    }
    trades, tid = [], 1
    for hour, (volumes, _) in cases.items():
        for i, v in enumerate(volumes):
            price = Decimal("10.0") + Decimal("0.1") * i
            ts = t0 + timedelta(hours=hour, seconds=i)
            trades.append(Trade(tid, ts, price, Decimal(v), "buy", None))
            tid += 1
    with TickStore(tmp_path) as store:
        store.append(key, trades_table(trades), id_space="trade", source="test")
        with store.connection(key) as con:
            rows = con.execute(
                "SELECT val, vah FROM profile_summary(TIMESTAMP '2024-01-02 10:00', "
                "TIMESTAMP '2024-01-02 13:00', 0.1, period_us := 3600000000)"
            ).fetchall()
    assert rows == [tuple(Decimal(p) for p in want) for _, want in cases.values()]


# -- the three ways in: tapeflow sql, the Flight endpoint, a bare DuckDB connection ---------

PROFILE_SQL = (
    "SELECT poc, val, vah, shape, levels FROM profile_summary("
    "TIMESTAMP '2024-08-08 23:00', TIMESTAMP '2024-08-09 01:00', 0.5, "
    "period_us := 3600000000, value_area := 0.7)"
)
CM_BTC = SymbolKey("binance", "coinm", "BTCUSD_PERP")


@pytest.fixture(scope="module")
def cm_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple]]:
    """A store of the coin-M recordings and the expected profile rows, computed by the
    store's own connection."""
    root = tmp_path_factory.mktemp("profile_paths") / "data"
    with TickStore(root) as store:
        import_paths(store, [MARKET_DIR / "nkaz001_hftbacktest/examples/cm"], progress=False)
        with store.connection(CM_BTC) as con:
            expected = con.execute(PROFILE_SQL).fetchall()
    assert len(expected) == 2 and all(r[3] in {"P", "b", "D", "B", "thin"} for r in expected)
    return root, expected


def test_profile_through_tapeflow_sql(cm_root):
    import json

    from tests.sources.test_cli import run

    root, expected = cm_root
    res = run("sql", "BTCUSD_PERP", PROFILE_SQL, "--root", str(root), "--json")
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    got = [(Decimal(r["poc"]), Decimal(r["val"]), Decimal(r["vah"]), r["shape"]) for r in rows]
    assert got == [r[:4] for r in expected]


def test_profile_through_the_flight_endpoint(cm_root):
    from tapeflow.analytics.endpoint import FlightRunner, QueryEndpoint, find_endpoint

    root, expected = cm_root
    with TickStore(root) as store, QueryEndpoint(store):
        frame = FlightRunner(find_endpoint(root)).sql(CM_BTC, Query(PROFILE_SQL))
    assert frame.rows() == expected


def test_profile_on_a_bare_duckdb_connection(cm_root):
    from tapeflow.store.catalog import connect_with_catalog

    root, expected = cm_root
    con = connect_with_catalog(CM_BTC.path(root))  # every view and macro of sql/analytics/
    try:
        assert con.execute(PROFILE_SQL).fetchall() == expected
    finally:
        con.close()


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        ("0.5, value_area := 70", r"value_area must be a share in \(0, 1\]"),
        ("0, value_area := 0.5", "bucket must be a positive price increment"),
        ("0.5, period_us := -1", "period_us must be >= 0"),
    ],
)
@pytest.mark.parametrize("year", [2024, 2000])  # with trades, and a range without any
def test_bad_parameters_name_the_rule(recordings, args, rule, year):
    query = (
        f"SELECT * FROM profile_summary(TIMESTAMP '{year}-08-08 23:00', "
        f"TIMESTAMP '{year}-08-09 01:00', {args})"
    )
    with pytest.raises(Exception, match=rule):
        recordings.sql("binance/coinm/BTCUSD_PERP", query)
    with pytest.raises(Exception, match=rule):
        recordings.sql("binance/coinm/BTCUSD_PERP", query.replace("profile_summary", "profile"))


def test_the_macro_default_value_area_is_the_configs(recordings):
    from tapeflow.config.symbols import ProfileSettings

    share = Decimal(repr(ProfileSettings().value_area_pct)) / 100
    query = (
        "SELECT * FROM profile_summary(TIMESTAMP '2024-08-08 23:00', "
        "TIMESTAMP '2024-08-09 01:00', 0.1{})"
    )
    default = recordings.sql("binance/spot/ETHUSDT", query.format(""))
    assert default.height == 1 and default["value_area_share"][0] >= float(share)
    explicit = recordings.sql("binance/spot/ETHUSDT", query.format(f", value_area := {share}"))
    assert default.equals(explicit)
    other = recordings.sql("binance/spot/ETHUSDT", query.format(", value_area := 0.5"))
    assert not default.equals(other)
