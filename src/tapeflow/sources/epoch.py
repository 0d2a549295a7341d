"""Epoch integers of unknown unit → ``timestamp[us, UTC]``, by magnitude.

Binance switched its spot archives from milliseconds to microseconds on 2025-01-01, and
captures stamp lines in ns (hftbacktest 2024) or µs (``*.dat.gz``). For dates between 1973
and 5138 the units do not overlap: a value below ``1e14`` is ms, below ``1e17`` µs, else ns.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

TS_TYPE = pa.timestamp("us", tz="UTC")

_MS_BELOW = 10**14
_US_BELOW = 10**17


def epoch_to_us(value: int) -> int:
    """One epoch integer (ms, µs or ns, by magnitude) in µs."""
    if value < _MS_BELOW:
        return value * 1000
    if value < _US_BELOW:
        return value
    return value // 1000


def epoch_array_to_ts(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """An int64 array of epoch values (each ms, µs or ns by magnitude) as timestamp[us, UTC].

    Nulls stay null. Values are converted one by one, so a file that mixes units (it should
    not) still lands right.
    """
    values = values.cast(pa.int64())
    us = pc.if_else(
        pc.less(values, _MS_BELOW),
        pc.multiply(values, 1000),
        pc.if_else(pc.less(values, _US_BELOW), values, pc.divide(values, 1000)),
    )
    return us.cast(TS_TYPE)


def epoch_unit_array_to_ts(values: pa.Array | pa.ChunkedArray, unit: str):
    """An int64 array in a known ``unit`` (``"ms"``, ``"us"``, ``"ns"``) as timestamp[us, UTC]."""
    values = values.cast(pa.int64())
    if unit == "ms":
        values = pc.multiply(values, 1000)
    elif unit == "ns":
        values = pc.divide(values, 1000)
    elif unit != "us":
        raise ValueError(f"unknown epoch unit {unit!r}")
    return values.cast(TS_TYPE)
