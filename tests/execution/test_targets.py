"""Take-profit targets: the signal's target or the configured risk:reward (seed 001
§6.1–6.2), each mode, and the configuration keys' defaults and validation."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from tapeflow.config import ConfigError, load_config
from tapeflow.config.execution import RiskSettings
from tapeflow.execution.targets import risk_reward_target, take_profit_price
from tests.execution.engine_support import BTC
from tests.execution.support import signal

LONG = signal(BTC, "long", "60000", "59880")  # 120 at risk
SHORT = signal(BTC, "short", "60000", "60150")  # 150 at risk


def test_default_is_the_signals_target_else_risk_reward_1_5():
    risk = RiskSettings()
    assert (risk.take_profit, risk.risk_reward) == ("signal_or_risk_reward", Decimal("1.5"))
    assert take_profit_price(LONG, risk) == Decimal("60180.0")  # 60,000 + 1.5 × 120
    assert take_profit_price(SHORT, risk) == Decimal("59775.0")  # 60,000 − 1.5 × 150
    with_target = dataclasses.replace(LONG, target=Decimal("60100"))
    assert take_profit_price(with_target, risk) == Decimal("60100")
    # a signal target on the wrong side of the entry is ignored
    behind = dataclasses.replace(LONG, target=Decimal("60000"))
    assert take_profit_price(behind, risk) == Decimal("60180.0")


def test_each_mode():
    own = dataclasses.replace(SHORT, target=Decimal("59900"))
    two = Decimal("2.0")  # seed 001 Config 2
    assert take_profit_price(own, RiskSettings(take_profit="signal")) == Decimal("59900")
    assert take_profit_price(SHORT, RiskSettings(take_profit="signal")) is None
    rr = RiskSettings(take_profit="risk_reward", risk_reward=two)
    assert take_profit_price(own, rr) == Decimal("59700.0")  # 60,000 − 2 × 150
    assert take_profit_price(own, RiskSettings(take_profit="off")) is None
    assert risk_reward_target("long", Decimal(100), Decimal(100), two) is None  # no risk


def test_config_keys_default_and_fail_naming_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("defaults: {risk: {risk_reward: 2.0, take_profit: risk_reward}}\n")
    cfg = load_config(path, env={})
    assert cfg.execution.risk.risk_reward == Decimal("2.0")
    assert cfg.execution.risk.take_profit == "risk_reward"
    for text, key in (
        ("defaults: {risk: {risk_reward: 0}}\n", "defaults.risk.risk_reward"),
        ("defaults: {risk: {take_profit: always}}\n", "defaults.risk.take_profit"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config(path, env={})
        assert [p.path for p in info.value.problems] == [key]
