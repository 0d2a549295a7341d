"""The seed's confluence rules (seed 001 §5.6), the default: every rule at its threshold
and just beside it, for LONG and SHORT, the weights, and the probability thresholds."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from tapeflow.config import ConfluenceSettings
from tapeflow.strategy.confluence import confluence, probability
from tapeflow.strategy.inputs import Gap, IndicatorRow, ProfileSummary, Zone

T0 = datetime(2019, 10, 12, tzinfo=UTC)
S = ConfluenceSettings()
# EMA(20) of closes 100, σ of (close − EMA) 1.0; autocorrelation 0.1 (range: full weight)
ROW = IndicatorRow(T0, 100.0, 100.0, 99.0, 98.0, 1.0, 1.0, 30.0, 0.7, 0.2, 0.1, 100.0, 1.0)
PROFILE = ProfileSummary(poc=D("102"), vah=D("104"), val=D("99"), bucket_size=D("1"))
ZONE = Zone("demand", D("98"), D("99"), 80.0, "fresh", T0)  # the zone traded from


def points(name, entry="100", direction="long", row=ROW, profile=PROFILE, zones=(), gaps=()):
    stop = D(entry) - 1 if direction == "long" else D(entry) + 1
    c = confluence(direction, D(entry), stop, ZONE, row, profile, list(zones), list(gaps), S)
    return c.filters[name]["points"]


def test_the_seed_rules_are_the_default_with_the_seeds_weights_and_thresholds():
    assert S.rules == "seed"
    w = S.weights
    assert (w.profile_position, w.mean_reversion_distance, w.autocorrelation) == (1.5, 1.5, 1.0)
    assert (w.zone_quality, w.opposing_zone_target, w.fvg) == (2.0, 0.5, 1.5)
    assert (S.low, S.medium, S.high, S.min_score) == (3.0, 5.0, 7.0, 3.0)


@pytest.mark.parametrize(
    ("direction", "entry", "expected"),
    [
        # value area 99–104, width 5: the extreme band is |price − VAL| < 0.25
        ("long", "99.24999999", 1.5),  # at VAL
        ("long", "99.25", 0.5),  # just outside the band: inside the value area
        ("long", "98.75000001", 1.5),  # at VAL, from below
        ("long", "98.75", 0.0),  # below the value area, outside the band
        ("long", "104", 0.5),  # VAH is inside the value area
        ("long", "104.00000001", 0.0),
        ("short", "103.75000001", 1.5),  # at VAH
        ("short", "103.75", 0.5),
        ("short", "99.24999999", 0.5),  # a short at VAL is only inside the value area
    ],
)
def test_market_profile_extremes_1_5_inside_0_5(direction, entry, expected):
    assert points("profile_position", entry, direction) == expected


def test_market_profile_needs_a_profile():
    assert points("profile_position", profile=None) == 0.0
    assert points("profile_position", profile=replace(PROFILE, poc=D(0))) == 0.0


@pytest.mark.parametrize(
    ("direction", "entry", "expected"),
    [
        ("long", "98", 1.5),  # d = −2σ
        ("long", "98.00001", 0.75),  # d = −1.99999σ
        ("long", "99", 0.75),  # d = −1σ
        ("long", "99.00001", 0.0),
        ("long", "102", 0.0),  # +2σ: a long does not revert downwards
        ("short", "102", 1.5),
        ("short", "101.99999", 0.75),
        ("short", "101", 0.75),
        ("short", "100.99999", 0.0),
        ("short", "98", 0.0),
    ],
)
def test_mean_reversion_2_sigma_1_5_1_sigma_0_75_in_the_reverting_direction(
    direction, entry, expected
):
    assert points("mean_reversion_distance", entry, direction) == expected


def test_mean_reversion_without_sigma_scores_nothing():
    assert points("mean_reversion_distance", "90", row=replace(ROW, mean_reversion_sigma=None)) == 0
    assert points("mean_reversion_distance", "90", row=replace(ROW, mean_reversion_sigma=0.0)) == 0


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (0.60000001, 1.0),  # trend
        (0.6, 0.5),
        (-0.60000001, 1.0),
        (0.29999999, 1.0),  # range
        (0.3, 0.5),
        (-0.3, 0.5),
        (0.0, 1.0),
        (None, 0.0),  # warming up
    ],
)
def test_autocorrelation_strong_or_weak_1_0_else_0_5(r, expected):
    assert points("autocorrelation", row=replace(ROW, autocorrelation=r)) == expected


DEMAND = Zone("demand", D("99"), D("99.5"), 60.0, "fresh", T0)  # high 0.5 % below 100


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (DEMAND, 2.0),  # fresh, exactly 0.5 % below
        (replace(DEMAND, high=D("99.49999999")), 0.0),  # just beyond 0.5 %
        (replace(DEMAND, touches=1, status="tested"), 1.0),
        (replace(DEMAND, touches=2, status="tested"), 1.0),
        (replace(DEMAND, touches=3, status="tested"), 0.0),
        (replace(DEMAND, high=D("100")), 2.0),  # high at the price
        (replace(DEMAND, high=D("100.00000001")), 0.0),  # price inside: not "below"
        (replace(DEMAND, kind="supply"), 0.0),
    ],
)
def test_demand_zone_within_0_5_pct_fresh_2_0_tested_1_0(zone, expected):
    assert points("zone_quality", zones=[zone]) == expected


def test_demand_zone_the_nearest_below_decides_and_only_for_longs():
    tested_near = replace(DEMAND, touches=3, status="tested")
    fresh_far = replace(DEMAND, low=D("99.4"), high=D("99.45"))
    assert points("zone_quality", zones=[fresh_far]) == 0.0  # 0.55 % away
    assert points("zone_quality", zones=[tested_near, replace(DEMAND, high=D("99.6"))]) == 2.0
    assert points("zone_quality", zones=[replace(DEMAND, high=D("99.6")), tested_near]) == 2.0
    assert points("zone_quality", zones=[tested_near]) == 0.0
    assert points("zone_quality", "100", "short", zones=[DEMAND]) == 0.0


SUPPLY = Zone("supply", D("100.00000001"), D("101"), 60.0, "fresh", T0)


def test_supply_zone_as_target_0_5():
    assert points("opposing_zone_target", zones=[SUPPLY]) == 0.5
    assert points("opposing_zone_target", zones=[replace(SUPPLY, low=D("100"))]) == 0.0
    below = Zone("supply", D("99"), D("99.99999999"), 60.0, "fresh", T0)
    assert points("opposing_zone_target", "100", "short", zones=[below]) == 0.5
    assert points("opposing_zone_target", "100", "short", zones=[replace(below, high=D(100))]) == 0


def test_supply_zone_target_is_set_only_beyond_min_reward_risk():
    far = replace(SUPPLY, low=D("101"))  # 1R above (stop 99)
    c = confluence("long", D(100), D(99), ZONE, ROW, PROFILE, [SUPPLY, far], [], S)
    assert c.filters["opposing_zone_target"]["points"] == 0.5
    assert c.target == D("101")


BULL = Gap("bullish", D("100.00000001"), D("100.5"), "open")


def test_fvg_in_the_trade_direction_1_5():
    assert points("fvg", gaps=[BULL]) == 1.5
    assert points("fvg", gaps=[replace(BULL, low=D("100"))]) == 0.0  # not above the price
    assert points("fvg", gaps=[replace(BULL, direction="bearish")]) == 0.0
    bear = Gap("bearish", D("99.5"), D("99.99999999"), "partial")
    assert points("fvg", "100", "short", gaps=[bear]) == 1.5
    assert points("fvg", "100", "short", gaps=[replace(bear, high=D(100))]) == 0.0


def test_everything_aligned_scores_8_and_the_thresholds_are_3_5_7():
    row = replace(ROW, mean_reversion_ema=102.0)  # entry 99.1 is 2.9σ below the mean
    zones = [replace(DEMAND, high=D("99.0")), SUPPLY]
    c = confluence("long", D("99.1"), D("98.5"), ZONE, row, PROFILE, zones, [BULL], S)
    assert {k: f["points"] for k, f in c.filters.items()} == {
        "profile_position": 1.5,
        "mean_reversion_distance": 1.5,
        "autocorrelation": 1.0,
        "zone_quality": 2.0,
        "opposing_zone_target": 0.5,
        "fvg": 1.5,
    }
    assert (c.score, c.probability) == (8.0, "high")
    for score, klass in ((2.99, "none"), (3.0, "low"), (4.99, "low"), (5.0, "medium")):
        assert probability(score, S) == klass
    assert (probability(6.99, S), probability(7.0, S)) == ("medium", "high")
