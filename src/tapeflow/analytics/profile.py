"""Market (volume) profile: volume by price level, point of control, value area, shape.

The definitions are SQL: ``sql/analytics/120_market_profile.sql`` (the traded levels: volume,
taker buy/sell volume and trades per price bucket) and
``sql/analytics/121_profile_value_area.sql`` (the dense levels, the POC, the CBOT value area
and the shape; its header states every rule). This module builds the queries and turns their
rows into frames and :class:`ProfileSummary` objects:

* **Levels.** A level ``L`` covers prices ``[L, L + bucket)`` and is labelled by its lower
  edge. ``bucket`` is the symbol's tick size (``symbol_meta.tick_size``) or a multiple of it.
  Levels without trades between the lowest and highest traded level are included with
  volume 0 (the value-area walk and the shape need the gaps).
* **POC** (point of control): the level with the most volume. Ties go to the level whose
  midpoint ``L + bucket/2`` is closest to the range's VWAP; if still tied, the lower level.
* **Value area** — the CBOT *Market Profile* handbook method: start at the POC; compare the
  volume of the next two levels above with the next two below; add the larger pair (one level
  if only one remains on that side; the other side if one side is exhausted; both pairs on an
  exact tie); repeat until the value area holds at least ``value_area`` (default 70 %) of the
  volume. **VAL**/**VAH** are the lowest/highest levels in it (lower edges).
* **Shape** (seed 001 §4.1 ``profile_shape``: "P", "b", normal, ...), decided in this order
  on the dense profile of ``n`` levels (index 0 = lowest):

  1. ``"D"`` if ``n < 5`` (too few levels to tell a shape).
  2. ``"B"`` (double distribution): group the levels into ``k = min(20, n // 2)`` contiguous
     bins of (nearly) equal level count (at least two levels each, which damps single-level
     noise) and sum their volume. With ``p`` the fullest bin, ``B`` if ``k >= 6`` and some
     other bin ``q`` at least two bins away is a local maximum holding at least half of
     ``p``'s volume while the emptiest bin strictly between them holds at most half of
     ``q``'s volume (a low-volume node separating two high-volume nodes).
  3. ``"thin"`` (elongated, trend-like): the value area spans at least 60 % of the levels.
  4. ``"P"``: the value area's lower edge is at or above 40 % of the range and its middle at
     or above 60 % — volume concentrated high with a thin tail below (short covering /
     buying into the session high).
  5. ``"b"``: the mirror — upper edge at or below 60 % and middle at or below 40 %.
  6. ``"D"`` (normal): otherwise.

  Positions are ``index / (n - 1)`` of the dense profile.

Frames returned (polars):

levels: ``period_start`` Datetime("us", "UTC"), ``level`` Decimal(18, 8), ``volume``,
``buy_volume``, ``sell_volume``, ``delta`` (Decimal(38, 8)), ``trades`` Int64,
``in_value_area`` Boolean, ``is_poc`` Boolean — sorted by period then level ascending.

summary (one row per period): ``period_start``, ``period_end`` Datetime("us", "UTC"),
``bucket``, ``low``, ``high``, ``vwap``, ``poc``, ``val``, ``vah`` (Decimal(18, 8); ``low`` and
``high`` are trade prices, ``poc``/``val``/``vah`` level lower edges), ``volume``,
``buy_volume``, ``sell_volume``, ``delta``, ``value_area_volume`` (Decimal(38, 8)), ``trades``
Int64, ``levels`` Int64, ``value_area_share`` Float64 (achieved share of volume), ``shape``
String.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import polars as pl

from tapeflow.analytics.errors import BucketError
from tapeflow.analytics.query import Query
from tapeflow.analytics.times import MIN_TS

VOL = pl.Decimal(38, 8)
PRICE = pl.Decimal(18, 8)
_UNIT = Decimal("0.00000001")


LEVEL_COLUMNS = (
    "period_start",
    "level",
    "volume",
    "buy_volume",
    "sell_volume",
    "delta",
    "trades",
    "in_value_area",
    "is_poc",
)


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """Figures of one profile period; see the module docstring."""

    period_start: datetime
    period_end: datetime
    bucket: Decimal
    low: Decimal | None
    high: Decimal | None
    vwap: Decimal | None
    poc: Decimal | None
    val: Decimal | None
    vah: Decimal | None
    volume: Decimal
    buy_volume: Decimal
    sell_volume: Decimal
    delta: Decimal
    value_area_volume: Decimal
    trades: int
    levels: int
    value_area_share: float | None
    shape: str | None


@dataclass(frozen=True, slots=True)
class MarketProfile:
    """One profile: its ``levels`` frame and its ``summary``."""

    levels: pl.DataFrame
    summary: ProfileSummary


@dataclass(frozen=True, slots=True)
class MarketProfiles:
    """Profiles per period: ``levels`` (with ``period_start``) and one ``summary`` row each."""

    levels: pl.DataFrame
    summary: pl.DataFrame


# -- queries ---------------------------------------------------------------------------


def tick_size_query() -> Query:
    """Query for the symbol's tick size (one row, one column; NULL when unknown)."""
    return Query("SELECT symbol_tick_size() AS tick_size")


def _levels_query(
    macro: str,
    start: datetime,
    end: datetime,
    bucket: Decimal,
    period_us: int,
    watermarks: Mapping[str, datetime] | None,
) -> Query:
    """``SELECT *`` from the levels macro ``macro`` (``profile_levels_at`` or
    ``profile_dense_at``) with the arguments of :func:`profile_levels_query`."""
    marks = watermarks or {}
    return Query(
        f"SELECT * FROM {macro}(CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), "
        "CAST(? AS DECIMAL(18, 8)), ?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP)) "
        "ORDER BY period_start, level",
        (start, end, str(bucket), period_us, marks.get("1m", MIN_TS), marks.get("1h", MIN_TS)),
    )


def profile_levels_query(
    start: datetime,
    end: datetime,
    bucket: Decimal,
    period_us: int = 0,
    watermarks: Mapping[str, datetime] | None = None,
) -> Query:
    """Query for the dense levels of the trades in ``[start, end)`` per period of
    ``period_us`` (0 = one period). ``watermarks``: the cache watermarks
    (:attr:`CandleState.watermarks <tapeflow.analytics.candles.CandleState>`); whole hours
    and minutes below them are read from the volume-at-price caches, the rest from the ticks
    (None: ticks only)."""
    return _levels_query("profile_levels_at", start, end, bucket, period_us, watermarks)


def _profile_args(
    start: datetime,
    end: datetime,
    bucket: Decimal,
    share: Fraction,
    period_us: int,
    watermarks: Mapping[str, datetime] | None,
) -> tuple[object, ...]:
    marks = watermarks or {}
    return (
        start,
        end,
        str(bucket),
        period_us,
        share_text(share),
        marks.get("1m", MIN_TS),
        marks.get("1h", MIN_TS),
    )


_PROFILE_ARGS = (
    "CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), CAST(? AS DECIMAL(18, 8)), ?, "
    "CAST(? AS DECIMAL(38, 16)), CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP)"
)


def profile_dense_query(
    start: datetime,
    end: datetime,
    bucket: Decimal,
    period_us: int = 0,
    watermarks: Mapping[str, datetime] | None = None,
) -> Query:
    """Query for the dense levels (``profile_dense_at``: every level from the lowest to the
    highest traded one, ``level_index`` 0 = lowest) of the trades in ``[start, end)`` per
    period of ``period_us`` (0 = one period); arguments as :func:`profile_levels_query`."""
    return _levels_query("profile_dense_at", start, end, bucket, period_us, watermarks)


def profile_summary_query(
    start: datetime,
    end: datetime,
    bucket: Decimal,
    share: Fraction,
    period_us: int = 0,
    watermarks: Mapping[str, datetime] | None = None,
) -> Query:
    """Query for one summary row per period that traded (``profile_summary_at``: POC,
    VAL/VAH, shape, ...) of the trades in ``[start, end)`` per period of ``period_us``
    (0 = one period); arguments as :func:`profile_levels_query`, ``share`` the value-area
    share."""
    return Query(
        f"SELECT * FROM profile_summary_at({_PROFILE_ARGS})",
        _profile_args(start, end, bucket, share, period_us, watermarks),
    )


def share_text(share: Fraction) -> str:
    """The value-area share as the exact decimal text the SQL takes (at most 16 decimals).

    Raises:
        ValueError: the share is not a decimal of at most 16 places.
    """
    value = Decimal(share.numerator) / Decimal(share.denominator)
    if Fraction(value) != share or value != value.quantize(Decimal(10) ** -16):
        raise ValueError(f"value_area must have at most 16 decimals, got {float(share)!r}")
    return str(value)


def check_bucket(bucket: Decimal | str | float | int | None, tick_size: Decimal | None) -> Decimal:
    """The profile bucket to use: ``bucket`` if given (a positive multiple of the tick size
    when that is known, at most 8 decimals), else the tick size.

    Floats are read through their shortest repr (``0.1`` -> ``Decimal("0.1")``).

    Raises:
        BucketError: no bucket and no tick size, or a bucket that is not usable.
    """
    if bucket is None:
        if tick_size is None:
            raise BucketError(
                "no profile bucket: pass bucket= (a price increment, e.g. Decimal('0.1')) or "
                "record the symbol's tick size (TickStore.set_tick_size)"
            )
        return Decimal(tick_size).quantize(_UNIT)
    if isinstance(bucket, bool):
        raise BucketError(f"bucket must be a price increment, got {bucket!r}")
    try:
        value = Decimal(repr(bucket)) if isinstance(bucket, float) else Decimal(bucket)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise BucketError(f"bucket must be a price increment, got {bucket!r}") from exc
    if not value.is_finite() or value <= 0:
        raise BucketError(f"bucket must be positive, got {bucket!r}")
    if value != value.quantize(_UNIT) or value >= Decimal(10) ** 10:
        raise BucketError(f"bucket {bucket!r} must have at most 8 decimals and be < 1e10")
    if tick_size is not None and value % Decimal(tick_size) != 0:
        raise BucketError(
            f"bucket {value} is not a multiple of the symbol's tick size {Decimal(tick_size)}"
        )
    return value.quantize(_UNIT)


def check_value_area(value_area: float) -> Fraction:
    """``value_area`` as an exact fraction in (0, 1] (floats read through their shortest
    repr, ``0.7`` -> 7/10).

    Raises:
        ValueError: outside (0, 1], not a number, or more than 16 decimals.
    """
    if isinstance(value_area, bool) or not isinstance(value_area, int | float | Decimal):
        raise ValueError(f"value_area must be a number in (0, 1], got {value_area!r}")
    share = Fraction(Decimal(repr(value_area)) if isinstance(value_area, float) else value_area)
    if not 0 < share <= 1:
        raise ValueError(f"value_area must be in (0, 1], got {value_area!r}")
    share_text(share)
    return share


# -- rows to frames ------------------------------------------------------------------------


def build_profiles(
    dense: pl.DataFrame,
    summary: pl.DataFrame,
    *,
    bucket: Decimal,
    start: datetime,
    periods: list[tuple[datetime, datetime]] | None = None,
) -> tuple[pl.DataFrame, list[ProfileSummary]]:
    """Levels frame (:data:`LEVEL_COLUMNS`) and one :class:`ProfileSummary` per period.

    Args:
        dense: rows of ``profile_dense_at`` (:func:`profile_dense_query`).
        summary: rows of ``profile_summary_at`` (:func:`profile_summary_query`), one per
            period that traded; its ``poc_index`` / ``val_index`` / ``vah_index`` mark the
            levels (``is_poc``, ``in_value_area``).
        bucket: the level size.
        start: the range's start (UTC): periods are labelled clipped to it, as in SQL.
        periods: ``(period_start, period_end)`` of every period to report, including those
            without trades (they get an empty summary); None: the periods of ``summary``.
    """
    named = summary.select(list(SUMMARY_SCHEMA)).iter_rows(named=True)
    rows = {r["period_start"]: r for r in named}
    if periods is None:
        periods = [(r["period_start"], r["period_end"]) for r in rows.values()]
    summaries = [
        ProfileSummary(**rows[p]) if p in rows else _empty_summary(p, end, bucket)
        for p, end in periods
    ]
    ts = SUMMARY_SCHEMA["period_start"]
    marks = summary.select(pl.col("period_start").cast(ts), "poc_index", "val_index", "vah_index")
    index = pl.col("level_index")
    frame = (
        dense.with_columns(pl.col("period_start").cast(ts).clip(lower_bound=start))
        .join(marks, on="period_start", how="inner", maintain_order="left")
        .with_columns(
            in_value_area=index.is_between(pl.col("val_index"), pl.col("vah_index")),
            is_poc=index == pl.col("poc_index"),
        )
        .select(LEVEL_COLUMNS)
        .with_columns(
            *(pl.col(c).cast(VOL) for c in ("volume", "buy_volume", "sell_volume", "delta")),
            pl.col("level").cast(PRICE),
            pl.col("trades").cast(pl.Int64),
        )
    )
    return frame, summaries


def _empty_summary(start: datetime, end: datetime, bucket: Decimal) -> ProfileSummary:
    zero = Decimal(0).quantize(_UNIT)
    return ProfileSummary(
        start, end, bucket, None, None, None, None, None, None,
        zero, zero, zero, zero, zero, 0, 0, None, None,
    )  # fmt: skip


SUMMARY_SCHEMA = {
    "period_start": pl.Datetime("us", "UTC"),
    "period_end": pl.Datetime("us", "UTC"),
    "bucket": PRICE,
    "low": PRICE,
    "high": PRICE,
    "vwap": PRICE,
    "poc": PRICE,
    "val": PRICE,
    "vah": PRICE,
    "volume": VOL,
    "buy_volume": VOL,
    "sell_volume": VOL,
    "delta": VOL,
    "value_area_volume": VOL,
    "trades": pl.Int64,
    "levels": pl.Int64,
    "value_area_share": pl.Float64,
    "shape": pl.String,
}


def summary_frame(summaries: list[ProfileSummary]) -> pl.DataFrame:
    """The summaries as a frame (columns :data:`SUMMARY_SCHEMA`)."""
    return pl.DataFrame(
        {name: [getattr(s, name) for s in summaries] for name in SUMMARY_SCHEMA},
        schema=SUMMARY_SCHEMA,
    )
