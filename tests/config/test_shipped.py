"""The configurations shipped in configs/ load and say what their comments promise."""

from decimal import Decimal

from tapeflow.config import load_config
from tapeflow.model.symbols import SymbolKey
from tests.support.paths import REPO_ROOT

CONFIGS = REPO_ROOT / "configs"


def test_paper_is_the_safe_default():
    cfg = load_config(CONFIGS / "paper.yaml", env={})
    assert [str(s.key) for s in cfg.enabled_symbols] == [
        "binance/usdm/BTCUSDT",
        "binance/usdm/ETHUSDT",
        "binance/spot/BTCUSDT",
        "binance/spot/ETHUSDT",
    ]
    assert cfg.execution.mode == "paper"
    assert cfg.state.backend == "embedded"
    assert cfg.notify.enabled is False
    assert {(f.exchange, f.market) for f in cfg.feeds()} == {
        ("binance", "usdm"),
        ("binance", "spot"),
    }
    for sym in cfg.symbols:
        assert sym.strategy.cascade.min_fast_imbalance == 2.0
        assert sym.timeframes.longest == "15m"


def test_example_multi_mixes_strategies_timeframes_and_a_meme_symbol():
    cfg = load_config(CONFIGS / "example-multi.yaml", env={})
    by_key = {str(s.key): s for s in cfg.symbols}
    assert len({s.strategy.name for s in cfg.symbols}) >= 3
    assert len({s.timeframes.longest for s in cfg.symbols}) >= 3
    pepe = by_key["binance/usdm/1000PEPEUSDT"]
    assert pepe.risk.asset_class == "meme"
    assert pepe.risk.trailing_pct == Decimal("17.5")
    assert cfg.execution.risk_for(SymbolKey.parse("binance/usdm/1000PEPEUSDT")) == pepe.risk
    # inherited from defaults, overridden per symbol
    assert by_key["binance/usdm/ETHUSDT"].strategy.confluence.min_score == 5
    assert by_key["binance/usdm/SOLUSDT"].strategy.confluence.min_score == 3
    assert by_key["binance/usdm/BTCUSDT"].strategy.cascade.min_fast_imbalance == 2.5
    assert by_key["binance/usdm/BTCUSDT"].strategy.cascade.max_fast_imbalance == 0.4
    assert by_key["binance/usdm/DOGEUSDT"].enabled is False
    assert "binance/usdm/DOGEUSDT" not in {str(s.key) for s in cfg.enabled_symbols}


def test_scalping_preset_is_seed_config_1():
    cfg = load_config(CONFIGS / "scalping.yaml", env={})
    ex = cfg.execution
    assert (ex.mode, ex.max_concurrent, ex.max_trades_per_hour, ex.max_trades_per_day) == (
        "paper",
        3,
        10,
        None,
    )
    assert ex.health.check_interval_s == 10 and ex.health.tighten_to_pct == Decimal("0.3")
    for sym in cfg.symbols:
        t = sym.timeframes
        assert (t.fastest, t.middle, t.longest) == ("1m", "5m", "15m")
        assert sym.risk.max_position_pct == 2
        assert sym.risk.max_hold_minutes * 60 == 300
        assert sym.risk.risk_reward == Decimal("1.5")
        assert sym.risk.trailing_pct == Decimal("0.5")
        assert ex.risk_for(sym.key) == sym.risk


def test_micro_trend_preset_is_seed_config_2():
    cfg = load_config(CONFIGS / "micro-trend.yaml", env={})
    ex = cfg.execution
    assert (ex.mode, ex.max_concurrent, ex.max_trades_per_hour, ex.max_trades_per_day) == (
        "paper",
        2,
        None,
        20,
    )
    for sym in cfg.symbols:
        t = sym.timeframes
        assert (t.fastest, t.middle, t.longest) == ("1m", "15m", "1h")
        assert sym.risk.max_position_pct == 3
        assert sym.risk.max_hold_minutes * 60 == 900
        assert sym.risk.risk_reward == Decimal(2)
        assert ex.risk_for(sym.key) == sym.risk


def test_the_daily_trade_cap_defaults_to_seed_004():
    cfg = load_config(CONFIGS / "paper.yaml", env={})
    assert (cfg.execution.max_trades_per_day, cfg.execution.max_trades_per_hour) == (5, None)
    assert cfg.execution.handlers[:2] == ("risk", "trade_rate")
