"""Every kind of configuration error names the key's path and the rule it breaks."""

import pytest

from tapeflow.config import ConfigError, load_config

BTC = "symbols[binance/usdm/BTCUSDT]"


def test_out_of_range_value_names_path_rule_and_value(problems):
    got = problems(
        "symbols:\n  binance/usdm/BTCUSDT:\n    strategy: {cascade: {min_fast_imbalance: -1}}\n"
    )
    assert got == {f"{BTC}.strategy.cascade.min_fast_imbalance": "must be > 0 (got -1)"}


@pytest.mark.parametrize(
    ("yaml_text", "path", "rule"),
    [
        ("store: {pool_limit: 0}", "store.pool_limit", "must be >= 1 (got 0)"),
        (
            "defaults: {strategy: {regime: {min_adx: 101}}}",
            "defaults.strategy.regime.min_adx",
            "must be <= 100 (got 101)",
        ),
        (
            "defaults: {strategy: {bounce: {min_strength: 1}}}",
            "defaults.strategy.bounce.min_strength",
            "must be < 1 (got 1)",
        ),
        ("app: {status_interval_s: 0}", "app.status_interval_s", "must be > 0 (got 0)"),
        (
            "execution: {max_trades_per_day: 0}",
            "execution.max_trades_per_day",
            "must be >= 1 (got 0)",
        ),
        (
            "execution: {health: {tighten_to_pct: 0}}",
            "execution.health.tighten_to_pct",
            "must be > 0 (got 0)",
        ),
    ],
)
def test_range_rules(problems, yaml_text, path, rule):
    assert problems(yaml_text) == {path: rule}


def test_unknown_keys_everywhere_list_the_allowed_keys(problems):
    got = problems(
        """
colour: blue
store: {rooot: data}
defaults: {strategy: {cascade: {min_fast_imbalanse: 2}}}
symbols:
  binance/usdm/BTCUSDT:
    strategy: {bounce: {strenght: 0.8}}
"""
    )
    assert got["colour"].startswith("unknown key (allowed: store, ingest, execution")
    assert got["store.rooot"] == "unknown key (allowed: root, pool_limit, memory_limit)"
    assert got["defaults.strategy.cascade.min_fast_imbalanse"] == (
        "unknown key (allowed: min_fast_imbalance, max_fast_imbalance)"
    )
    assert got[f"{BTC}.strategy.bounce.strenght"].startswith(
        "unknown key (allowed: min_strength, wick_weight,"
    )
    # an unknown key in defaults is reported once, at defaults, not again per symbol
    assert f"{BTC}.strategy.cascade.min_fast_imbalanse" not in got
    assert len(got) == 4


@pytest.mark.parametrize(
    ("yaml_text", "path", "rule"),
    [
        ("store: {pool_limit: many}", "store.pool_limit", "must be an integer (got 'many')"),
        ("defaults: {enabled: maybe}", "defaults.enabled", "must be true or false (got 'maybe')"),
        (
            "defaults: {strategy: {regime: {min_hurst: [1]}}}",
            "defaults.strategy.regime.min_hurst",
            "must be a number (got [1])",
        ),
        ("defaults: {strategy: 5}", "defaults.strategy", "must be a mapping (got 5)"),
        (
            "defaults: {risk: {leverage: lots}}",
            "defaults.risk.leverage",
            "must be a decimal number (got 'lots')",
        ),
    ],
)
def test_wrong_types(problems, yaml_text, path, rule):
    assert problems(yaml_text) == {path: rule}


def test_choices_patterns_and_missing_keys(problems):
    got = problems(
        """
app: {log_format: xml}
symbols:
  - symbol: BTCUSDT
    timeframes: {fastest: 2m}
    strategy: {name: "Bad Name"}
"""
    )
    assert got["app.log_format"] == "must be one of 'plain' or 'json' (got 'xml')"
    assert got["symbols[BTCUSDT].timeframes.fastest"] == (
        "must be one of '1m', '5m', '15m', '1h' or '4h' (got '2m')"
    )
    assert got["symbols[BTCUSDT].strategy.name"].startswith("must match ^[a-z]")
    assert got["symbols[BTCUSDT].market"] == "required key is missing"


def test_timeframe_order_and_other_cross_field_rules(problems):
    got = problems(
        """
defaults: {market: usdm}
symbols:
  binance/usdm/BTCUSDT:
    timeframes: {longest: 5m, middle: 15m, fastest: 1m}
  binance/usdm/ETHUSDT:
    strategy:
      cascade: {min_fast_imbalance: 0.4, max_fast_imbalance: 0.5}
      confluence: {min_score: 9}
      indicators: {ema_fast: 60}
"""
    )
    eth = "symbols[binance/usdm/ETHUSDT]"
    assert got == {
        f"{BTC}.timeframes": "must be ordered longest > middle > fastest "
        "(got longest=5m, middle=15m, fastest=1m)",
        f"{eth}.strategy.cascade": "max_fast_imbalance (SHORT) must be below "
        "min_fast_imbalance (LONG) (got 0.5 and 0.4)",
        f"{eth}.strategy.confluence": "min_score 9.0 can never be reached: the weights sum to 8.0",
        f"{eth}.strategy.indicators": "EMA periods must be ordered ema_fast < ema_mid < ema_slow "
        "(got 60, 50, 200)",
    }


def test_equal_timeframes_fail_too(problems):
    got = problems("symbols:\n  binance/usdm/BTCUSDT:\n    timeframes: {middle: 1m}\n")
    assert got[f"{BTC}.timeframes"].startswith("must be ordered longest > middle > fastest")


def test_inherited_cross_field_error_is_marked(problems):
    # defaults alone are fine; the symbol's override makes the merged section invalid
    got = problems(
        "defaults: {timeframes: {longest: 1h, middle: 15m}}\n"
        "symbols:\n  binance/usdm/BTCUSDT:\n    timeframes: {longest: 5m}\n"
    )
    assert list(got) == [f"{BTC}.timeframes"]
    assert "got longest=5m, middle=15m, fastest=1m" in got[f"{BTC}.timeframes"]


def test_symbol_identity_errors(problems):
    got = problems(
        """
symbols:
  binance/usdm/btc-usd: {}
  kraken/spot/BTCUSD: {}
  binance/usdm/ETHUSDT: {market: spot}
"""
    )
    assert got["symbols[binance/usdm/btc-usd]"].startswith("invalid symbol 'BTC-USD'")
    assert got["symbols[kraken/spot/BTCUSD]"].startswith("unknown exchange 'kraken'")
    assert got["symbols[binance/usdm/ETHUSDT].market"] == (
        "contradicts the key 'binance/usdm/ETHUSDT' (got 'spot')"
    )


def test_symbol_configured_twice(problems):
    got = problems(
        "defaults: {market: usdm}\nsymbols:\n  - {symbol: BTCUSDT}\n"
        "  - {key: binance/usdm/BTCUSDT}\n"
    )
    assert got == {"symbols[binance/usdm/BTCUSDT]": "configured twice"}


def test_symbols_must_be_list_or_mapping(problems):
    assert problems("symbols: BTCUSDT") == {
        "symbols": "must be a list of entries or a mapping keyed by exchange/market/SYMBOL"
    }


def test_yaml_syntax_and_repeated_keys(problems):
    assert problems("store: {root: data\n") == {
        "": "YAML syntax: line 2, column 1: expected ',' or '}', but got '<stream end>'"
    }
    got = problems("store:\n  root: a\n  root: b\n")
    assert got == {"": "YAML syntax: line 3, column 3: key 'root' appears twice in one mapping"}


def test_many_problems_are_reported_together(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("store: {pool_limit: 0}\napp: {log_format: xml}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = str(info.value)
    assert text.splitlines()[0] == f"invalid {path} (2 problems):"
    assert "  store.pool_limit: must be >= 1 (got 0)" in text
    assert "  app.log_format: must be one of 'plain' or 'json' (got 'xml')" in text


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read .*nope.yaml: No such file"):
        load_config(tmp_path / "nope.yaml")


def test_execution_risk_must_be_set_per_symbol(problems):
    assert problems("execution: {risk: {leverage: 2}}") == {
        "execution.risk": "risk is configured per symbol: put it under defaults.risk or "
        "symbols[...].risk"
    }


def test_identity_in_defaults_is_checked_once_at_defaults(problems):
    got = problems(
        "defaults: {exchange: kraken, market: margin}\nsymbols:\n  - {symbol: BTCUSDT}\n"
    )
    assert got["defaults.exchange"].startswith("unknown exchange 'kraken'; known: binance, ")
    assert got["defaults.market"].startswith("unknown market 'margin'; known: ")
    assert "usdm" in got["defaults.market"]
    # the symbol inherits both: reported at defaults only, not again per symbol
    assert not [p for p in got if p.startswith("symbols[") and p.endswith(("exchange", "market"))]


def test_inherited_value_breaking_a_symbol_rule_is_marked(problems):
    # market 'linear' is valid in general (bybit) but not for binance: the merged symbol fails
    got = problems("defaults: {market: linear}\nsymbols:\n  - {symbol: BTCUSDT}\n")
    assert got == {
        "symbols[binance/linear/BTCUSDT]": "unknown market 'linear' for binance; known: coinm, "
        "spot, usdm"
    }
