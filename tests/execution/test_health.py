"""Pure logic: the portfolio health score, its bands at each threshold and just below,
the choice of the worst positions, the check cadence and the settings' validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tapeflow.config.execution import PortfolioHealthSettings
from tapeflow.execution.health import (
    HealthBand,
    OpenPosition,
    band_for,
    score_health,
    unrealized_pnl,
    worst,
)
from tapeflow.execution.portfolio import Cadence

AT = datetime(2024, 8, 8, 23, 55, tzinfo=UTC)
S = PortfolioHealthSettings()
CB = Decimal(5)  # the default circuit-breaker drawdown, percent
EPS = Decimal("0.0001")


def score(positions, *, equity="10000", dd="0"):
    return score_health(
        positions,
        equity=Decimal(equity),
        daily_drawdown_pct=Decimal(dd),
        circuit_breaker_pct=CB,
        settings=S,
        at=AT,
    )


def up(pid: str, upnl: str) -> OpenPosition:
    return OpenPosition(pid, Decimal(upnl))


def test_defaults_are_the_seed_numbers():
    assert (S.check_interval_s, S.stop_entries_below, S.tighten_below, S.close_worst_below) == (
        10.0,
        70,
        50,
        30,
    )
    assert (S.tighten_to_pct, S.close_worst_count) == (Decimal("0.3"), 2)


def test_documented_example_scores_54():
    # 2 % daily drawdown (20), open losses of 1 % of equity (6), every position losing (20)
    h = score([up("a", "-60"), up("b", "-40")], dd="2")
    assert h.open_loss_pct == Decimal(1)
    assert h.losing_share == 1
    assert h.score == Decimal(54)
    assert h.unrealized_pnl == Decimal(-100)
    assert (h.positions, h.band) == (2, HealthBand.STOP_ENTRIES)  # 54 is not below 50


def test_a_profitable_portfolio_at_its_day_start_scores_100_and_the_worst_scores_0():
    assert score([up("a", "10"), up("b", "0")]).score == 100
    assert score([up("a", "-600")], dd="6").score == 0  # penalties are capped at their weight


def test_score_70_allows_entries_just_below_stops_them():
    # a 3 % drawdown alone costs 50 × 3/5 = 30 points
    at = score([up("a", "1")], dd="3")
    below = score([up("a", "1")], dd=str(Decimal(3) + EPS))
    assert at.score == 70 and at.band == HealthBand.HEALTHY
    assert below.score == Decimal(70) - 50 * EPS / CB
    assert below.band == HealthBand.STOP_ENTRIES


def test_score_50_only_stops_entries_just_below_tightens():
    at = score([up("a", "1")], dd="5")
    # 4 % drawdown (40), one of two losing (10), net open loss 0.01 = 0.0001 % of equity
    below = score([up("a", "1"), up("b", "-1.01")], dd="4")
    assert at.score == 50 and at.band == HealthBand.STOP_ENTRIES
    assert below.score == Decimal(100) - 40 - 10 - 30 * EPS / CB
    assert below.band == HealthBand.TIGHTEN


def test_score_30_tightens_just_below_closes_the_worst():
    # 4.4 % drawdown (44) + open loss 1 % of equity (6) + every position losing (20) = 70
    at = score([up("a", "-100")], dd="4.4")
    below = score([up("a", "-100")], dd=str(Decimal("4.4") + EPS))
    assert at.score == 30 and at.band == HealthBand.TIGHTEN
    assert below.score == Decimal(30) - 50 * EPS / CB
    assert below.band == HealthBand.CLOSE_WORST


def test_band_boundaries_are_exact():
    for threshold, at_band, below_band in (
        (70, HealthBand.HEALTHY, HealthBand.STOP_ENTRIES),
        (50, HealthBand.STOP_ENTRIES, HealthBand.TIGHTEN),
        (30, HealthBand.TIGHTEN, HealthBand.CLOSE_WORST),
    ):
        assert band_for(Decimal(threshold), S) == at_band
        assert band_for(Decimal(threshold) - Decimal("1e-20"), S) == below_band


def test_worst_two_are_the_lowest_unrealised_pnl():
    ps = [up("a", "-5"), up("b", "3"), up("c", "-7.5"), up("d", "-5")]
    assert [p.position_id for p in worst(ps, 2)] == ["c", "a"]
    assert [p.position_id for p in worst(ps, 10)] == ["c", "a", "d", "b"]


def test_unrealized_pnl_long_short_and_contracts():
    assert unrealized_pnl("long", Decimal(100), Decimal(99), Decimal(2)) == Decimal(-2)
    assert unrealized_pnl("short", Decimal(100), Decimal(99), Decimal(2)) == Decimal(2)
    assert unrealized_pnl("short", Decimal(100), Decimal(101), Decimal(3), Decimal(10)) == -30


def test_cadence_is_due_once_per_interval_of_the_given_clock():
    c = Cadence(10.0)
    assert c.due(AT)
    assert not c.due(AT + timedelta(seconds=9.999999))
    assert c.due(AT + timedelta(seconds=10))
    every = Cadence(0.0)
    assert every.due(AT) and every.due(AT)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tighten_below": 75}, "health thresholds must increase"),
        ({"close_worst_below": 50}, "health thresholds must increase"),
        ({"weights": {"drawdown": 50, "open_loss": 30, "losing_share": 30}}, "sum to 100"),
        ({"tighten_to_pct": 0}, "greater than 0"),
        ({"check_interval_s": 0}, "greater than 0"),
    ],
)
def test_bad_health_settings_are_refused_naming_the_rule(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        PortfolioHealthSettings(**kwargs)
