"""Supply/demand zones: constructed cases for every pattern and status, causality on real data."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
import talib

from tapeflow.analytics.closed_candles import closed_candles, iter_candles
from tapeflow.analytics.indicators import atr_series
from tapeflow.analytics.zones import ZoneParams, ZoneTracker, strength, zones
from tests.analytics.candle_frames import (
    hft_candles,
    make_candles,
    noise,
    tardis_candles,
    xrpeth_candles,
)

Row = tuple[float, float, float, float]

# After noise(20) (ATR ~ 1.0, last close 99.7): leg-in, one base candle, departure.
DROP_BASE_RALLY: list[Row] = [
    (99.7, 99.8, 97.8, 98.0),  # leg-in: drop (non-base, bearish)
    (98.0, 98.5, 97.6, 98.1),  # base: body 0.1 <= 0.5 x range 0.9
    (98.1, 101.2, 98.0, 101.0),  # departure: range 3.2 >= 1.5 ATR, closes above 98.5
]
RALLY_BASE_RALLY: list[Row] = [
    (99.7, 102.2, 99.6, 102.0),  # leg-in: rally
    (102.0, 102.5, 101.6, 102.1),  # base
    (102.1, 105.2, 102.0, 105.0),  # departure
]
# After a demand zone [97.6, 98.1] is born: visits and the break.
LIFECYCLE: list[Row] = [
    (101.0, 101.6, 100.9, 101.5),  # away (non-base, so no new base forms)
    (101.5, 101.6, 98.05, 98.6),  # first visit: low 98.05 <= 98.1 -> tested once
    (98.6, 99.0, 98.0, 98.9),  # still inside: the same visit
    (98.9, 99.6, 98.8, 99.5),  # away
    (99.5, 99.6, 98.0, 98.3),  # second visit
    (98.3, 98.4, 97.0, 97.2),  # closes below 97.6: broken
]


def mirror(rows: list[Row]) -> list[Row]:
    """Reflect prices about 100 (a rally becomes a drop, demand becomes supply)."""
    return [(200 - o, 200 - lo, 200 - h, 200 - c) for o, h, lo, c in rows]


def _zones(rows: list[Row], **kw) -> pl.DataFrame:
    return zones(make_candles(rows), **kw)


@pytest.mark.parametrize(
    ("pattern_rows", "mirrored", "expected"),
    [
        (DROP_BASE_RALLY, False, ("demand", "DBR", "97.6", "98.1")),
        (RALLY_BASE_RALLY, False, ("demand", "RBR", "101.6", "102.1")),
        (DROP_BASE_RALLY, True, ("supply", "RBD", "101.9", "102.4")),
        (RALLY_BASE_RALLY, True, ("supply", "DBD", "97.9", "98.4")),
    ],
)
def test_consolidation_patterns(pattern_rows, mirrored, expected) -> None:
    background = noise(20)
    rows = background + pattern_rows
    if mirrored:
        rows = mirror(background) + mirror(pattern_rows)
    got = _zones(rows)
    assert got.height == 1
    z = got.row(0, named=True)
    ztype, pattern, low, high = expected
    assert (z["type"], z["pattern"], z["created_from"]) == (ztype, pattern, "consolidation")
    assert (z["price_low"], z["price_high"]) == (Decimal(low), Decimal(high))
    assert z["status"] == "fresh" and z["test_count"] == 0 and z["base_candles"] == 1
    times = make_candles(rows)["open_time"]
    assert z["base_start"] == times[-2] and z["first_seen"] == times[-1]
    # Departure strength is measured against ATR(14) at the candle before the departure.
    f = closed_candles(make_candles(rows))
    h, lo, c = (f[x].cast(pl.Float64).to_numpy() for x in ("high", "low", "close"))
    atr_before = talib.ATR(h, lo, c, 14)[-2]
    assert z["departure_ratio"] == pytest.approx(3.2 / atr_before, rel=1e-12)
    assert z["strength"] == pytest.approx(strength(ZoneParams(), 3.2 / atr_before, 1, 0))
    assert z["strength"] == pytest.approx(50 * min(3.2 / atr_before / 3, 1) + 25 + 25)


@pytest.mark.parametrize("mirrored", [False, True], ids=["demand", "supply"])
def test_zone_lifecycle_fresh_tested_broken(mirrored: bool) -> None:
    rows = noise(20) + DROP_BASE_RALLY + LIFECYCLE
    if mirrored:
        rows = mirror(rows)
    candles = make_candles(rows)
    times = candles["open_time"]
    start = 20 + len(DROP_BASE_RALLY) - 1  # the departure candle

    def state(k: int) -> dict:
        got = zones(candles, as_of=times[k])
        assert got.height == 1, got
        return got.row(0, named=True)

    z = state(start)
    ratio = z["departure_ratio"]
    assert (z["status"], z["test_count"], z["last_tested"]) == ("fresh", 0, None)
    assert state(start + 1)["status"] == "fresh"
    z = state(start + 2)
    assert (z["status"], z["test_count"], z["last_tested"]) == ("tested", 1, times[start + 2])
    assert z["strength"] == pytest.approx(strength(ZoneParams(), ratio, 1, 1))
    z = state(start + 3)  # same visit
    assert (z["test_count"], z["last_tested"]) == (1, times[start + 3])
    assert state(start + 4)["test_count"] == 1
    z = state(start + 5)
    assert (z["status"], z["test_count"]) == ("tested", 2)
    assert z["strength"] == pytest.approx(strength(ZoneParams(), ratio, 1, 2))
    z = state(start + 6)
    assert (z["status"], z["broken_at"], z["strength"]) == ("broken", times[start + 6], 0.0)
    assert z["test_count"] == 2


@pytest.mark.parametrize("mirrored", [False, True], ids=["demand", "supply"])
def test_wick_rejection_zone(mirrored: bool) -> None:
    rows = [*noise(20), (100.0, 100.3, 97.5, 100.1)]  # lower wick 2.5 of range 2.8
    if mirrored:
        rows = mirror(rows)
    z = _zones(rows).row(0, named=True)
    expected = ("supply", "100.0", "102.5") if mirrored else ("demand", "97.5", "100.0")
    assert (z["type"], z["price_low"], z["price_high"]) == (
        expected[0],
        Decimal(expected[1]),
        Decimal(expected[2]),
    )
    assert (z["pattern"], z["created_from"], z["base_candles"]) == ("rejection", "rejection", 1)
    assert z["departure_ratio"] == pytest.approx(2.5, rel=0.01)  # wick / ATR(~1.0)
    # A wick of 55 % of the range is not a rejection at the default 60 %.
    assert _zones([*noise(20), (100.0, 100.9, 98.9, 100.1)]).height == 0


def test_base_length_and_departure_rules() -> None:
    leg_in, base, departure = DROP_BASE_RALLY
    six = _zones(noise(20) + [leg_in] + [base] * 6 + [departure]).row(0, named=True)
    assert six["base_candles"] == 6
    assert six["strength"] == pytest.approx(strength(ZoneParams(), six["departure_ratio"], 6, 0))
    assert _zones(noise(20) + [leg_in] + [base] * 7 + [departure]).height == 0  # too long
    assert _zones(noise(20) + [leg_in] + [base] * 7 + [departure], max_base=7).height == 1
    # A strong bullish candle that does not close above the base: no zone.
    weak = (96.5, 98.45, 96.4, 98.4)
    assert _zones([*noise(20), leg_in, base, weak]).height == 0
    # Too small a departure for the threshold.
    assert _zones(noise(20) + DROP_BASE_RALLY, departure_atr=3.5).height == 0
    with pytest.raises(ValueError, match="rejection_wick_ratio"):
        ZoneParams(rejection_wick_ratio=0.5)


REAL = {
    "btcusdt-usdm-1m": tardis_candles("1m"),
    "xrpeth-spot-1m": xrpeth_candles("1m"),
    "btcusdt-usdm-1s": hft_candles("1s", "usdm/btcusdt_20240808.gz"),
}


@pytest.mark.parametrize("name", list(REAL))
def test_results_as_of_t_never_depend_on_later_candles(name: str) -> None:
    candles = closed_candles(REAL[name])
    full = zones(candles)
    assert full.height > 5
    assert set(full["created_from"]) == {"consolidation", "rejection"}
    times = candles["open_time"]
    for k in (16, candles.height // 3, candles.height // 2, candles.height - 3):
        t = times[k - 1]
        at_t = zones(candles, as_of=t)
        assert at_t.equals(zones(candles.head(k)))
        later = full.head(at_t.height)
        keys = ["type", "pattern", "price_low", "price_high", "base_start", "first_seen"]
        assert at_t.select(keys).equals(later.select(keys))
        assert (later["test_count"] >= at_t["test_count"]).all()
        assert at_t.filter((pl.col("last_tested") > t) | (pl.col("broken_at") > t)).height == 0
        assert at_t.filter(pl.col("first_seen") > t).height == 0


def test_zone_rows_obey_their_invariants_on_real_data() -> None:
    z = zones(REAL["xrpeth-spot-1m"])
    assert (z["price_low"] <= z["price_high"]).all()
    assert z["strength"].is_between(0, 100).all()
    assert (z.filter(pl.col("status") == "broken")["strength"] == 0).all()
    assert (z.filter(pl.col("status") == "fresh")["test_count"] == 0).all()
    assert (z.filter(pl.col("status") == "tested")["test_count"] > 0).all()
    assert set(z["pattern"]) == {"DBR", "RBR", "RBD", "DBD", "rejection"}


def test_incremental_changes_replay_to_the_batch_state() -> None:
    candles = closed_candles(REAL["xrpeth-spot-1m"])
    tracker = ZoneTracker()
    state, kinds = {}, set()
    for candle, atr in zip(iter_candles(candles), atr_series(candles).to_list(), strict=True):
        for change in tracker.update(candle, atr):
            kinds.add(change.kind)
            z = change.zone
            state[(z.type, z.first_seen, z.created_from)] = z
    batch = zones(candles)
    assert kinds == {"created", "tested", "broken"}
    assert len(state) == batch.height
    keyed = {(r["type"], r["first_seen"], r["created_from"]): r for r in batch.to_dicts()}
    for key, z in state.items():
        assert (z.status, z.test_count) == (keyed[key]["status"], keyed[key]["test_count"])
