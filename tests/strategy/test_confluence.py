"""tapeflow's confluence rules (``confluence.rules: tapeflow``, selected explicitly: the
default is the seed's, see test_confluence_seed.py): each filter's pass and fail side,
weights, probability classes, gate."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from tapeflow.config import ConfluenceSettings
from tapeflow.strategy.confluence import confluence, confluence_level, probability
from tapeflow.strategy.inputs import Gap, IndicatorRow, ProfileSummary, Zone

T0 = datetime(2024, 8, 8, tzinfo=UTC)
S = ConfluenceSettings(rules="tapeflow")
ROW = IndicatorRow(T0, 101.0, 100.0, 99.0, 98.0, 1.0, 1.0, 30.0, 0.7, 0.2, 0.1)
ZONE = Zone("demand", D("100"), D("101"), 80.0, "fresh", T0)
PROFILE = ProfileSummary(poc=D("102"), vah=D("104"), val=D("99"), bucket_size=D("1"))
TARGET = Zone("supply", D("103"), D("104"), 60.0, "fresh", T0)
GAP = Gap("bullish", D("98.5"), D("99.5"), "open")


def score(
    entry="100.5",
    stop="100",
    zone=ZONE,
    row=ROW,
    profile=PROFILE,
    zones=(TARGET,),
    gaps=(GAP,),
    s=S,
):
    return confluence("long", D(entry), D(stop), zone, row, profile, list(zones), list(gaps), s)


def test_everything_aligned_scores_the_maximum():
    c = score()
    assert c.score == 8.0
    assert c.probability == "high"
    assert c.target == D("103")
    assert all(f["passed"] for f in c.filters.values())


def test_profile_position_entry_at_or_below_poc():
    assert score(entry="100.5").filters["profile_position"]["points"] == 1.5
    at_poc = score(entry="102", zone=replace(ZONE, high=D("102")))
    assert at_poc.filters["profile_position"]["passed"]
    above = score(entry="102.00000001", zone=replace(ZONE, high=D("103")))
    assert not above.filters["profile_position"]["passed"]
    assert not score(profile=None).filters["profile_position"]["passed"]


def test_mean_reversion_distance_at_most_k_atr():
    # |entry - ema_fast| / atr <= 1.0: ema_fast 100, atr 1 -> entry 101 is exactly 1 ATR
    assert score(entry="101").filters["mean_reversion_distance"]["passed"]
    row = replace(ROW, ema_fast=99.49999999)
    assert not score(entry="100.5", row=row).filters["mean_reversion_distance"]["passed"]


def test_autocorrelation_strictly_above_minimum():
    assert not score(row=replace(ROW, autocorrelation=0.0)).filters["autocorrelation"]["passed"]
    assert score(row=replace(ROW, autocorrelation=1e-9)).filters["autocorrelation"]["passed"]
    assert not score(row=replace(ROW, autocorrelation=None)).filters["autocorrelation"]["passed"]


def test_zone_quality_halves():
    assert score().filters["zone_quality"]["points"] == 2.0
    tested = score(zone=replace(ZONE, status="tested"))
    assert tested.filters["zone_quality"]["points"] == 1.0  # proximity only
    above = score(entry="101.2", zone=ZONE)  # outside the band, fresh
    assert above.filters["zone_quality"]["points"] == 1.0
    level = score(zone=Zone("val", D("100"), D("101"), 50.0, "level"))
    assert level.filters["zone_quality"]["points"] == 1.0  # a profile level is never "fresh"


def test_opposing_zone_target_needs_reward_at_least_risk():
    # risk = 100.5 - 100 = 0.5; supply low 101 is exactly 0.5 away -> qualifies
    near = replace(TARGET, low=D("101"))
    c = score(zones=[near])
    assert c.target == D("101")
    c = score(zones=[replace(TARGET, low=D("100.99999999"))])
    assert c.target is None and not c.filters["opposing_zone_target"]["passed"]
    assert score(zones=[replace(TARGET, status="broken")]).target is None
    # the nearest qualifying zone is the target
    assert score(zones=[TARGET, near]).target == D("101")


def test_fvg_in_trade_direction_within_reach():
    # reach = 2 ATR = 2; gap top 99.5 is 1.0 below the entry
    assert score().filters["fvg"]["passed"]
    assert not score(gaps=[replace(GAP, direction="bearish")]).filters["fvg"]["passed"]
    assert not score(gaps=[replace(GAP, status="filled")]).filters["fvg"]["passed"]
    far = replace(GAP, low=D("97.5"), high=D("98.5"))  # top exactly 2.0 away: counts
    assert score(gaps=[far]).filters["fvg"]["passed"]
    farther = replace(GAP, low=D("97.5"), high=D("98.49999999"))
    assert not score(gaps=[farther]).filters["fvg"]["passed"]


def test_short_mirrors_long():
    zone = Zone("supply", D("105"), D("106"), 70.0, "fresh", T0)
    target = Zone("demand", D("100"), D("101"), 60.0, "fresh", T0)
    gap = Gap("bearish", D("106.5"), D("107"), "partial")
    row = replace(ROW, ema_fast=105.0)
    c = confluence("short", D("105.5"), D("106"), zone, row, PROFILE, [target], [gap], S)
    assert c.score == 8.0
    assert c.target == D("101")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.999, "none"),
        (3.0, "low"),
        (4.999, "low"),
        (5.0, "medium"),
        (6.999, "medium"),
        (7.0, "high"),
        (8.0, "high"),
    ],
)
def test_probability_classes(value, expected):
    assert probability(value, S) == expected


def test_min_score_gate_inclusive():
    c = score(profile=None, gaps=[], zones=[])  # 8 - 1.5 - 1.5 - 0.5 = 4.5
    assert c.score == 4.5
    assert confluence_level(c, ConfluenceSettings(rules="tapeflow", min_score=4.5)).passed
    assert not confluence_level(c, ConfluenceSettings(rules="tapeflow", min_score=4.50001)).passed
