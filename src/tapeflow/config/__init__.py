"""tapeflow configuration: YAML → validated pydantic models, per-symbol inheritance.

from tapeflow.config import load_config
config = load_config("configs/paper.yaml")   # raises ConfigError naming each bad key
for sym in config.enabled_symbols:
    sym.key, sym.timeframes.longest, sym.strategy.cascade.min_fast_imbalance
"""

from tapeflow.config.app import AppConfig
from tapeflow.config.errors import ConfigError, Problem
from tapeflow.config.loader import DEFAULT_CONFIG, deep_merge, load_config, parse_config
from tapeflow.config.sections import AppSettings, StoreSettings
from tapeflow.config.strategy import (
    BounceSettings,
    CascadeSettings,
    ConfluenceSettings,
    ConfluenceWeights,
    DetectionSettings,
    IndicatorSettings,
    RegimeSettings,
    SeedConfluenceSettings,
    StrategySettings,
    ZoneSettings,
)
from tapeflow.config.symbols import ProfileSettings, SymbolConfig, SymbolSettings
from tapeflow.config.timeframes import Timeframes

__all__ = [
    "DEFAULT_CONFIG",
    "AppConfig",
    "AppSettings",
    "BounceSettings",
    "CascadeSettings",
    "ConfigError",
    "ConfluenceSettings",
    "ConfluenceWeights",
    "DetectionSettings",
    "IndicatorSettings",
    "Problem",
    "ProfileSettings",
    "RegimeSettings",
    "SeedConfluenceSettings",
    "StoreSettings",
    "StrategySettings",
    "SymbolConfig",
    "SymbolSettings",
    "Timeframes",
    "ZoneSettings",
    "deep_merge",
    "load_config",
    "parse_config",
]
