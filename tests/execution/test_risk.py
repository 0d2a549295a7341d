"""Portfolio risk: drawdown levels, circuit breaker, restart, health gate, hold time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tapeflow.bus import EventBus
from tapeflow.config.execution import DrawdownLevels, ExecutionSettings, RiskSettings
from tapeflow.execution.risk import STATE_NAME, PortfolioRisk, RiskLevel, next_utc_midnight
from tapeflow.execution.statefile import JsonStateFile
from tapeflow.model.events import CircuitBreakerTripped
from tapeflow.model.records import Position

T0 = datetime(2024, 8, 8, 9, 30, tzinfo=UTC)


async def test_levels_escalate_at_their_thresholds(store):
    risk = PortfolioRisk(ExecutionSettings(), store)
    seen = []
    for equity, level in [
        ("10000", RiskLevel.NORMAL),  # day start
        ("9801", RiskLevel.NORMAL),  # 1.99 %
        ("9800", RiskLevel.ALERT),  # 2 %
        ("9700", RiskLevel.WARNING),  # 3 %
        ("9650", RiskLevel.WARNING),
        ("9600", RiskLevel.CRITICAL),  # 4 %
        ("9550", RiskLevel.CRITICAL),
    ]:
        a = await risk.observe(Decimal(equity), T0)
        assert a.level == level, equity
        seen.append((a.escalated, a.tighten))
    assert a.drawdown_pct == Decimal("4.5")
    assert a.day_start_equity == Decimal(10_000)
    assert seen == [
        (False, False),
        (False, False),
        (True, False),
        (True, False),
        (False, False),
        (True, True),
        (False, False),
    ]
    assert risk.entry_block(T0) == "daily drawdown at CRITICAL level"
    assert not risk.halted


async def test_circuit_breaker_halts_until_next_utc_day_and_publishes(store):
    bus = EventBus()
    got = []
    bus.subscribe(CircuitBreakerTripped, got.append)
    await bus.start()
    risk = PortfolioRisk(ExecutionSettings(), store, bus)
    await risk.observe(Decimal(20_000), T0)
    a = await risk.observe(Decimal(19_000), T0 + timedelta(hours=1))  # exactly 5 %
    assert a.level == RiskLevel.CIRCUIT_BREAKER and a.close_all
    assert risk.halted_until == datetime(2024, 8, 9, tzinfo=UTC)
    block = risk.entry_block(T0 + timedelta(hours=2))
    assert block.startswith("portfolio circuit breaker halted entries until 2024-08-09")
    # recovery during the day does not lift the halt
    a = await risk.observe(Decimal(20_500), T0 + timedelta(hours=3))
    assert a.level == RiskLevel.NORMAL and a.close_all and risk.entry_block(T0) is not None
    await bus.stop()
    assert [(e.scope, e.reason[:23]) for e in got] == [("portfolio", "daily drawdown 5.000% >")]
    # the next UTC day: halt lifted, new baseline
    day2 = datetime(2024, 8, 9, 0, 0, 5, tzinfo=UTC)
    assert risk.entry_block(day2) is None
    a = await risk.observe(Decimal(20_400), day2)
    assert not risk.halted and a.level == RiskLevel.NORMAL
    assert risk.day_start_equity == Decimal(20_400)


async def test_state_survives_a_restart(open_store):
    first = PortfolioRisk(ExecutionSettings(), open_store())
    await first.observe(Decimal(10_000), T0)
    await first.observe(Decimal(9_650), T0 + timedelta(minutes=5))  # warning
    await first.observe(Decimal(9_480), T0 + timedelta(minutes=6))  # 5.2 %: breaker
    assert first.halted

    again = PortfolioRisk(ExecutionSettings(), open_store())  # a new process
    assert again.halted and again.halted_until == datetime(2024, 8, 9, tzinfo=UTC)
    assert again.day_start_equity == Decimal(10_000)  # baseline kept, not reset to 9480
    assert again.peak_level == RiskLevel.CIRCUIT_BREAKER
    assert again.entry_block(T0 + timedelta(minutes=7)) is not None
    # the baseline matters: 9,700 later that day is still a 3 % drawdown
    a = await again.observe(Decimal(9_700), T0 + timedelta(minutes=8))
    assert a.level == RiskLevel.WARNING and a.drawdown_pct == Decimal(3)
    # manual reset re-bases the day
    again.manual_reset(Decimal(9_700), T0 + timedelta(minutes=9))
    third = PortfolioRisk(ExecutionSettings(), open_store())
    assert not third.halted and third.day_start_equity == Decimal(9_700)
    assert third.entry_block(T0 + timedelta(minutes=10)) is None


async def test_state_in_a_json_state_file(tmp_path):
    path = tmp_path / "state" / "engine.json"
    risk = PortfolioRisk(ExecutionSettings(), JsonStateFile(path))
    await risk.observe(Decimal(1000), T0)
    await risk.observe(Decimal(940), T0)
    again = PortfolioRisk(ExecutionSettings(), JsonStateFile(path))
    assert again.halted and again.state() == risk.state()


async def test_custom_levels_and_validation(store):
    s = ExecutionSettings(
        drawdown=DrawdownLevels(
            alert=Decimal(1),
            warning=Decimal("1.5"),
            critical=Decimal(2),
            circuit_breaker=Decimal(3),
        ),
        block_entries_at_critical=False,
    )
    risk = PortfolioRisk(s, store)
    await risk.observe(Decimal(100), T0)
    assert (await risk.observe(Decimal("97.9"), T0)).level == RiskLevel.CRITICAL
    assert risk.entry_block(T0) is None  # blocking at critical switched off
    with pytest.raises(ValueError, match="must increase"):
        DrawdownLevels(alert=Decimal(3), warning=Decimal(2))


async def test_health_gate(store):
    risk = PortfolioRisk(ExecutionSettings(), store)
    risk.set_health("feed", False, "binance/usdm disconnected")
    assert risk.entry_block(T0) == "health degraded (feed: binance/usdm disconnected)"
    risk.set_health("feed", True)
    assert risk.entry_block(T0) is None


def test_overdue_positions(store):
    s = ExecutionSettings(
        risk=RiskSettings(max_hold_minutes=60),
        symbol_risk={"binance/usdm/ETHUSDT": RiskSettings(max_hold_minutes=5)},
    )
    risk = PortfolioRisk(s, store)

    def pos(pid, symbol, minutes_ago, status="open"):
        return Position(
            position_id=pid,
            symbol=symbol,
            direction="long",
            status=status,
            quantity=Decimal(1),
            entry_price=Decimal(1),
            opened_at=T0 - timedelta(minutes=minutes_ago),
        )

    positions = [
        pos("a", "binance/usdm/BTCUSDT", 59),
        pos("b", "binance/usdm/BTCUSDT", 60),
        pos("c", "binance/usdm/ETHUSDT", 6),
        pos("d", "binance/usdm/ETHUSDT", 4),
        pos("e", "binance/usdm/ETHUSDT", 600, status="closing"),
    ]
    assert [p.position_id for p in risk.overdue(positions, T0)] == ["b", "c"]


def test_malformed_state_is_named(store):
    store.put_state(STATE_NAME, {"day": "not a date"})
    with pytest.raises(ValueError, match="execution.portfolio_risk"):
        PortfolioRisk(ExecutionSettings(), store)


def test_next_midnight():
    assert next_utc_midnight(datetime(2024, 12, 31, 23, 59, tzinfo=UTC)) == datetime(
        2025, 1, 1, tzinfo=UTC
    )
