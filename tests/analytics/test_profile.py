"""Market profile: the CBOT value-area walk on hand-worked examples, POC ties, shapes, and
levels on real data against the raw recordings with several bucket sizes."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest

import tapeflow
from tapeflow.analytics.errors import BucketError, UnknownTimeframeError
from tapeflow.analytics.profile import profile_levels_query
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.timeframes import timeframe_delta
from tapeflow.store import TickStore
from tests.analytics.conftest import SPOT_BTC, SPOT_XRP, TRADES, USDM_BTC
from tests.analytics.profile_reference import classify_shape, point_of_control, value_area
from tests.analytics.rawdata import trades_table
from tests.support.reference import Trade, counted

SEVENTY = Fraction(7, 10)


# -- the value-area walk, worked by hand ----------------------------------------------------


def test_value_area_adds_pairs_not_single_levels():
    # level:    0   1   2   3    4   5   6   7  8
    volumes = [5, 10, 70, 10, 100, 60, 50, 10, 5]  # total 320, 70 % = 224
    # start at the POC (4): 100
    # 1) above (5,6) = 110 vs below (3,2) = 80 -> add above: 210, area 4..6
    # 2) above (7,8) = 15  vs below (3,2) = 80 -> add below: 290, area 2..6 (>= 224, stop)
    # A one-level-at-a-time walk would instead take 5, 6, then 7/3 ... and end at 3..7.
    assert value_area(volumes, 4, SEVENTY) == (2, 6)


def test_value_area_at_the_edge_takes_what_remains():
    volumes = [10, 30, 20, 50]  # POC 3 on top: total 110, 70 % = 77
    # above: nothing left; below (2,1) = 50 -> 100 >= 77
    assert value_area(volumes, 3, SEVENTY) == (1, 3)
    volumes = [40, 50, 10]  # POC 1: total 100, target 70
    # above: one level (2) = 10; below: one level (0) = 40 -> add below: 90
    assert value_area(volumes, 1, SEVENTY) == (0, 1)


def test_value_area_tie_takes_both_pairs():
    volumes = [5, 30, 20, 100, 25, 25, 5]  # total 210, 70 % = 147
    # above (4,5) = 50, below (2,1) = 50: a tie -> both: 200, area 1..5
    assert value_area(volumes, 3, SEVENTY) == (1, 5)


def test_value_area_share_is_configurable():
    volumes = [5, 10, 70, 10, 100, 60, 50, 10, 5]
    assert value_area(volumes, 4, Fraction(1, 4)) == (4, 4)  # POC alone holds 31.25 %
    assert value_area(volumes, 4, Fraction(1, 2)) == (4, 6)  # 210 / 320 = 65.6 %
    assert value_area(volumes, 4, Fraction(1)) == (0, 8)


def test_poc_tie_goes_to_the_level_nearest_the_vwap():
    volumes = [1, 5, 1, 5, 1]
    # level midpoints minus the VWAP: level 1 is 0.096 away, level 3 is 0.104 away
    offsets = [Fraction(-296, 1000), Fraction(-96, 1000), 0, Fraction(104, 1000), 1]
    assert point_of_control(volumes, offsets.__getitem__) == 1
    # equidistant: the lower level
    assert point_of_control(volumes, [0, -1, 0, 1, 0].__getitem__) == 1


# -- shapes --------------------------------------------------------------------------------


def bell(n: int, center: float, sigma: float, height: float = 1000) -> list[int]:
    return [round(height * math.exp(-(((i - center) / sigma) ** 2) / 2)) for i in range(n)]


def shape_of(volumes: list[int]) -> str:
    poc = volumes.index(max(volumes))
    lo, hi = value_area(volumes, poc, SEVENTY)
    return classify_shape(volumes, lo, hi)


def test_shapes():
    assert shape_of(bell(41, 20, 6)) == "D"
    tail = [20] * 41
    p_shape = [a + b for a, b in zip(bell(41, 32, 3), tail[:22] + [0] * 19, strict=True)]
    assert shape_of(p_shape) == "P"
    assert shape_of(p_shape[::-1]) == "b"
    double = [a + b for a, b in zip(bell(41, 9, 3), bell(41, 31, 3, 900), strict=True)]
    assert shape_of(double) == "B"
    assert shape_of([100 + (i * 7919) % 13 for i in range(41)]) == "thin"
    assert shape_of([1, 3, 2]) == "D"  # too few levels to tell


# -- end to end on a constructed tape ------------------------------------------------------


def test_profile_of_a_hand_worked_tape(tmp_path: Path):
    """Trades placed so the levels of bucket 0.1 carry the volumes of the first example."""
    key = SymbolKey("binance", "spot", "ABCUSDT")
    volumes = [5, 10, 70, 10, 100, 60, 50, 10, 5]
    t0 = datetime(2024, 1, 2, 10, tzinfo=UTC)
    trades = []
    for i, v in enumerate(volumes):
        # two trades per level, inside [10.0 + i/10, 10.1 + i/10): one buy, one sell
        price = Decimal("10.0") + Decimal(i) / 10
        for j, (p, q, side) in enumerate(
            [(price, Decimal(v) - 1, "buy"), (price + Decimal("0.09"), Decimal(1), "sell")]
        ):
            trades.append(
                Trade(100 + 2 * i + j, t0 + timedelta(seconds=2 * i + j), p, q, side, None)
            )
    with TickStore(tmp_path) as store:
        store.append(key, trades_table(trades), id_space="trade")
        store.set_tick_size(key, "0.01")
    with tapeflow.open(tmp_path) as ta:
        prof = ta.market_profile(key, t0, t0 + timedelta(minutes=1), bucket="0.1")
    s = prof.summary
    assert prof.levels["volume"].to_list() == [Decimal(v) for v in volumes]
    assert prof.levels["level"].to_list() == [Decimal("10.0") + Decimal(i) / 10 for i in range(9)]
    assert (s.poc, s.val, s.vah) == (Decimal("10.4"), Decimal("10.2"), Decimal("10.6"))
    assert s.value_area_volume == 290 and s.volume == 320
    assert s.buy_volume == 320 - 9 and s.sell_volume == 9 and s.delta == 320 - 18
    assert s.low == Decimal("10.0") and s.high == Decimal("10.89") and s.trades == 18
    assert prof.levels.filter("in_value_area")["level"].to_list() == [
        Decimal("10.2"), Decimal("10.3"), Decimal("10.4"), Decimal("10.5"), Decimal("10.6")
    ]  # fmt: skip
    assert prof.levels.filter("is_poc")["level"].to_list() == [Decimal("10.4")]


# -- real data -----------------------------------------------------------------------------


def reference_levels(trades, bucket: Decimal, start, end) -> dict[Decimal, list[Decimal]]:
    """level -> [volume, buy volume] from the raw trades (level = price floored to bucket)."""
    out: dict[Decimal, list[Decimal]] = {}
    for t in trades:
        if counted(t) and start <= t.ts < end:
            level = (t.price // bucket) * bucket
            v = out.setdefault(level, [Decimal(0), Decimal(0)])
            v[0] += t.quantity
            if t.side == "buy":
                v[1] += t.quantity
    return out


def reference_value_area(volumes: list[Decimal], poc: int, share: Decimal) -> tuple[int, int]:
    """A plain restatement of the CBOT rule for the real-data check."""
    lo = hi = poc
    acc, total = volumes[poc], sum(volumes)
    while acc < share * total and (lo > 0 or hi < len(volumes) - 1):
        up = volumes[hi + 1 : hi + 3]
        down = volumes[max(lo - 2, 0) : lo]
        if sum(up) > sum(down) or not down:
            hi, acc = hi + len(up), acc + sum(up)
        elif sum(down) > sum(up) or not up:
            lo, acc = lo - len(down), acc + sum(down)
        else:
            hi, lo, acc = hi + len(up), lo - len(down), acc + sum(up) + sum(down)
    return lo, hi


WINDOW = {
    USDM_BTC: (datetime(2024, 7, 18, tzinfo=UTC), datetime(2024, 7, 20, tzinfo=UTC)),
    SPOT_BTC: (datetime(2024, 8, 8, 23, 58, tzinfo=UTC), datetime(2024, 8, 9, 0, 3, tzinfo=UTC)),
    SPOT_XRP: (datetime(2019, 10, 11, tzinfo=UTC), datetime(2019, 10, 12, tzinfo=UTC)),
}


@pytest.mark.parametrize(
    ("key", "bucket"),
    [
        (USDM_BTC, None),  # tick size 0.1
        (USDM_BTC, "0.5"),
        (SPOT_BTC, None),  # tick size 0.01
        (SPOT_BTC, Decimal("1")),
        (SPOT_XRP, None),  # tick size 0.00000001 on prices ~0.0014
        (SPOT_XRP, "0.00000010"),
    ],
    ids=lambda v: str(v),
)
def test_real_profile_levels_and_value_area(ta, key, bucket):
    start, end = WINDOW[key]
    prof = ta.market_profile(key, start, end, bucket=bucket)
    size = (
        Decimal(bucket)
        if bucket is not None
        else Decimal({USDM_BTC: "0.1", SPOT_BTC: "0.01", SPOT_XRP: "0.00000001"}[key])
    )
    ref = reference_levels(TRADES[key](), size, start, end)
    levels = prof.levels
    # dense: every level from the lowest to the highest traded one, one bucket apart
    got = levels["level"].to_list()
    assert got[0] == min(ref) and got[-1] == max(ref)
    assert all(b - a == size for a, b in itertools.pairwise(got))
    assert all(lv % size == 0 for lv in got)
    assert len(got) >= len(ref)
    if bucket is None:  # at tick size real gaps exist; they are kept as zero-volume levels
        assert len(got) > len(ref)
    for row in levels.iter_rows(named=True):
        vol, buy = ref.get(row["level"], (Decimal(0), Decimal(0)))
        assert (row["volume"], row["buy_volume"], row["sell_volume"]) == (vol, buy, vol - buy)
    vols = levels["volume"].to_list()
    s = prof.summary
    assert s.volume == sum(vols) and s.bucket == size and s.levels == len(got)
    poc = got.index(s.poc)
    assert vols[poc] == max(vols)
    lo, hi = reference_value_area(vols, poc, Decimal("0.7"))
    assert (s.val, s.vah) == (got[lo], got[hi])
    assert s.value_area_volume == sum(vols[lo : hi + 1]) >= Decimal("0.7") * s.volume
    assert levels["in_value_area"].to_list() == [lo <= i <= hi for i in range(len(got))]
    assert s.shape in {"P", "b", "D", "B", "thin"}
    quote = sum((t.price * t.quantity for t in TRADES[key]() if start <= t.ts < end), Decimal(0))
    assert abs(s.vwap - quote / s.volume) <= Decimal("0.000000005")


@pytest.mark.parametrize(
    ("start", "end", "period"),
    [
        ("2024-07-18 23:57:31.5", "2024-07-19 00:04:10", "1m"),  # partial minutes at both ends
        ("2024-07-18", "2024-07-20", "1d"),
        ("2024-07-19 00:01:10", "2024-07-19 00:01:50", None),  # inside one minute
        ("2024-07-19 00:03", "2024-07-19 06:00", "1h"),  # beyond the watermark (forming)
        ("2024-07-18 22:00", "2024-07-19 00:03:30", None),  # a whole hour, minutes, ticks
        ("2024-07-18 22:00", "2024-07-19 00:03:30", "5m"),  # periods shorter than an hour
    ],
)
def test_profile_cache_equals_the_ticks(ta, start, end, period):
    """Whole hours and minutes come from the volume-at-price caches, the rest from ticks:
    the same levels as from the ticks alone."""
    lo, hi = datetime.fromisoformat(start), datetime.fromisoformat(end)
    width = 0 if period is None else timeframe_delta(period) // timedelta(microseconds=1)
    marks = ta.sql(USDM_BTC, "SELECT timeframe, open_time FROM candle_watermarks")
    wm = {tf: t.replace(tzinfo=None) for tf, t in marks.iter_rows()}
    assert wm["1m"] == datetime(2024, 7, 19, 0, 5) and wm["1h"] == datetime(2024, 7, 19)
    minutes = ta.sql(USDM_BTC, "SELECT count(*) AS n FROM price_volume_1m")["n"][0]
    hours = ta.sql(USDM_BTC, "SELECT count(*) AS n FROM price_volume_1h")["n"][0]
    assert minutes > 1000 and hours > 50  # 8 whole minutes, 1 whole hour (3 minutes traded)
    cached = profile_levels_query(lo, hi, Decimal("0.1"), width, wm)
    ticks = profile_levels_query(lo, hi, Decimal("0.1"), width)
    got = ta.sql(USDM_BTC, cached.sql, cached.params)
    assert got.height > 0
    assert got.equals(ta.sql(USDM_BTC, ticks.sql, ticks.params))


def test_profiles_per_session_and_per_hour(ta):
    whole = ta.market_profile(USDM_BTC, "2024-07-18", "2024-07-20")
    days = ta.market_profiles(USDM_BTC, period="1d")
    assert days.summary["period_start"].to_list() == [
        datetime(2024, 7, 18, tzinfo=UTC),
        datetime(2024, 7, 19, tzinfo=UTC),
    ]
    assert days.summary["period_end"].to_list() == [
        datetime(2024, 7, 19, tzinfo=UTC),
        datetime(2024, 7, 20, tzinfo=UTC),
    ]
    assert sum(days.summary["volume"].to_list()) == whole.summary.volume
    for row in days.summary.iter_rows(named=True):
        one = ta.market_profile(USDM_BTC, row["period_start"], row["period_end"])
        assert (row["poc"], row["val"], row["vah"], row["shape"]) == (
            one.summary.poc, one.summary.val, one.summary.vah, one.summary.shape
        )  # fmt: skip
        per_day = days.levels.filter(pl.col("period_start") == row["period_start"])
        assert per_day.drop("symbol").equals(one.levels)
    hours = ta.market_profiles(USDM_BTC, "2024-07-18 23:58:30", None, period="1h")
    # the first period is clipped to the range start
    assert hours.summary["period_start"][0] == datetime(2024, 7, 18, 23, 58, 30, tzinfo=UTC)
    assert hours.summary["symbol"].unique().to_list() == ["binance/usdm/BTCUSDT"]


def test_bucket_errors(ta, tmp_path: Path):
    with pytest.raises(BucketError, match="multiple of the symbol's tick size"):
        ta.market_profile(USDM_BTC, "2024-07-18", "2024-07-20", bucket="0.15")
    with pytest.raises(BucketError, match="positive"):
        ta.market_profile(USDM_BTC, "2024-07-18", "2024-07-20", bucket=0)
    with pytest.raises(BucketError, match="8 decimals"):
        ta.market_profile(USDM_BTC, "2024-07-18", "2024-07-20", bucket="0.000000001")
    with pytest.raises(ValueError, match="value_area"):
        ta.market_profile(USDM_BTC, "2024-07-18", "2024-07-20", value_area=1.5)
    with pytest.raises(UnknownTimeframeError):
        ta.market_profiles(USDM_BTC, period="1w")
    key = SymbolKey("binance", "spot", "NOTICKUSDT")
    with TickStore(tmp_path) as store:
        store.append(key, trades_table(TRADES[SPOT_BTC]()[:50]), id_space="trade")
    with tapeflow.open(tmp_path) as plain, pytest.raises(BucketError, match="tick size"):
        plain.market_profile(key, "2024-08-08", "2024-08-10")


def test_empty_profile(ta):
    prof = ta.market_profile(USDM_BTC, "2024-07-20", "2024-07-21")
    assert prof.levels.height == 0
    assert prof.summary.volume == 0 and prof.summary.poc is None and prof.summary.shape is None
