"""Each level's pass and fail paths on hand-built inputs sitting exactly on both sides of
every threshold (strict comparisons: a value equal to the threshold does not pass)."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from tapeflow.config import BounceSettings, CascadeSettings, RegimeSettings, ZoneSettings
from tapeflow.strategy.inputs import Bar, Flow, IndicatorRow, ProfileSummary, Zone
from tapeflow.strategy.levels import (
    bounce_level,
    bounce_strength,
    cascade_level,
    regime_level,
    volume_spike,
    zone_level,
    zone_tolerance,
)

T0 = datetime(2024, 8, 8, 23, 45, tzinfo=UTC)
EPS = 1e-9

# A clean uptrend: every ranging test passes with room, EMAs stacked, close above EMA fast.
UP = IndicatorRow(
    open_time=T0,
    close=105.0,
    ema_fast=104.0,
    ema_mid=102.0,
    ema_slow=100.0,
    atr=1.0,
    atr_pct=1.0,
    adx=30.0,
    hurst=0.7,
    mean_reversion=0.2,
    autocorrelation=0.1,
)
DOWN = replace(UP, close=95.0, ema_fast=96.0, ema_mid=98.0, ema_slow=100.0)
RS = RegimeSettings()


# ----------------------------------------------------------------------------- regime


def test_regime_uptrend_and_downtrend():
    up = regime_level(UP, RS)
    assert (up.passed, up.direction, up.metrics["regime"]) == (True, "long", "uptrend")
    down = regime_level(DOWN, RS)
    assert (down.passed, down.direction, down.metrics["regime"]) == (True, "short", "downtrend")


@pytest.mark.parametrize(
    ("field", "threshold", "ranging_side", "ok_side"),
    [
        ("adx", 20.0, 20.0 - EPS, 20.0),  # ranging if adx < 20
        ("atr_pct", 0.5, 0.5 - EPS, 0.5),  # ranging if atr% < 0.5
        ("hurst", 0.55, 0.55 - EPS, 0.55),  # ranging if hurst < 0.55
        ("mean_reversion", 0.6, 0.6 + EPS, 0.6),  # ranging if mean reversion > 0.6
    ],
)
def test_regime_each_ranging_threshold_both_sides(field, threshold, ranging_side, ok_side):
    ranging = regime_level(replace(UP, **{field: ranging_side}), RS)
    assert not ranging.passed
    assert ranging.metrics["regime"] == "ranging"
    assert len(ranging.metrics["ranging_because"]) == 1
    trending = regime_level(replace(UP, **{field: ok_side}), RS)
    assert trending.passed and trending.direction == "long"


def test_regime_ema_stack_and_close_rules():
    # close exactly at EMA fast is not "above": ranging
    assert not regime_level(replace(UP, close=104.0), RS).passed
    assert regime_level(replace(UP, close=104.0 + EPS), RS).passed
    # EMA fast == EMA mid breaks the strict stack
    assert not regime_level(replace(UP, ema_fast=102.0, close=103.0), RS).passed
    # mirror for the downtrend
    assert not regime_level(replace(DOWN, close=96.0), RS).passed
    assert regime_level(replace(DOWN, close=96.0 - EPS), RS).direction == "short"
    mixed = regime_level(replace(UP, ema_slow=103.0), RS)
    assert not mixed.passed
    assert mixed.metrics["ranging_because"] == ["EMAs not stacked with close beyond EMA fast"]


def test_regime_warming_up_and_missing_mean_reversion():
    cold = regime_level(replace(UP, ema_slow=None, hurst=None), RS)
    assert not cold.passed
    assert cold.metrics["regime"] == "warming_up"
    assert cold.reason == "warming up: ema_slow, hurst not yet defined"
    # no resolved 2-sigma excursion yet: no evidence of mean reversion, still trending
    assert regime_level(replace(UP, mean_reversion=None), RS).passed


def test_regime_thresholds_are_configurable():
    s = RegimeSettings(min_adx=35)
    assert not regime_level(UP, s).passed
    assert regime_level(replace(UP, adx=35.0), s).passed


# ----------------------------------------------------------------------------- zone

ZS = ZoneSettings(atr_multiple=0.5, max_distance_pct=0.1)
DEMAND = Zone("demand", D("100.0"), D("101.0"), 80.0, "fresh", T0)
SUPPLY = Zone("supply", D("109.0"), D("110.0"), 70.0, "tested", T0)


def test_zone_tolerance_is_max_of_atr_and_percent():
    assert zone_tolerance(D("101"), 1.0, ZS) == D("0.5")  # 0.5 ATR > 0.1 % of 101
    assert zone_tolerance(D("1000"), 1.0, ZS) == D("1.000")  # 0.1 % of 1000 > 0.5 ATR


def test_zone_long_at_demand_zone_edges():
    # tol = 0.5: LONG passes for low < close <= high + tol
    inside = zone_level("long", D("100.5"), 1.0, [DEMAND], None, ZS)
    assert inside.passed and inside.zone == DEMAND and inside.stop == D("100.0")
    assert inside.metrics["zone"]["distance"] == 0
    assert zone_level("long", D("101.5"), 1.0, [DEMAND], None, ZS).passed  # exactly high + tol
    assert not zone_level("long", D("101.50000001"), 1.0, [DEMAND], None, ZS).passed
    assert not zone_level("long", D("100.0"), 1.0, [DEMAND], None, ZS).passed  # at low: broken
    assert zone_level("long", D("100.00000001"), 1.0, [DEMAND], None, ZS).passed


def test_zone_short_at_supply_zone_edges():
    assert zone_level("short", D("108.5"), 1.0, [SUPPLY], None, ZS).passed  # low - tol
    assert not zone_level("short", D("108.49999999"), 1.0, [SUPPLY], None, ZS).passed
    assert not zone_level("short", D("110.0"), 1.0, [SUPPLY], None, ZS).passed
    res = zone_level("short", D("109.99999999"), 1.0, [SUPPLY], None, ZS)
    assert res.passed and res.stop == D("110.0")


def test_zone_filters_kind_status_and_strength():
    broken = replace(DEMAND, status="broken")
    weak = replace(DEMAND, strength=10.0)
    assert not zone_level("long", D("100.5"), 1.0, [SUPPLY, broken], None, ZS).passed
    s = ZoneSettings(min_zone_strength=10.0)
    assert zone_level("long", D("100.5"), 1.0, [weak], None, s).passed  # >= min strength
    s = ZoneSettings(min_zone_strength=10.000001)
    assert not zone_level("long", D("100.5"), 1.0, [weak], None, s).passed


PROFILE = ProfileSummary(poc=D("104"), vah=D("107"), val=D("102"), bucket_size=D("1"))


def test_zone_profile_levels_val_poc_for_long_vah_poc_for_short():
    res = zone_level("long", D("102.5"), 1.0, [], PROFILE, ZS)  # in the VAL band [102, 103]
    assert res.passed and res.zone.kind == "val" and res.stop == D("102")
    res = zone_level("long", D("105.5"), 1.0, [], PROFILE, ZS)  # POC band + tol = 105.5
    assert res.passed and res.zone.kind == "poc"
    assert not zone_level("long", D("107.5"), 1.0, [], PROFILE, ZS).passed  # VAH is not LONG
    res = zone_level("short", D("106.5"), 1.0, [], PROFILE, ZS)
    assert res.passed and res.zone.kind == "vah" and res.stop == D("108")
    off = ZoneSettings(use_profile_levels=False)
    assert not zone_level("long", D("102.5"), 1.0, [], PROFILE, off).passed


def test_zone_strongest_then_nearest_wins_and_stop_buffer_rounds_outward():
    near_weak = Zone("demand", D("100.2"), D("100.6"), 40.0)
    res = zone_level("long", D("100.5"), 1.0, [near_weak, DEMAND], PROFILE, ZS)
    assert res.zone == DEMAND  # strength 80 beats 40 and the profile's 50
    s = ZoneSettings(stop_buffer_atr=0.25)
    res = zone_level("long", D("100.5"), 0.33, [DEMAND], None, s, price_step=D("0.01"))
    assert res.stop == D("100.0") - D("0.09")  # 0.0825 rounded out to the tick


def test_zone_without_atr_fails():
    res = zone_level("long", D("100.5"), None, [DEMAND], None, ZS)
    assert not res.passed and res.reason == "ATR not yet defined"


# ----------------------------------------------------------------------------- cascade

CS = CascadeSettings()


def test_cascade_long_both_sides_of_each_rule():
    assert cascade_level("long", Flow(2.0 + EPS, 1.5, 1.0), CS).passed
    assert not cascade_level("long", Flow(2.0, 1.5, 1.0), CS).passed  # fast must be > 2.0
    assert not cascade_level("long", Flow(3.0, 3.0, 1.0), CS).passed  # fast > middle strict
    assert not cascade_level("long", Flow(3.0, 1.5, 1.5), CS).passed  # middle > longest strict
    assert cascade_level("long", Flow(3.0, 1.5, 1.5 - EPS), CS).passed


def test_cascade_short_both_sides_of_each_rule():
    assert cascade_level("short", Flow(0.5 - EPS, 0.7, 0.9), CS).passed
    assert not cascade_level("short", Flow(0.5, 0.7, 0.9), CS).passed  # fast must be < 0.5
    assert not cascade_level("short", Flow(0.3, 0.3, 0.9), CS).passed
    assert not cascade_level("short", Flow(0.3, 0.9, 0.9), CS).passed
    res = cascade_level("short", Flow(0.3, 0.9 - EPS, 0.9), CS)
    assert res.passed and res.value == 0.3


def test_cascade_undefined_imbalance_fails():
    res = cascade_level("long", Flow(None, 1.0, 1.0), CS)
    assert not res.passed and "undefined" in res.reason


# ----------------------------------------------------------------------------- bounce

BS = BounceSettings()  # strength > 0.7, spike > 1.5 over the previous 19
PREVIOUS = D("190")  # 19 previous candles of volume 10: mean 10


def hammer(close: str, volume: str = "15.00000001") -> Bar:
    # range 100..102 = 2; open 101.2: lower wick 1.2 (0.6 of range)
    return Bar(T0, D("101.2"), D("102"), D("100"), D(close), D(volume))


def test_bounce_strength_formula_long_and_short():
    # wick 0.6, close location (101.6-100)/2 = 0.8 -> 0.5*0.6 + 0.5*0.8 = 0.7
    assert bounce_strength("long", hammer("101.6"), DEMAND, D("0.5"), 0.5) == pytest.approx(0.7)
    star = Bar(T0, D("108.8"), D("110"), D("108"), D("108.4"), D("1"))  # upper wick 1.2 of 2
    # SHORT: wick (110-108.8)/2 = 0.6, (110-108.4)/2 = 0.8
    assert bounce_strength("short", star, SUPPLY, D("0.5"), 0.5) == pytest.approx(0.7)
    # a bar that never reached the zone scores 0
    far = Bar(T0, D("103"), D("104"), D("102"), D("103.9"), D("1"))
    assert bounce_strength("long", far, DEMAND, D("0.5"), 0.5) == 0.0
    flat = Bar(T0, D("101"), D("101"), D("101"), D("101"), D("1"))
    assert bounce_strength("long", flat, DEMAND, D("0.5"), 0.5) == 0.0
    # the wick weight is configurable: all wick / all close location
    assert bounce_strength("long", hammer("101.6"), DEMAND, D("0.5"), 1.0) == pytest.approx(0.6)
    assert bounce_strength("long", hammer("101.6"), DEMAND, D("0.5"), 0.0) == pytest.approx(0.8)


def test_bounce_strength_threshold_both_sides():
    at = bounce_level("long", hammer("101.6"), PREVIOUS, DEMAND, D("0.5"), BS)
    assert at.metrics["strength"] == pytest.approx(0.7)
    assert not at.passed  # 0.7 is not > 0.7
    above = bounce_level("long", hammer("101.60000002"), PREVIOUS, DEMAND, D("0.5"), BS)
    assert above.metrics["strength"] > 0.7
    assert above.passed


def test_volume_spike_threshold_both_sides():
    assert volume_spike(D("15"), PREVIOUS, 19) == 1.5
    at = bounce_level("long", hammer("101.8", "15"), PREVIOUS, DEMAND, D("0.5"), BS)
    assert not at.passed and "volume spike 1.5 <= 1.5" in at.reason
    ok = bounce_level("long", hammer("101.8", "15.00000001"), PREVIOUS, DEMAND, D("0.5"), BS)
    assert ok.passed


def test_volume_spike_needs_history_and_handles_silence():
    short = bounce_level("long", hammer("101.8"), None, DEMAND, D("0.5"), BS)
    assert not short.passed
    assert short.reason == "need 19 previous candles of history for the volume spike"
    assert volume_spike(D("1"), D("0"), 19) == float("inf")
    assert volume_spike(D("0"), D("0"), 19) == 0.0
    assert bounce_level("long", hammer("101.8", "1"), D("0"), DEMAND, D("0.5"), BS).passed
    quiet = bounce_level("long", None, PREVIOUS, DEMAND, D("0.5"), BS)
    assert not quiet.passed and quiet.reason == "no trades in the evaluated candle"
