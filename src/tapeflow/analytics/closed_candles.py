"""The closed-candle input shared by indicators and pattern detectors.

Every detector in ``tapeflow.analytics`` (indicators, FVGs, zones, swing structure) reads the
*continuous closed candle frame* produced by the candle query API: a polars DataFrame sorted by
``open_time`` with at least

========== ================================= ============================================
column     dtype                             meaning
========== ================================= ============================================
open_time  Datetime("us", "UTC")             interval start
open       Decimal or Float64                first trade price (quote per base)
high       Decimal or Float64                highest trade price
low        Decimal or Float64                lowest trade price
close      Decimal or Float64                last trade price
closed     Boolean (optional)                False for the still-forming last interval
segment    Int64 (optional)                  continuity segment (:mod:`~tapeflow.analytics.
                                             segments`); absent = one segment
========== ================================= ============================================

Rows with ``closed == False`` are provisional and are dropped: every result here is a function
of closed candles only. Where ``segment`` changes the series breaks at a data gap: every
detector runs on each segment on its own (:func:`segments`), so no indicator, gap, zone or
swing joins candles across a break. Indicator math runs in Float64; pattern *boundaries*
(gap, zone and order-block edges) are candle prices and stay exact as
:class:`~decimal.Decimal`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal

import polars as pl

from tapeflow.model.candles import Candle
from tapeflow.model.errors import TapeflowError

PRICE_COLUMNS = ("open", "high", "low", "close")
REQUIRED_COLUMNS = ("open_time", *PRICE_COLUMNS)
#: Exact price dtype used when the candles carry Float64 prices.
DEFAULT_PRICE_DTYPE = pl.Decimal(38, 8)


class CandleFrameError(TapeflowError, ValueError):
    """The candle frame does not satisfy the closed-candle contract."""


def closed_candles(candles: pl.DataFrame, as_of: datetime | None = None) -> pl.DataFrame:
    """Validate the frame and keep closed candles with ``open_time <= as_of``.

    Raises:
        CandleFrameError: a required column is missing, a price column is neither Decimal nor
            numeric, or ``open_time`` is not strictly increasing.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in candles.columns]
    if missing:
        raise CandleFrameError(f"candle frame lacks column(s) {missing}; need {REQUIRED_COLUMNS}")
    for col in PRICE_COLUMNS:
        dtype = candles.schema[col]
        if not (dtype.is_decimal() or dtype.is_numeric()):
            raise CandleFrameError(f"column {col!r} must be Decimal or Float64, got {dtype}")
    if not isinstance(candles.schema["open_time"], pl.Datetime):
        raise CandleFrameError(f"open_time must be Datetime, got {candles.schema['open_time']}")
    frame = candles
    if "closed" in frame.columns:
        frame = frame.filter(pl.col("closed"))
    if as_of is not None:
        frame = frame.filter(pl.col("open_time") <= as_of)
    times = frame["open_time"]
    if times.len() > 1 and not (times.diff().drop_nulls().dt.total_microseconds() > 0).all():
        raise CandleFrameError("open_time must be strictly increasing (sorted, no duplicates)")
    return frame


def segments(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """The validated frame cut into its continuity segments, oldest first (the whole frame
    when it has no ``segment`` column). Detectors run on each one separately."""
    if "segment" not in frame.columns or frame.height == 0:
        return [frame]
    return frame.partition_by("segment", maintain_order=True)


def last_segment(frame: pl.DataFrame) -> pl.DataFrame:
    """The candles of the validated frame's last continuity segment (see :func:`segments`)."""
    if "segment" not in frame.columns or frame.height == 0:
        return frame
    return frame.filter(pl.col("segment") == frame["segment"][-1])


def float_prices(frame: pl.DataFrame) -> pl.DataFrame:
    """``open_time`` plus ``open, high, low, close`` cast to Float64 (for indicator math)."""
    return frame.select("open_time", *(pl.col(c).cast(pl.Float64) for c in PRICE_COLUMNS))


def _exact(value: Decimal | float) -> Decimal:
    # Float columns: the shortest repr is the decimal the float was parsed from.
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def iter_candles(frame: pl.DataFrame) -> Iterator[Candle]:
    """Yield :class:`Candle` rows (exact prices) from an already validated frame."""
    cols = [frame[c].to_list() for c in REQUIRED_COLUMNS]
    for t, o, h, lo, c in zip(*cols, strict=True):
        yield Candle(t, _exact(o), _exact(h), _exact(lo), _exact(c))


def price_dtype(frame: pl.DataFrame) -> pl.DataType:
    """Polars dtype for exact price outputs: the input's Decimal dtype, else Decimal(38, 8)."""
    dtype = frame.schema["close"]
    return dtype if dtype.is_decimal() else DEFAULT_PRICE_DTYPE


def records_frame(items: Sequence[object], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """One row per item, each ``schema`` column taken from the item's attribute of the same
    name (the result frames of swings, breaks, zones and order blocks)."""
    names = list(schema)
    rows = [tuple(getattr(item, n) for n in names) for item in items]
    return pl.DataFrame(rows, schema=schema, orient="row")
