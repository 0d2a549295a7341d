"""Timeframe names, widths and epoch-aligned bucket arithmetic (Python and SQL agree)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tapeflow.analytics.errors import UnknownTimeframeError
from tapeflow.model.timeframes import (
    PERIODS,
    WIDTH_US,
    ceil_time,
    check_timeframe,
    floor_time,
    timeframe_delta,
)
from tests.analytics.conftest import USDM_BTC


def test_python_and_sql_widths_agree(ta):
    for tf in PERIODS:
        got = ta.sql(USDM_BTC, "SELECT timeframe_us(?) AS w", [tf])["w"][0]
        assert got == WIDTH_US[tf] == timeframe_delta(tf).total_seconds() * 1_000_000


def test_sql_macro_names_exactly_the_python_table(ta):
    """Every name of the ``timeframe_us`` macro, with its width, is the Python table's."""
    definition = ta.sql(
        USDM_BTC,
        "SELECT macro_definition FROM duckdb_functions() WHERE function_name = 'timeframe_us'",
    )["macro_definition"][0]
    pairs = re.findall(r"'(\w+)'\)*\s+THEN\s+\(*CAST\((\d+) AS BIGINT\)", definition)
    assert {name: int(width) for name, width in pairs} == WIDTH_US


@pytest.mark.parametrize(
    ("t", "tf", "floor", "ceil"),
    [
        (
            datetime(2024, 7, 19, 3, 59, 59, 999999),
            "4h",
            datetime(2024, 7, 19),
            datetime(2024, 7, 19, 4),
        ),
        (datetime(2024, 7, 19, 4), "4h", datetime(2024, 7, 19, 4), datetime(2024, 7, 19, 4)),
        (
            datetime(2024, 7, 19, 0, 7, 30),
            "5m",
            datetime(2024, 7, 19, 0, 5),
            datetime(2024, 7, 19, 0, 10),
        ),
        (datetime(2024, 7, 19, 23, 1), "1d", datetime(2024, 7, 19), datetime(2024, 7, 20)),
    ],
)
def test_epoch_aligned_buckets(ta, t, tf, floor, ceil):
    assert floor_time(t, tf) == floor and ceil_time(t, tf) == ceil
    sql = ta.sql(
        USDM_BTC,
        "SELECT floor_us(CAST(? AS TIMESTAMP), timeframe_us(?)) AS f, "
        "ceil_us(CAST(? AS TIMESTAMP), timeframe_us(?)) AS c",
        [t, tf, t, tf],
    ).row(0)
    assert tuple(v.replace(tzinfo=None) for v in sql) == (floor, ceil)


def test_unknown_names():
    with pytest.raises(UnknownTimeframeError, match="'3m'"):
        check_timeframe("3m")
    with pytest.raises(UnknownTimeframeError):
        check_timeframe("1d")  # a profile period, not a candle timeframe
    assert check_timeframe("1d", PERIODS) == "1d"
