"""Per-symbol inheritance: symbol value -> defaults -> built-in default, key by key."""

from decimal import Decimal

from tapeflow.config import StrategySettings
from tapeflow.model.symbols import SymbolKey

BUILTIN = StrategySettings()


def test_builtin_defaults_apply_when_nothing_is_set(load_yaml):
    cfg = load_yaml("symbols:\n  - {symbol: BTCUSDT, market: usdm}\n")
    (sym,) = cfg.symbols
    assert sym.key == SymbolKey("binance", "usdm", "BTCUSDT")
    assert sym.enabled is True
    assert sym.strategy.cascade.min_fast_imbalance == 2.0
    assert sym.strategy.regime.min_adx == 20.0
    assert sym.strategy.regime.min_atr_pct == 0.5
    assert sym.strategy.regime.min_hurst == 0.55
    assert sym.strategy.regime.max_mean_reversion == 0.6
    assert sym.strategy.bounce.min_strength == 0.7
    assert sym.strategy.bounce.min_volume_spike == 1.5
    assert sym.strategy.confluence.weights.total == 8.0
    assert (sym.timeframes.longest, sym.timeframes.middle, sym.timeframes.fastest) == (
        "15m",
        "5m",
        "1m",
    )
    assert sym.risk.asset_class == "regular"
    assert sym.profile.bucket_ticks == 10
    assert cfg.execution.mode == "paper"
    assert cfg.state.backend == "embedded"


def test_defaults_override_builtins_and_symbols_override_defaults(load_yaml):
    cfg = load_yaml(
        """
defaults:
  market: usdm
  strategy:
    cascade: {min_fast_imbalance: 3.0}
    regime: {min_adx: 25}
  risk: {leverage: 3}
symbols:
  binance/usdm/BTCUSDT:
    strategy:
      cascade: {min_fast_imbalance: 4.0}
  binance/usdm/ETHUSDT: {}
"""
    )
    btc, eth = cfg.symbols
    # symbol value wins over defaults
    assert btc.strategy.cascade.min_fast_imbalance == 4.0
    # sibling keys of the same section still come from defaults / built-ins (deep merge)
    assert btc.strategy.cascade.max_fast_imbalance == BUILTIN.cascade.max_fast_imbalance
    assert btc.strategy.regime.min_adx == 25
    assert btc.strategy.regime.min_hurst == BUILTIN.regime.min_hurst
    # defaults win over built-ins where the symbol says nothing
    assert eth.strategy.cascade.min_fast_imbalance == 3.0
    assert eth.risk.leverage == Decimal(3)
    assert eth.risk.risk_per_trade == Decimal("0.01")


def test_identity_may_come_from_defaults_and_list_forms_agree(load_yaml):
    cfg = load_yaml(
        """
defaults: {exchange: binance, market: spot}
symbols:
  - {symbol: BTCUSDT}
  - {key: binance/usdm/ETHUSDT}
  - binance/usdm/SOLUSDT
"""
    )
    assert [str(s.key) for s in cfg.symbols] == [
        "binance/spot/BTCUSDT",
        "binance/usdm/ETHUSDT",
        "binance/usdm/SOLUSDT",
    ]


def test_nested_override_replaces_only_that_leaf(load_yaml):
    cfg = load_yaml(
        """
defaults:
  market: usdm
  strategy:
    confluence:
      weights: {fvg: 2.5}
      min_score: 4
symbols:
  - symbol: BTCUSDT
    strategy:
      confluence:
        weights: {autocorrelation: 0.0}
"""
    )
    w = cfg.symbols[0].strategy.confluence.weights
    assert w.fvg == 2.5  # from defaults
    assert w.autocorrelation == 0.0  # from the symbol
    assert w.zone_quality == 2.0  # built-in
    assert cfg.symbols[0].strategy.confluence.min_score == 4


def test_execution_risk_follows_symbol_risk(load_yaml):
    cfg = load_yaml(
        """
defaults: {market: usdm, risk: {leverage: 2}}
symbols:
  - {symbol: BTCUSDT}
  - {symbol: PEPEUSDT, risk: {asset_class: meme, trailing_distance_pct: 17.5}}
"""
    )
    btc, pepe = cfg.symbols
    assert cfg.execution.risk_for(btc.key) == btc.risk
    assert cfg.execution.risk_for(pepe.key).trailing_pct == Decimal("17.5")
    assert cfg.execution.risk_for(pepe.key).leverage == Decimal(2)
    assert cfg.execution.risk.leverage == Decimal(2)


def test_disabled_symbols_are_validated_but_not_enabled(load_yaml):
    cfg = load_yaml(
        "defaults: {market: spot}\nsymbols:\n  - {symbol: BTCUSDT}\n"
        "  - {symbol: ETHUSDT, enabled: false}\n"
    )
    assert [s.symbol for s in cfg.enabled_symbols] == ["BTCUSDT"]
    assert cfg.symbol("binance/spot/ETHUSDT").enabled is False
