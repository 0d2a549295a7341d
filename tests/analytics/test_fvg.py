"""Fair value gaps: a plain reference of the stated definition, constructed cases, causality."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
import talib

from tapeflow.analytics.closed_candles import closed_candles, iter_candles
from tapeflow.analytics.fvg import FvgTracker, fvgs
from tests.analytics.candle_frames import (
    hft_candles,
    make_candles,
    noise,
    tardis_candles,
    xrpeth_candles,
)

REAL = {
    "btcusdt-usdm-1m": tardis_candles("1m"),
    "xrpeth-spot-1m": xrpeth_candles("1m"),
    "btcusdt-usdm-1s": hft_candles("1s", "usdm/btcusdt_20240808.gz"),
    "ethusdt-spot-5s": hft_candles("5s", "spot/ethusdt_20240808.gz", "spot/ethusdt_20240809.gz"),
}


def reference_fvgs(rows: list[dict]) -> list[dict]:
    """The module docstring's definition, as plain loops over every later candle."""
    out = []
    for i in range(2, len(rows)):
        c1, c2, c3 = rows[i - 2], rows[i - 1], rows[i]
        if c1["high"] < c3["low"] and c2["close"] > c2["open"]:
            direction, bottom, top = "bullish", c1["high"], c3["low"]
        elif c1["low"] > c3["high"] and c2["close"] < c2["open"]:
            direction, bottom, top = "bearish", c3["high"], c1["low"]
        else:
            continue
        gap = {
            "direction": direction,
            "created_at": c3["open_time"],
            "anchor_at": c2["open_time"],
            "bottom": bottom,
            "top": top,
            "status": "open",
            "first_touched_at": None,
            "filled_at": None,
            "deepest": None,
        }
        for later in rows[i + 1 :]:
            price = later["low"] if direction == "bullish" else later["high"]
            inside = price < top if direction == "bullish" else price > bottom
            if not inside:
                continue
            if gap["deepest"] is None:
                gap["first_touched_at"] = later["open_time"]
                gap["deepest"] = price
            elif (price < gap["deepest"]) if direction == "bullish" else (price > gap["deepest"]):
                gap["deepest"] = price
            gap["status"] = "partial"
            if (price <= bottom) if direction == "bullish" else (price >= top):
                gap["status"], gap["filled_at"] = "filled", later["open_time"]
                break
        out.append(gap)
    return out


@pytest.mark.parametrize("name", list(REAL))
def test_fvgs_equal_the_reference_on_real_candles(name: str) -> None:
    candles = REAL[name]
    rows = closed_candles(candles).to_dicts()
    expected = reference_fvgs(rows)
    got = fvgs(candles)
    assert got.height == len(expected) > 10
    assert got.select(list(expected[0])).to_dicts() == expected
    assert set(got["status"]) >= {"filled", "partial"}, "real data should exercise fills"
    # fill_pct: exact decimal arithmetic on the deepest price.
    for g in got.filter(pl.col("status") == "partial").iter_rows(named=True):
        depth = (
            g["top"] - g["deepest"] if g["direction"] == "bullish" else g["deepest"] - g["bottom"]
        )
        assert g["fill_pct"] == pytest.approx(float(depth / g["size"] * 100), rel=1e-12)
        assert 0 < g["fill_pct"] < 100
        lo, hi = (
            (g["bottom"], g["deepest"]) if g["direction"] == "bullish" else (g["deepest"], g["top"])
        )
        assert (g["unfilled_bottom"], g["unfilled_top"]) == (lo, hi)


@pytest.mark.parametrize("name", ["btcusdt-usdm-1m", "xrpeth-spot-1m"])
def test_results_as_of_t_never_depend_on_later_candles(name: str) -> None:
    candles = closed_candles(REAL[name])
    full = fvgs(candles)
    times = candles["open_time"]
    for k in (3, 40, candles.height // 2, candles.height - 5):
        t = times[k - 1]
        at_t = fvgs(candles, as_of=t)
        assert at_t.equals(fvgs(candles.head(k)))  # the same as never having seen the rest
        assert at_t.height == full.filter(pl.col("created_at") <= t).height
        # What was known at t is still the same gap later; fills only progress.
        later = full.head(at_t.height)
        keys = ["direction", "anchor_at", "created_at", "bottom", "top"]
        assert at_t.select(keys).equals(later.select(keys))
        assert (later["fill_pct"] >= at_t["fill_pct"]).all()
        assert at_t.filter(pl.col("filled_at") > t).height == 0
        assert at_t.filter(pl.col("first_touched_at") > t).height == 0


def test_incremental_changes_replay_to_the_batch_state() -> None:
    candles = closed_candles(REAL["xrpeth-spot-1m"])
    tracker = FvgTracker()
    state: dict = {}
    kinds = set()
    for candle in iter_candles(candles):
        for change in tracker.update(candle):
            kinds.add(change.kind)
            state[(change.fvg.direction, change.fvg.created_at)] = change.fvg
    batch = fvgs(candles)
    replayed = sorted(state.values(), key=lambda g: (g.created_at, g.direction))
    assert [g.fill_pct for g in replayed] == batch["fill_pct"].to_list()
    assert [g.status for g in replayed] == batch["status"].to_list()
    assert kinds == {"created", "touched", "deepened", "filled"}


def test_constructed_bullish_and_bearish_gaps_and_their_fills() -> None:
    rows = [
        (100, 101, 99, 100.5),  # c1 high 101
        (100.5, 104, 100.4, 103.8),  # c2 bullish
        (103.8, 105, 102, 104.5),  # c3 low 102 > 101: bullish gap [101, 102]
        (104.5, 104.6, 101.75, 103),  # dips to 101.75: 25 % filled
        (103, 103.5, 101.5, 102),  # 50 %
        (102, 102.5, 100.9, 101.2),  # through 101: filled; also c1 of a bearish setup
        (101.2, 101.3, 99, 99.2),  # c2 bearish
        (99.2, 99.8, 98, 98.5),  # c3 high 99.8 < c1 low 100.9: bearish gap [99.8, 100.9]
        (98.5, 99.5, 98.2, 99.4),  # stays below the gap (99.5 < 99.8): untouched
    ]
    got = fvgs(make_candles(rows)).to_dicts()
    # Rows 4-6 form a small bearish gap too: row 4 low 101.5 > row 6 high 101.3.
    assert [(g["direction"], g["bottom"], g["top"]) for g in got] == [
        ("bullish", Decimal(101), Decimal(102)),
        ("bearish", Decimal("101.3"), Decimal("101.5")),
        ("bearish", Decimal("99.8"), Decimal("100.9")),
    ]
    bull, _, bear = got
    assert (bull["direction"], bull["bottom"], bull["top"]) == (
        "bullish",
        Decimal(101),
        Decimal(102),
    )
    assert bull["status"] == "filled" and bull["fill_pct"] == 100.0
    assert bull["first_touched_at"].minute == 3 and bull["filled_at"].minute == 5
    assert bull["unfilled_bottom"] is None
    assert (bear["direction"], bear["bottom"], bear["top"]) == (
        "bearish",
        Decimal("99.8"),
        Decimal("100.9"),
    )
    assert bear["status"] == "open" and bear["fill_pct"] == 0.0
    assert bear["first_touched_at"] is None

    partial = fvgs(make_candles(rows[:5]), as_of=None).row(0, named=True)
    assert partial["status"] == "partial" and partial["fill_pct"] == 50.0
    assert (partial["unfilled_bottom"], partial["unfilled_top"]) == (Decimal(101), Decimal("101.5"))


def test_middle_candle_must_agree_with_the_gap() -> None:
    # Same highs/lows as a bullish gap, but the middle candle closes down: no FVG.
    rows = [(100, 101, 99, 100.5), (103.8, 104, 100.4, 100.6), (103.8, 105, 102, 104.5)]
    assert fvgs(make_candles(rows)).height == 0
    # Touching edges (c1.high == c3.low) is no gap either.
    rows = [(100, 101, 99, 100.5), (100.5, 104, 100.4, 103.8), (103.8, 105, 101, 104.5)]
    assert fvgs(make_candles(rows)).height == 0


def test_size_filters() -> None:
    quiet = noise(20)  # ATR(14) == 1.0 exactly
    gap = [(100, 100.5, 99.5, 100.3), (100.3, 103, 100.2, 102.8), (102.8, 103.5, 101.7, 103.2)]
    candles = make_candles(quiet + gap)  # bullish gap [100.5, 101.7], size 1.2
    h, lo, c = (
        closed_candles(candles)[x].cast(pl.Float64).to_numpy() for x in ("high", "low", "close")
    )
    atr = talib.ATR(h, lo, c, 14)[-1]
    g = fvgs(candles).row(0, named=True)
    assert g["size"] == Decimal("1.2") and g["size_atr"] == pytest.approx(1.2 / atr, rel=1e-12)
    assert g["size_pct"] == pytest.approx(1.2 / 103.2 * 100, rel=1e-12)
    assert fvgs(candles, min_ticks=120, tick_size=Decimal("0.01")).height == 1
    assert fvgs(candles, min_ticks=121, tick_size=Decimal("0.01")).height == 0
    assert fvgs(candles, min_pct=1.16).height == 1
    assert fvgs(candles, min_pct=1.17).height == 0
    assert fvgs(candles, min_atr=1.2 / atr * 0.999).height == 1
    assert fvgs(candles, min_atr=1.2 / atr * 1.001).height == 0
    # While ATR is undefined a min_atr filter rejects.
    assert fvgs(make_candles(gap), min_atr=0.1).height == 0
    assert fvgs(make_candles(gap)).row(0, named=True)["size_atr"] is None
    with pytest.raises(ValueError, match="tick_size"):
        fvgs(candles, min_ticks=3)


def test_float_prices_keep_exact_boundaries() -> None:
    candles = REAL["btcusdt-usdm-1m"]
    as_float = candles.with_columns(
        pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close")
    )
    a, b = fvgs(candles), fvgs(as_float)
    assert b["bottom"].dtype == pl.Decimal(38, 8)
    prices = ("bottom", "top", "size", "deepest", "unfilled_bottom", "unfilled_top")
    assert a.equals(b.with_columns(pl.col(c).cast(a.schema[c]) for c in prices))
