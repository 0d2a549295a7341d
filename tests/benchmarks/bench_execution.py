"""Benchmark: execution latency on the paper exchange, and trailing-stop cost per tick.

Run on demand: ``.venv/bin/python tests/benchmarks/bench_execution.py``.

1. **Signal → order sent** through the whole chain (risk, existing position, reversal,
   position limit, sizing, exposure, placement, monitoring) on the paper exchange, for
   ``SIGNALS`` distinct decisions over 200 symbols at real BTCUSDT prices. "Sent" is the
   moment the chain hands the order to the exchange (``place_order`` is entered); by then
   the pending position and the write-ahead order record are in the state store.
   Measured with the embedded (SQLite, ``synchronous=FULL``) store on the working disk and
   on tmpfs (``/dev/shm``: the same code without the fsync wait). Baseline: the bare paper
   ``place_order`` call, no chain, no store.
2. **Trailing stops per tick** with positions spread over symbols, real BTCUSDT prices
   dealt round-robin to the symbols: 500 positions / 200 symbols, 5000 / 2000 (same
   positions per symbol, 10× the total), and 5000 / 200 (10× per symbol). Baseline: an
   unindexed book that checks every position on every tick.

3. **Resting stop trigger → position booked closed** (paper): ``STOP_TRIGGERS`` long
   positions, each with its reduce-only stop resting on the paper exchange; one trade
   through the stop; the time from handing that trade to ``ExecutionEngine.on_tick`` until
   the position is booked ``closed`` in the store (the resting order fills at that trade
   and its fill closes the position). Baseline, the same run: resting stops off, the
   engine's own enforcement closes the position with a market exit filled at that trade.

Goals: chain p99 ≤ 5 ms; a tick's cost independent of the total count;
≤ 20 µs per position updated.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tapeflow.config.execution import (  # noqa: E402
    DrawdownLevels,
    ExecutionSettings,
    PortfolioHealthSettings,
    RestingStopSettings,
    RiskSettings,
)
from tapeflow.execution.engine import ExecutionEngine  # noqa: E402
from tapeflow.execution.paper import PaperExchange  # noqa: E402
from tapeflow.execution.stops import TrailingStopBook  # noqa: E402
from tapeflow.model.orders import OrderRequest  # noqa: E402
from tapeflow.model.signals import TradeSignal  # noqa: E402
from tapeflow.model.symbols import SymbolKey  # noqa: E402
from tapeflow.model.ticks import TradeTick  # noqa: E402
from tapeflow.state.embedded import EmbeddedStore  # noqa: E402
from tests.execution.support import market_rules, real_ticks  # noqa: E402

SIGNALS = 1000
SYMBOLS = 200
STOP_TRIGGERS = 300


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def keys(n: int) -> list[SymbolKey]:
    return [SymbolKey("binance", "usdm", f"S{i:04d}USDT") for i in range(n)]


def prices() -> list[Decimal]:
    return [t.price for t in real_ticks("usdm", "BTCUSDT", "20240808")]


# -- 1. chain latency ------------------------------------------------------------------------


class Probe:
    """Wraps the paper exchange's place_order to timestamp the moment an order is sent."""

    def __init__(self, paper: PaperExchange) -> None:
        self.paper = paper
        self.sent_at = 0.0
        inner = paper.place_order

        async def place_order(request):
            self.sent_at = time.perf_counter()
            return await inner(request)

        paper.place_order = place_order  # type: ignore[method-assign]


def bench_settings(risk: RiskSettings, **more) -> ExecutionSettings:
    """Execution settings for latency runs: every signal enters (no daily trade cap, no
    drawdown level or health band that 1000 round trips' fees and slippage would reach),
    periodic risk checks and stop persistence out of the way."""
    return ExecutionSettings(
        max_concurrent=10_000,
        max_trades_per_day=None,
        drawdown=DrawdownLevels(alert=90, warning=95, critical=98, circuit_breaker=99),
        health=PortfolioHealthSettings(enabled=False),
        risk_check_interval_s=3600,
        stop_persist_interval_s=3600,
        risk=risk,
        **more,
    )


async def chain_latency(store_dir: Path) -> dict[str, float]:
    tape = prices()
    syms = keys(SYMBOLS)
    rules = market_rules("usdm", "BTCUSDT")
    markets = {k: replace(rules, key=k) for k in syms}
    settings = bench_settings(RiskSettings(leverage=Decimal(5), max_position_pct=Decimal(5)))
    store = EmbeddedStore(store_dir / "state.db")
    paper = PaperExchange(
        "binance/usdm",
        markets,
        store=store,
        starting_balance=Decimal(10**7),
        leverage_for=lambda k: Decimal(5),
    )
    probe = Probe(paper)
    engine = ExecutionEngine(settings, paper, store)
    await engine.start()
    t0 = datetime(2024, 8, 8, tzinfo=UTC)
    to_sent, total = [], []
    for i in range(SIGNALS):
        key = syms[i % SYMBOLS]
        price = tape[i]
        tick = TradeTick(key, i, t0, price, Decimal(1), "buy")
        await engine.on_tick(tick)  # the symbol's last price
        sig = TradeSignal(
            key=key,
            direction="long",
            entry_price=price,
            stop_loss=price - Decimal(150),
            candle_time=t0 + timedelta(minutes=i),
            strategy="bench",
        )
        gc.disable()
        start = time.perf_counter()
        res = await engine.on_signal(sig)
        end = time.perf_counter()
        gc.enable()
        assert res.accepted, res.reason
        to_sent.append(probe.sent_at - start)
        total.append(end - start)
        # untimed: fill the entry, then close and fill the exit, so positions stay few
        await engine.on_tick(replace(tick, trade_id=i + 10**6))
        await engine.lifecycle.close(sig.signal_id, "bench")
        await engine.on_tick(replace(tick, trade_id=i + 2 * 10**6))
    await engine.stop()
    store.close()
    return {
        "sent_p50": pct(to_sent, 0.5),
        "sent_p99": pct(to_sent, 0.99),
        "total_p50": pct(total, 0.5),
        "total_p99": pct(total, 0.99),
    }


async def bare_place_order() -> dict[str, float]:
    tape = prices()
    syms = keys(SYMBOLS)
    rules = market_rules("usdm", "BTCUSDT")
    paper = PaperExchange(
        "binance/usdm",
        {k: replace(rules, key=k) for k in syms},
        starting_balance=Decimal(10**7),
        leverage_for=lambda k: Decimal(5),
    )
    t0 = datetime(2024, 8, 8, tzinfo=UTC)
    times = []
    for i in range(SIGNALS):
        key = syms[i % SYMBOLS]
        tick = TradeTick(key, i, t0, tape[i], Decimal(1), "buy")
        paper.on_tick(tick)
        req = OrderRequest(key, f"tf-{i:020x}-en", "buy", "market", Decimal("0.010"))
        start = time.perf_counter()
        await paper.place_order(req)
        times.append(time.perf_counter() - start)
        paper.on_tick(replace(tick, trade_id=i + 10**6))
    return {"p50": pct(times, 0.5), "p99": pct(times, 0.99)}


# -- 2. trailing stops -----------------------------------------------------------------------


class FlatBook:
    """Baseline: every stop checked on every tick (no index by symbol)."""

    def __init__(self, book: TrailingStopBook) -> None:
        self.stops = [s for k in list(book._by_symbol) for s in book.for_symbol(k)]

    def on_tick(self, key: SymbolKey, price: Decimal) -> None:
        for stop in self.stops:
            if stop.key != key:
                continue
            if stop._long:
                if price > stop.extreme:
                    stop.extreme = price
                    stop.stop_price = price * stop._factor
            elif price < stop.extreme:
                stop.extreme = price
                stop.stop_price = price * stop._factor


def stop_book(positions: int, symbols: int, tape: list[Decimal]) -> TrailingStopBook:
    book = TrailingStopBook()
    syms = keys(symbols)
    for i in range(positions):
        direction = "long" if i % 2 == 0 else "short"
        book.add(f"p{i}", syms[i % symbols], direction, tape[0], Decimal(5))  # never fires
    return book


def run_ticks(on_tick, symbols: int, tape: list[Decimal], n_ticks: int) -> float:
    """Seconds per tick over ``n_ticks`` real prices dealt round-robin to the symbols."""
    syms = keys(symbols)
    stream = [(syms[i % symbols], tape[i % len(tape)]) for i in range(n_ticks)]
    gc.disable()
    start = time.perf_counter()
    for key, price in stream:
        on_tick(key, price)
    elapsed = time.perf_counter() - start
    gc.enable()
    return elapsed / n_ticks


def stops_bench() -> list[tuple[str, float, float, float]]:
    tape = prices()
    rows = []
    for positions, symbols in ((500, 200), (5000, 2000), (5000, 200)):
        book = stop_book(positions, symbols, tape)
        per_tick = run_ticks(book.on_tick, symbols, tape, 200_000)
        per_position = per_tick / (positions / symbols)
        flat = FlatBook(stop_book(positions, symbols, tape))
        flat_tick = run_ticks(flat.on_tick, symbols, tape, 20_000)
        rows.append(
            (f"{positions} positions / {symbols} symbols", per_tick, per_position, flat_tick)
        )
    return rows


# -- 3. resting stop trigger -> booked closed ------------------------------------------------


async def trigger_to_closed(store_dir: Path, *, resting: bool) -> dict[str, float]:
    """Seconds from a trade through the stop entering ``on_tick`` to the position closed."""
    tape = prices()
    syms = keys(SYMBOLS)
    rules = market_rules("usdm", "BTCUSDT")
    settings = bench_settings(
        RiskSettings(
            leverage=Decimal(5), max_position_pct=Decimal(5), trailing_distance_pct=Decimal(1)
        ),
        resting_stops=RestingStopSettings(enabled=resting),
    )
    store = EmbeddedStore(store_dir / "state.db")
    paper = PaperExchange(
        "binance/usdm",
        {k: replace(rules, key=k) for k in syms},
        store=store,
        starting_balance=Decimal(10**7),
        leverage_for=lambda k: Decimal(5),
    )
    engine = ExecutionEngine(settings, paper, store)
    await engine.start()
    t0 = datetime(2024, 8, 8, tzinfo=UTC)
    times = []
    for i in range(STOP_TRIGGERS):
        key, price = syms[i % SYMBOLS], tape[i]
        tick = TradeTick(key, i, t0, price, Decimal(1), "buy")
        await engine.on_tick(tick)
        sig = TradeSignal(
            key=key,
            direction="long",
            entry_price=price,
            stop_loss=price - Decimal(150),
            candle_time=t0 + timedelta(minutes=i),
            strategy="bench",
        )
        assert (await engine.on_signal(sig)).accepted
        await engine.on_tick(replace(tick, trade_id=i + 10**6))  # the entry fills
        assert engine.book.get(sig.signal_id).status == "open"
        assert resting == bool(await paper.fetch_open_orders(key))  # the stop rests (or not)
        through = replace(tick, trade_id=i + 2 * 10**6, price=price - Decimal(200))
        gc.disable()
        start = time.perf_counter()
        await engine.on_tick(through)
        elapsed = time.perf_counter() - start
        gc.enable()
        closed = store.get_position(sig.signal_id)
        assert closed.status == "closed", closed
        assert closed.close_reason.startswith("resting stop" if resting else "stop")
        times.append(elapsed)
    await engine.stop()
    store.close()
    return {"p50": pct(times, 0.5), "p99": pct(times, 0.99)}


def main() -> None:
    print(f"execution benchmark ({SIGNALS} signals, {SYMBOLS} symbols, real BTCUSDT prices)\n")
    bare = asyncio.run(bare_place_order())
    print(
        f"baseline: bare paper place_order    p50 {bare['p50'] * 1e3:7.3f} ms   "
        f"p99 {bare['p99'] * 1e3:7.3f} ms"
    )
    for label, directory in (("embedded store, disk", None), ("embedded store, tmpfs", "/dev/shm")):
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            r = asyncio.run(chain_latency(Path(tmp)))
        print(
            f"chain signal->order sent, {label:22s} p50 {r['sent_p50'] * 1e3:7.3f} ms   "
            f"p99 {r['sent_p99'] * 1e3:7.3f} ms   (x{r['sent_p99'] / bare['p99']:.0f} "
            f"baseline p99; goal p99 <= 5 ms: "
            f"{'met' if r['sent_p99'] <= 0.005 else 'NOT met'})"
        )
        print(
            f"  whole on_signal incl. recording the answer:   p50 "
            f"{r['total_p50'] * 1e3:7.3f} ms   p99 {r['total_p99'] * 1e3:7.3f} ms"
        )
    print("\ntrailing stops, per tick (a tick touches only its own symbol's positions):")
    rows = stops_bench()
    for label, per_tick, per_pos, flat in rows:
        print(
            f"  {label:28s} {per_tick * 1e6:7.2f} µs/tick  {per_pos * 1e6:6.2f} µs/position "
            f"updated   baseline unindexed {flat * 1e6:8.2f} µs/tick (x{flat / per_tick:.0f})"
        )
    ratio = rows[1][1] / rows[0][1]
    print(f"  10x the total count at the same positions per symbol: tick cost x{ratio:.2f}")
    worst = max(r[2] for r in rows)
    print(
        f"  goal <= 20 µs per position updated: {'met' if worst <= 20e-6 else 'NOT met'} "
        f"(worst {worst * 1e6:.2f} µs)"
    )
    print(f"\nstop trigger print -> position booked closed (paper, tmpfs, {STOP_TRIGGERS} stops):")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        base = asyncio.run(trigger_to_closed(Path(tmp), resting=False))
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        rest = asyncio.run(trigger_to_closed(Path(tmp), resting=True))
    print(
        f"  baseline: engine enforcement, market exit  p50 {base['p50'] * 1e3:7.3f} ms   "
        f"p99 {base['p99'] * 1e3:7.3f} ms"
    )
    print(
        f"  resting stop order fills at the print      p50 {rest['p50'] * 1e3:7.3f} ms   "
        f"p99 {rest['p99'] * 1e3:7.3f} ms   (x{rest['p99'] / base['p99']:.2f} baseline p99)"
    )


if __name__ == "__main__":
    main()
