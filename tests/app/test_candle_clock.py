"""The candle clock: closes on the next tick (exchange time), and live on the market clock."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tapeflow.app.candle_clock import CandleClock
from tapeflow.bus import EventBus
from tapeflow.model.events import CandleClosed, TradeTickReceived
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick
from tapeflow.store import TickStore
from tests.store.conftest import read_capture_trades, trades_to_table
from tests.support.paths import HFT_DIR

KEY = SymbolKey("binance", "usdm", "BTCUSDT")


@pytest.fixture(scope="module")
def trades():
    return read_capture_trades(HFT_DIR / "usdm" / "btcusdt_20240808.gz")


def tick(t: dict, key: SymbolKey = KEY) -> TradeTickReceived:
    return TradeTickReceived(
        tick=TradeTick(
            key=key,
            trade_id=t["t"],
            ts=datetime.fromtimestamp(t["T"] / 1000, UTC),
            price=Decimal(t["p"]),
            quantity=Decimal(t["q"]),
            side="sell" if t["m"] else "buy",
            trade_type=t.get("X"),
        )
    )


def minute_of(t: dict) -> datetime:
    ts = datetime.fromtimestamp(t["T"] / 1000, UTC)
    return ts.replace(second=0, microsecond=0)


async def run_clock(tmp_path, trades, script):
    """Store the trades, then run ``script(clock, closed)``; returns ``closed``, the 1m
    CandleClosed events of ``KEY`` (as the bus delivered them)."""
    closed: list[CandleClosed] = []
    bus = EventBus()

    async def record(event: CandleClosed) -> None:
        if event.timeframe == "1m" and event.key == KEY:
            closed.append(event)

    bus.subscribe(CandleClosed, record, name="record")
    await bus.start()
    with TickStore(tmp_path) as store:
        store.append(KEY, trades_to_table(trades), id_space="trade")

        async def flush(key: SymbolKey) -> None:  # every tick is stored already
            return None

        clock = CandleClock(store, bus, flush, refresh=[KEY])
        await script(clock, closed)
        await bus.stop()
    return closed


def test_ticks_close_each_traded_minute_once(tmp_path, trades):
    async def script(clock, closed):
        for t in trades:
            await clock.on_tick(tick(t))

    closed = asyncio.run(run_clock(tmp_path, trades, script))
    minutes = sorted({minute_of(t) for t in trades})
    assert [e.open_time for e in closed] == minutes[:-1]  # the last one never sees a later tick
    last_trade_of = {minute_of(t): Decimal(t["p"]) for t in trades}
    assert all(e.close == last_trade_of[e.open_time] for e in closed)


def test_the_wall_clock_closes_a_quiet_minute_and_the_next_tick_does_not_repeat_it(
    tmp_path, trades
):
    first_minute = minute_of(trades[0])
    head = [t for t in trades if minute_of(t) == first_minute]
    rest = [t for t in trades if minute_of(t) > first_minute]

    async def script(clock, closed):
        for t in head:
            await clock.on_tick(tick(t))
        await clock.close_due(first_minute + timedelta(seconds=59.999))  # not over yet
        assert clock.closed == 0
        now = first_minute + timedelta(minutes=1, seconds=2)
        stop = asyncio.Event()
        runner = asyncio.create_task(
            clock.run_close_timer(stop, grace_s=2.0, every_s=0.01, now=lambda: now)
        )
        await asyncio.sleep(0.1)  # several passes: still one announcement
        stop.set()
        await runner
        # one event per timeframe whose interval ends with this minute (1m, 5m, ... 4h)
        end_minute = int((first_minute + timedelta(minutes=1)).timestamp()) // 60
        assert clock.closed == sum(1 for m in (1, 5, 15, 60, 240) if end_minute % m == 0)
        for t in rest:
            await clock.on_tick(tick(t))

    closed = asyncio.run(run_clock(tmp_path, trades, script))
    minutes = sorted({minute_of(t) for t in trades})
    assert [e.open_time for e in closed] == minutes[:-1]
    assert closed[0].open_time == first_minute
    assert closed[0].close == Decimal(head[-1]["p"])


def test_a_busy_symbol_carries_the_market_clock_past_a_quiet_one(tmp_path, trades):
    """Live: BTC goes quiet after its first minute; ETH keeps trading. ETH's exchange times
    move the market clock, which closes BTC's minute without another BTC trade."""
    eth = SymbolKey("binance", "usdm", "ETHUSDT")
    first_minute = minute_of(trades[0])
    head = [t for t in trades if minute_of(t) == first_minute]
    due = first_minute + timedelta(minutes=1, seconds=2)  # end of the minute + grace
    eth_trades = read_capture_trades(HFT_DIR / "usdm" / "ethusdt_20240808.gz")
    # ETH up to a second short of BTC's due time (the wall time this test takes is less)
    before = [t for t in eth_trades if t["T"] / 1000 < due.timestamp() - 1]
    after = [t for t in eth_trades if t["T"] / 1000 >= due.timestamp()][:1]
    assert before and after

    async def script(clock, closed):
        stop = asyncio.Event()
        timer = asyncio.create_task(clock.run_close_timer(stop, grace_s=2.0, every_s=0.01))
        for t in head:
            await clock.on_tick(tick(t))
        for t in before:
            await clock.on_tick(tick(t, eth))
        await asyncio.sleep(0.05)
        assert clock.market_now() < due
        assert closed == []  # BTC's minute is over, but not by the grace yet
        await clock.on_tick(tick(after[0], eth))  # the market clock passes BTC's minute + grace
        await asyncio.sleep(0.05)
        stop.set()
        await timer

    closed = asyncio.run(run_clock(tmp_path, trades, script))
    assert [e.open_time for e in closed] == [first_minute]
    assert closed[0].close == Decimal(head[-1]["p"])
