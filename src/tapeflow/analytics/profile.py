"""Market (volume) profile: volume by price level, point of control, value area, shape.

Levels come from SQL (``sql/analytics/120_market_profile.sql``: volume, taker buy/sell volume and
trades per price bucket). This module is the one implementation of what is computed from
them, all in exact integer arithmetic (volumes in 1e-8 base units):

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
* **Shape**, decided in this order on the dense profile of ``n`` levels (index 0 = lowest):

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

from collections.abc import Callable, Mapping
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
_SCALE = 10**8

SHAPE_BINS = 20
MIN_B_BINS = 6
MIN_SHAPE_LEVELS = 5
THIN_SHARE = Fraction(3, 5)
P_LOW_EDGE, P_MIDDLE = Fraction(2, 5), Fraction(3, 5)
B_HIGH_EDGE, B_MIDDLE = Fraction(3, 5), Fraction(2, 5)

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
    marks = watermarks or {}
    return Query(
        "SELECT * FROM profile_levels_at(CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), "
        "CAST(? AS DECIMAL(18, 8)), ?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP)) "
        "ORDER BY period_start, level",
        (start, end, str(bucket), period_us, marks.get("1m", MIN_TS), marks.get("1h", MIN_TS)),
    )


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
    """``value_area`` as an exact fraction in (0, 1].

    Raises:
        ValueError: outside (0, 1] or not a number.
    """
    if isinstance(value_area, bool) or not isinstance(value_area, int | float | Decimal):
        raise ValueError(f"value_area must be a number in (0, 1], got {value_area!r}")
    share = Fraction(Decimal(repr(value_area)) if isinstance(value_area, float) else value_area)
    if not 0 < share <= 1:
        raise ValueError(f"value_area must be in (0, 1], got {value_area!r}")
    return share


# -- the computations ---------------------------------------------------------------------


def point_of_control(volumes: list[int], offset: Callable[[int], Fraction | int]) -> int:
    """Index of the POC: the most volume; ties -> the smallest ``|offset(i)|`` (the level
    midpoint minus the VWAP); then the lowest index."""
    top = max(volumes)
    candidates = [i for i, v in enumerate(volumes) if v == top]
    return min(candidates, key=lambda i: (abs(offset(i)), i))


def value_area(volumes: list[int], poc: int, share: Fraction) -> tuple[int, int]:
    """``(low index, high index)`` of the CBOT value area around ``poc`` (inclusive).

    ``volumes`` are the dense levels from low to high price; see the module docstring.
    """
    total = sum(volumes)
    target = share * total
    lo = hi = poc
    acc = volumes[poc]
    n = len(volumes)
    while acc < target:
        up_n, down_n = min(2, n - 1 - hi), min(2, lo)
        if up_n == 0 and down_n == 0:
            break
        up = sum(volumes[hi + 1 : hi + 1 + up_n])
        down = sum(volumes[lo - down_n : lo])
        if down_n == 0 or (up_n and up > down):
            hi += up_n
            acc += up
        elif up_n == 0 or down > up:
            lo -= down_n
            acc += down
        else:  # exact tie with both sides available: take both pairs
            hi += up_n
            lo -= down_n
            acc += up + down
    return lo, hi


def _double_distribution(volumes: list[int]) -> bool:
    n = len(volumes)
    k = min(SHAPE_BINS, n // 2)
    if k < MIN_B_BINS:
        return False
    bins = [sum(volumes[g * n // k : (g + 1) * n // k]) for g in range(k)]
    p = max(range(k), key=lambda i: (bins[i], -i))
    for q in range(k):
        if abs(q - p) < 2 or 2 * bins[q] < bins[p]:
            continue
        left = bins[q - 1] if q > 0 else -1
        right = bins[q + 1] if q < k - 1 else -1
        if bins[q] < left or bins[q] < right:
            continue
        valley = min(bins[min(p, q) + 1 : max(p, q)])
        if 2 * valley <= bins[q]:
            return True
    return False


def classify_shape(volumes: list[int], lo: int, hi: int) -> str:
    """Profile shape ``"P" | "b" | "D" | "B" | "thin"``; rules in the module docstring."""
    n = len(volumes)
    if n < MIN_SHAPE_LEVELS:
        return "D"
    if _double_distribution(volumes):
        return "B"
    if Fraction(hi - lo + 1, n) >= THIN_SHARE:
        return "thin"
    low_edge, high_edge = Fraction(lo, n - 1), Fraction(hi, n - 1)
    middle = (low_edge + high_edge) / 2
    if low_edge >= P_LOW_EDGE and middle >= P_MIDDLE:
        return "P"
    if high_edge <= B_HIGH_EDGE and middle <= B_MIDDLE:
        return "b"
    return "D"


def _units(value: Decimal) -> int:
    return int(value.scaleb(8))


def _dec(units: int | Fraction) -> Decimal:
    """1e-8 units (a fraction is rounded half up) as a Decimal with 8 places."""
    if isinstance(units, Fraction):
        units = (2 * units.numerator + units.denominator) // (2 * units.denominator)
    return Decimal(units).scaleb(-8).quantize(_UNIT)


def dense_levels(raw: pl.DataFrame, step: int) -> pl.DataFrame:
    """Every level from the lowest to the highest traded one of each period (``step``: the
    bucket in 1e-8 units): the traded rows of ``raw`` (``profile_levels_at``) and the levels
    between them with volume 0. Sorted by period, level; adds ``sell_volume``, ``delta``."""
    vol = raw.schema["volume"]
    grid = (
        raw.group_by("period_start", maintain_order=True)
        .agg(pl.int_ranges(pl.col("level_units").min(), pl.col("level_units").max() + 1, step))
        .explode("level_units")
    )
    unit = pl.lit(_UNIT, dtype=PRICE)
    return (
        grid.join(
            raw.drop("level"), on=["period_start", "level_units"], how="left", maintain_order="left"
        )
        .with_columns(
            (pl.col("level_units").cast(pl.Decimal(38, 0)) * unit).cast(PRICE).alias("level"),
            *(pl.col(c).fill_null(0).cast(vol) for c in ("volume", "buy_volume")),
            pl.col("trades").fill_null(0),
            pl.col("volume_units").fill_null(0).cast(pl.Int128),
        )
        .with_columns((pl.col("volume") - pl.col("buy_volume")).cast(vol).alias("sell_volume"))
        .with_columns((pl.col("buy_volume") - pl.col("sell_volume")).cast(vol).alias("delta"))
    )


def build_profiles(
    raw: pl.DataFrame,
    *,
    bucket: Decimal,
    share: Fraction,
    periods: list[tuple[datetime, datetime]],
) -> tuple[pl.DataFrame, list[ProfileSummary]]:
    """Levels frame (:data:`LEVEL_COLUMNS`) and one :class:`ProfileSummary` per period.

    Args:
        raw: rows of ``profile_levels_at`` (:func:`profile_levels_query`): the traded levels.
        bucket: the level size.
        share: the value-area share.
        periods: ``(period_start, period_end)`` of every period to report, including those
            without trades (they get an empty summary).
    """
    step = _units(bucket)
    levels = dense_levels(raw, step)
    groups = (
        {key[0]: g for key, g in levels.group_by("period_start", maintain_order=True)}
        if levels.height
        else {}
    )
    summaries, flags = [], []
    for start, end in periods:
        group = groups.get(start)
        if group is None:
            summaries.append(_empty_summary(start, end, bucket))
            continue
        summary, lo, hi, poc = _one_period(group, start, end, bucket, step, share)
        summaries.append(summary)
        flags.append((start, lo, hi, poc))
    marks = pl.DataFrame(
        flags,
        schema={
            "period_start": levels.schema["period_start"],
            "_lo": pl.Int64,
            "_hi": pl.Int64,
            "_poc": pl.Int64,
        },
        orient="row",
    )
    idx = pl.int_range(pl.len()).over("period_start")
    levels = (
        levels.join(marks, on="period_start", how="inner", maintain_order="left")
        .with_columns(
            in_value_area=idx.is_between(pl.col("_lo"), pl.col("_hi")),
            is_poc=idx == pl.col("_poc"),
        )
        .select(LEVEL_COLUMNS)
    )
    return levels, summaries


def _empty_summary(start: datetime, end: datetime, bucket: Decimal) -> ProfileSummary:
    zero = Decimal(0).quantize(_UNIT)
    return ProfileSummary(
        start, end, bucket, None, None, None, None, None, None,
        zero, zero, zero, zero, zero, 0, 0, None, None,
    )  # fmt: skip


def _one_period(
    group: pl.DataFrame,
    start: datetime,
    end: datetime,
    bucket: Decimal,
    step: int,
    share: Fraction,
) -> tuple[ProfileSummary, int, int, int]:
    vol = group["volume_units"].to_list()
    n = len(vol)
    first = group["level_units"][0]
    total = sum(vol)
    # VWAP in 1e-8 price units, exact: sum(price * qty) * 1e8 / (total / 1e8)
    quote = Fraction(group["quote_volume"].sum())
    vwap = quote * _SCALE * _SCALE / total
    half = Fraction(step, 2)
    poc = point_of_control(vol, lambda i: first + i * step + half - vwap)
    lo, hi = value_area(vol, poc, share)
    va_volume = sum(vol[lo : hi + 1])
    buy = _units(group["buy_volume"].sum())
    summary = ProfileSummary(
        period_start=start,
        period_end=end,
        bucket=bucket,
        low=group["low"].min(),
        high=group["high"].max(),
        vwap=_dec(vwap),
        poc=_dec(first + poc * step),
        val=_dec(first + lo * step),
        vah=_dec(first + hi * step),
        volume=_dec(total),
        buy_volume=_dec(buy),
        sell_volume=_dec(total - buy),
        delta=_dec(2 * buy - total),
        value_area_volume=_dec(va_volume),
        trades=int(group["trades"].sum()),
        levels=n,
        value_area_share=va_volume / total,
        shape=classify_shape(vol, lo, hi),
    )
    return summary, lo, hi, poc


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
