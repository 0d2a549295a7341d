"""An execution engine on the paper exchange, driven by real ticks, for the tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tapeflow.bus import EventBus
from tapeflow.config.execution import ExecutionSettings
from tapeflow.execution.engine import ExecutionEngine
from tapeflow.execution.paper import PaperExchange
from tapeflow.execution.refusals import RefusalLog
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick
from tapeflow.state.embedded import EmbeddedStore
from tests.execution.support import market_rules

BTC = SymbolKey("binance", "usdm", "BTCUSDT")
ETH = SymbolKey("binance", "usdm", "ETHUSDT")


@dataclass
class Clock:
    """A settable UTC clock (the engine's ``clock``)."""

    now: datetime = field(default_factory=lambda: datetime(2024, 8, 8, 23, 54, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    """An engine, its paper exchange, store, bus, clock and event log."""

    engine: ExecutionEngine
    paper: PaperExchange
    store: EmbeddedStore
    bus: EventBus
    clock: Clock
    events: list = field(default_factory=list)

    async def feed(self, ticks: Iterable[TradeTick]) -> None:
        """Tick the engine with the clock at each trade's time."""
        for t in ticks:
            self.clock.now = t.ts
            await self.engine.on_tick(t)


def make_paper(store, settings: ExecutionSettings) -> PaperExchange:
    markets = {k: market_rules("usdm", k.symbol) for k in (BTC, ETH)}
    return PaperExchange(
        "binance/usdm",
        markets,
        quote_asset=settings.quote_asset,
        starting_balance=settings.paper_balance,
        fee_bps=settings.fee_bps,
        slippage_bps=settings.slippage_bps,
        leverage_for=lambda key: settings.risk_for(key).leverage,
        store=store,
    )


async def make_rig(
    store: EmbeddedStore,
    settings: ExecutionSettings | None = None,
    *,
    refusal_path: Path | None = None,
    clock: Clock | None = None,
    market_clock: bool = False,
) -> Rig:
    """A started engine on a paper USD-M exchange (BTCUSDT, ETHUSDT) over ``store``;
    every bus event is appended to ``rig.events``."""
    settings = settings or ExecutionSettings(risk_check_interval_s=0)
    bus = EventBus()
    clock = clock or Clock()
    paper = make_paper(store, settings)
    engine = ExecutionEngine(
        settings,
        paper,
        store,
        bus=bus,
        refusals=RefusalLog(refusal_path),
        clock=clock,
        market_clock=market_clock,
    )
    rig = Rig(engine, paper, store, bus, clock)
    bus.subscribe(object, rig.events.append, name="test.events")
    await bus.start()
    await engine.start()
    return rig


async def drain(rig: Rig) -> list:
    """Let the bus deliver everything published so far; returns the event log."""
    await rig.bus.stop()
    await rig.bus.start()
    return rig.events


def dec(x: str | int) -> Decimal:
    return Decimal(x)
