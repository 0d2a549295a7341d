"""Comparing a SQL result (``sql/analytics/``) with the Python tracker's frame, row by row."""

from __future__ import annotations

import polars as pl


def naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its UTC datetimes as naive UTC (SQL returns TIMESTAMP)."""
    return frame.with_columns(pl.col(pl.Datetime).dt.replace_time_zone(None))


def assert_same_rows(tracker: pl.DataFrame, sql: pl.DataFrame) -> None:
    """Equal column names, row count and every value: times, exact decimals, strings, ints,
    and floats bit for bit (both sides do the same IEEE operations)."""
    a, b = naive_utc(tracker), naive_utc(sql)
    assert a.columns == b.columns
    assert a.height == b.height
    for name in a.columns:
        left, right = a[name], b[name]
        if left.dtype.is_decimal():
            assert right.dtype.is_decimal(), name
            assert left.to_list() == right.to_list(), name
        else:
            assert left.to_list() == right.cast(left.dtype).to_list(), name
