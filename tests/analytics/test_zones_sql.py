"""Supply/demand zones: the SQL definition (sql/analytics/152_zones.sql) equals the
incremental tracker (tapeflow.analytics.zones) on every real recording, over timeframes and
parameters."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analytics.sql_vs_tracker import assert_same_rows


def test_real_data_exercises_every_status_and_origin(recordings) -> None:
    found = pl.concat(
        [recordings.sql(s, "SELECT status, pattern FROM zones('1m')") for s in recordings.symbols()]
    )
    assert set(found["status"]) == {"fresh", "tested", "broken"}
    assert set(found["pattern"]) == {"DBR", "RBR", "RBD", "DBD", "rejection"}


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tf=st.sampled_from(["1m", "5m", "15m"]),
    base_body_ratio=st.one_of(st.just(0.5), st.floats(0.05, 0.95)),
    max_base=st.integers(1, 8),
    departure_atr=st.one_of(st.just(1.5), st.floats(0.2, 4.0)),
    rejection_wick_ratio=st.one_of(st.just(0.6), st.floats(0.51, 0.99)),
    rejection_atr=st.one_of(st.just(1.0), st.floats(0.2, 3.0)),
    atr_period=st.integers(2, 20),
)
def test_sql_zones_equal_the_tracker_on_every_recording(recordings, tf, **params) -> None:
    args = ", ".join(
        f"{k} := CAST({v!r} AS DOUBLE)" if isinstance(v, float) else f"{k} := {v!r}"
        for k, v in params.items()
    )
    for symbol in recordings.symbols():
        tracker = recordings.zones(symbol, tf, **params)
        sql = recordings.sql(symbol, f"SELECT * FROM zones('{tf}', {args})")
        assert_same_rows(tracker, sql)


def test_a_range(recordings) -> None:
    symbol, start, end = "binance/spot/XRPETH", "2019-10-11 13:07", "2019-10-12 02:00"
    tracker = recordings.zones(symbol, "1m", start, end)
    sql = recordings.sql(symbol, f"FROM zones('1m', TIMESTAMP '{start}', TIMESTAMP '{end}')")
    assert tracker.height > 20
    assert_same_rows(tracker, sql)


def test_defaults(recordings) -> None:
    for symbol in recordings.symbols():
        assert_same_rows(recordings.zones(symbol, "1m"), recordings.sql(symbol, "FROM zones('1m')"))


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        ("base_body_ratio := 1.0", r"base_body_ratio must be in \(0, 1\)"),
        ("max_base := 0", "max_base and atr_period must be >= 1"),
        ("atr_period := 0", "atr_period must be >= 1"),
        ("rejection_wick_ratio := 0.5", r"rejection_wick_ratio must be in \(0.5, 1\)"),
        ("departure_atr := 0.0", "departure_atr and rejection_atr must be positive"),
    ],
)
def test_bad_parameters_name_the_rule(recordings, args, rule) -> None:
    with pytest.raises(Exception, match=rule):
        recordings.sql("binance/spot/XRPETH", f"FROM zones('1m', {args})")
