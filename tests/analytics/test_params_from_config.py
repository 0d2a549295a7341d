"""The analytics' parameters take their defaults from the configuration models, and a
configured strategy reaches the trackers unchanged."""

import inspect

from tapeflow.analytics.fvg import FvgParams, fvgs
from tapeflow.analytics.indicators import IndicatorParams, indicators
from tapeflow.analytics.structure import StructureParams, order_blocks
from tapeflow.analytics.zones import ZoneParams, zones
from tapeflow.config.strategy import DetectionSettings, IndicatorSettings, StrategySettings
from tapeflow.strategy.features import FeatureParams


def test_analytics_defaults_are_the_configuration_defaults():
    i, d = IndicatorSettings(), DetectionSettings()
    assert IndicatorParams() == IndicatorParams.from_settings(i)
    assert ZoneParams() == ZoneParams.from_settings(d, i)
    assert FvgParams() == FvgParams.from_settings(d, i)
    assert StructureParams() == StructureParams.from_settings(d)
    # The batch functions' keyword defaults are the same values.
    assert inspect.signature(indicators).parameters["atr"].default == i.atr_period
    assert inspect.signature(zones).parameters["max_base"].default == d.zone_max_base
    assert inspect.signature(fvgs).parameters["min_pct"].default == d.fvg_min_pct
    assert inspect.signature(order_blocks).parameters["ob_lookback"].default == (
        d.order_block_lookback
    )


def test_configured_values_reach_the_analytics():
    i = IndicatorSettings(atr_period=21, ema_fast=5, ema_mid=10, ema_slow=30, hurst_window=64)
    d = DetectionSettings(swing_bars=3, order_block_lookback=7, zone_max_base=4, fvg_min_pct=0.2)
    p = FeatureParams.from_settings(StrategySettings(indicators=i, detection=d))
    assert (p.indicators.ema, p.indicators.atr, p.indicators.hurst_window) == ((5, 10, 30), 21, 64)
    assert (p.zones.max_base, p.zones.atr_period) == (4, 21)
    assert (p.fvgs.min_pct, p.fvgs.atr_period) == (0.2, 21)
    assert (p.structure.swing_bars, p.structure.ob_lookback) == (3, 7)
