"""Swing structure: fractal swings vs a plain reference, BOS/CHoCH and order blocks on a
constructed sequence, causality on real data."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from tapeflow.analytics.closed_candles import closed_candles, iter_candles
from tapeflow.analytics.structure import (
    StructureTracker,
    order_blocks,
    structure_breaks,
    swings,
)
from tests.analytics.candle_frames import hft_candles, make_candles, tardis_candles, xrpeth_candles

REAL = {
    "btcusdt-usdm-1m": tardis_candles("1m"),
    "xrpeth-spot-1m": xrpeth_candles("1m"),
    "btcusdt-usdm-1s": hft_candles("1s", "usdm/btcusdt_20240808.gz"),
}

SEQUENCE = [
    (100, 101, 99, 100.5),  # 0
    (100.5, 102, 100, 101.5),  # 1
    (101.5, 105, 101, 104),  # 2  swing high 105
    (104, 104.5, 102, 102.5),  # 3
    (102.5, 103, 100.5, 101),  # 4  confirms the high at 2
    (101, 101.5, 99.5, 100),  # 5  swing low 99.5; last bearish candle before the rally
    (100, 102, 99.8, 101.8),  # 6
    (101.8, 104.8, 101.5, 104.5),  # 7  confirms the low at 5
    (104.5, 106.5, 104.2, 106),  # 8  closes above 105: BOS up; swing high 106.5
    (106, 106.2, 103, 103.5),  # 9
    (103.5, 104, 102.5, 103),  # 10 confirms the high at 8
    (103, 103.2, 101.2, 101.4),  # 11 trades into the bullish block [99.5, 101.5]
    (101.4, 101.6, 98.9, 99.0),  # 12 closes below 99.5: block broken, CHoCH down
    (99.0, 104.5, 98.9, 104.3),  # 13 trades into the bearish block [104.2, 106.5]
]


def test_constructed_swings_breaks_and_order_blocks() -> None:
    candles = make_candles(SEQUENCE)
    t = candles["open_time"]
    assert swings(candles).rows() == [
        ("high", Decimal(105), t[2], t[4]),
        ("low", Decimal("99.5"), t[5], t[7]),
        ("high", Decimal("106.5"), t[8], t[10]),
    ]
    assert structure_breaks(candles).rows() == [
        ("up", "bos", Decimal(105), t[2], t[8]),
        ("down", "choch", Decimal("99.5"), t[5], t[12]),
    ]
    assert order_blocks(candles).rows() == [
        (
            "bullish",
            Decimal("99.5"),
            Decimal("101.5"),
            t[5],
            t[8],
            Decimal(105),
            "broken",
            1,
            t[11],
            t[12],
        ),
        (
            "bearish",
            Decimal("104.2"),
            Decimal("106.5"),
            t[8],
            t[12],
            Decimal("99.5"),
            "mitigated",
            1,
            t[13],
            None,
        ),
    ]
    # States as of earlier candles.
    assert order_blocks(candles, as_of=t[10])["status"].to_list() == ["fresh"]
    assert order_blocks(candles, as_of=t[11])["status"].to_list() == ["mitigated"]


def test_a_swing_is_known_only_after_its_confirmation_delay() -> None:
    candles = make_candles(SEQUENCE)
    t = candles["open_time"]
    assert swings(candles, as_of=t[3]).height == 0
    assert swings(candles, as_of=t[4])["at"].to_list() == [t[2]]
    # A wider fractal needs more bars on each side: the high at 2 lacks 3 bars on its left.
    assert swings(candles, swing_bars=3).select("at", "confirmed_at").rows() == [
        (t[5], t[8]),
        (t[8], t[11]),
    ]


def reference_swings(rows: list[dict], n: int) -> list[tuple]:
    out = []
    for k in range(n, len(rows) - n):
        left, right, mid = rows[k - n : k], rows[k + 1 : k + n + 1], rows[k]
        confirmed = rows[k + n]["open_time"]
        if all(mid["high"] > r["high"] for r in left) and all(
            mid["high"] >= r["high"] for r in right
        ):
            out.append(("high", mid["high"], mid["open_time"], confirmed))
        if all(mid["low"] < r["low"] for r in left) and all(mid["low"] <= r["low"] for r in right):
            out.append(("low", mid["low"], mid["open_time"], confirmed))
    return out


@pytest.mark.parametrize("name", list(REAL))
@pytest.mark.parametrize("n", [1, 2, 5])
def test_swings_equal_the_fractal_reference_on_real_candles(name: str, n: int) -> None:
    rows = closed_candles(REAL[name]).to_dicts()
    expected = reference_swings(rows, n)
    assert len(expected) > 5
    assert swings(REAL[name], swing_bars=n).rows() == expected


@pytest.mark.parametrize("name", list(REAL))
def test_results_as_of_t_never_depend_on_later_candles(name: str) -> None:
    candles = closed_candles(REAL[name])
    full = {f: f(candles) for f in (swings, structure_breaks, order_blocks)}
    assert full[order_blocks].height > 3
    times = candles["open_time"]
    for k in (7, candles.height // 3, candles.height // 2, candles.height - 2):
        t = times[k - 1]
        for fn, whole in full.items():
            at_t = fn(candles, as_of=t)
            assert at_t.equals(fn(candles.head(k)))
            if fn is order_blocks:
                keys = ["direction", "price_low", "price_high", "candle_at", "bos_at"]
                assert at_t.select(keys).equals(whole.head(at_t.height).select(keys))
                assert (
                    at_t.filter(
                        (pl.col("first_mitigated_at") > t) | (pl.col("broken_at") > t)
                    ).height
                    == 0
                )
            else:
                assert at_t.equals(whole.head(at_t.height))


def test_break_kinds_alternate_consistently_on_real_data() -> None:
    breaks = structure_breaks(REAL["xrpeth-spot-1m"])
    directions = breaks["direction"].to_list()
    kinds = breaks["kind"].to_list()
    assert kinds[0] == "bos"
    for prev, cur, kind in zip(directions, directions[1:], kinds[1:], strict=False):
        assert kind == ("bos" if cur == prev else "choch")
    assert {"bos", "choch"} <= set(kinds)
    blocks = order_blocks(REAL["xrpeth-spot-1m"])
    assert (blocks["price_low"] <= blocks["price_high"]).all()
    assert (blocks["candle_at"] <= blocks["bos_at"]).all()
    assert set(blocks["status"]) == {"fresh", "mitigated", "broken"}


def test_incremental_changes_replay_to_the_batch_state() -> None:
    candles = closed_candles(REAL["xrpeth-spot-1m"])
    tracker = StructureTracker()
    kinds, blocks = set(), {}
    for candle in iter_candles(candles):
        for change in tracker.update(candle):
            kinds.add(change.kind)
            if change.kind in ("order_block", "mitigated", "ob_broken"):
                blocks[(change.item.direction, change.item.bos_at)] = change.item
    assert kinds == {"swing", "break", "order_block", "mitigated", "ob_broken"}
    batch = order_blocks(candles)
    assert [b.status for b in blocks.values()] == batch["status"].to_list()
    with pytest.raises(ValueError, match="not after"):
        tracker.update(next(iter_candles(candles)))
