"""Position sizing on real recorded prices and Binance's 2024 market rules."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest

from tapeflow.app.markets import load_market_snapshot
from tapeflow.config.execution import RiskSettings
from tapeflow.execution.sizing import position_size
from tapeflow.model.symbols import SymbolKey
from tests.execution.support import market_rules, real_ticks

USDM_BTC = market_rules("usdm", "BTCUSDT")
SPOT_BTC = market_rules("spot", "BTCUSDT")
USDM_ETH = market_rules("usdm", "ETHUSDT")


def test_risk_based_size_on_a_real_price():
    entry = real_ticks("usdm", "BTCUSDT", "20240808")[-1].price  # 61,7xx.x at 23:59:59
    stop = entry - Decimal(300)
    risk = RiskSettings(
        risk_per_trade=Decimal("0.01"), max_position_pct=Decimal(50), leverage=Decimal(5)
    )
    got = position_size(
        balance=Decimal(10_000),
        entry=entry,
        stop=stop,
        direction="long",
        risk=risk,
        market=USDM_BTC,
    )
    # 100 USDT risk / 300 USDT per BTC = 0.3333.. BTC, floored to the 0.001 step
    assert got.ok and not got.capped
    assert got.risk_amount == Decimal(100)
    assert got.quantity == Decimal("0.333")
    assert got.notional == Decimal("0.333") * entry
    # a stop-out loses no more than the risk amount
    assert got.quantity * (entry - stop) <= got.risk_amount


def test_cap_by_max_position_pct_times_leverage():
    entry = real_ticks("usdm", "ETHUSDT", "20240808")[0].price  # 2681.62
    risk = RiskSettings(
        risk_per_trade=Decimal("0.02"), max_position_pct=Decimal(10), leverage=Decimal(3)
    )
    # tight stop -> huge risk quantity; the cap is 10 % of 5000 × 3 = 1500 USDT notional
    got = position_size(
        balance=Decimal(5000),
        entry=entry,
        stop=entry - Decimal("0.5"),
        direction="long",
        risk=risk,
        market=USDM_ETH,
    )
    assert got.capped
    want = (Decimal(1500) / entry).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    assert got.quantity == want == Decimal("0.559")
    assert got.notional <= Decimal(1500)


def test_spot_ignores_leverage_and_rounds_down_to_the_step():
    entry = real_ticks("spot", "BTCUSDT", "20240809")[0].price  # 61685.99
    risk = RiskSettings(
        risk_per_trade=Decimal("0.01"), max_position_pct=Decimal(20), leverage=Decimal(10)
    )
    got = position_size(
        balance=Decimal(1000),
        entry=entry,
        stop=entry - Decimal(50),
        direction="long",
        risk=risk,
        market=SPOT_BTC,
    )
    # risk: 10 / 50 = 0.2 BTC; cap: 200 USDT / 61685.99 = 0.0032422... -> 0.00324
    assert got.capped
    assert got.quantity == Decimal("0.00324")
    assert got.quantity % SPOT_BTC.amount_step == 0


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"balance": Decimal(100)}, "below the minimum 100"),  # USD-M BTC min notional
        ({"balance": Decimal(0)}, "no equity to size from"),
        ({"available": Decimal(0)}, "no free balance (0 USDT)"),
        ({"stop_offset": Decimal(0)}, "not below entry"),
        ({"direction": "short", "stop_offset": Decimal(100)}, "not above entry"),
        ({"balance": Decimal("0.5")}, "size rounds to zero"),
    ],
)
def test_refusals_name_their_reason(kwargs, reason):
    entry = real_ticks("usdm", "BTCUSDT", "20240808")[100].price
    stop = entry - kwargs.get("stop_offset", Decimal(200))
    got = position_size(
        balance=kwargs.get("balance", Decimal(10_000)),
        entry=entry,
        stop=stop,
        direction=kwargs.get("direction", "long"),
        risk=RiskSettings(risk_per_trade=Decimal("0.1"), max_position_pct=Decimal(100)),
        market=USDM_BTC,
        available=kwargs.get("available"),
    )
    assert not got.ok
    assert reason in got.refused


def test_spot_cannot_short():
    entry = real_ticks("spot", "BTCUSDT", "20240809")[0].price
    got = position_size(
        balance=Decimal(10_000),
        entry=entry,
        stop=entry + 100,
        direction="short",
        risk=RiskSettings(),
        market=SPOT_BTC,
    )
    assert not got.ok and "cannot open a short" in got.refused


def test_min_notional_of_spot_is_checked():
    entry = real_ticks("spot", "BTCUSDT", "20240809")[0].price
    # 0.1 % of 100 USDT = 0.1 USDT risk / 50 = 0.002 BTC, capped at 1 % of 100 = 1 USDT
    got = position_size(
        balance=Decimal(100),
        entry=entry,
        stop=entry - 50,
        direction="long",
        risk=RiskSettings(risk_per_trade=Decimal("0.001"), max_position_pct=Decimal(1)),
        market=SPOT_BTC,
    )
    assert not got.ok
    assert got.refused == f"notional {got.notional} USDT below the minimum 5.00000000"


def test_the_free_quote_balance_caps_at_its_threshold_and_not_just_below():
    """XRP/ETH on Binance spot (step 1 XRP): 3,524 XRP at 0.00141798 ETH cost exactly
    4.99696152 ETH; that much free ETH buys 3,524, a hair less buys 3,523."""
    market = load_market_snapshot("binance", "spot")[SymbolKey("binance", "spot", "XRPETH")]
    entry = Decimal("0.00141798")
    exact = 3524 * entry
    assert exact == Decimal("4.99696152")

    def size(available: Decimal):
        return position_size(
            balance=Decimal(100),  # equity in ETH: the risk and the 20 % cap allow far more
            entry=entry,
            stop=entry - Decimal("0.0001"),
            direction="long",
            risk=RiskSettings(),
            market=market,
            available=available,
        )

    at, below = size(exact), size(exact - Decimal("0.00000001"))
    assert (at.quantity, at.capped) == (Decimal(3524), True)
    assert (below.quantity, below.capped) == (Decimal(3523), True)
    free = size(None)  # not limited by the free balance: 1 ETH of risk over 0.0001 ETH
    assert (free.quantity, free.capped) == (Decimal(10_000), False)
