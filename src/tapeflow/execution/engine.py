"""The execution engine: the chain, the lifecycle, stops and portfolio risk, composed.

    engine = ExecutionEngine(settings, exchange, store, bus=bus)
    await engine.start()                 # restore positions, stops, risk; resolve orders
    engine.attach(bus)                   # ticks -> on_tick, signals -> on_signal
    ...
    await engine.stop()

Per tick (:meth:`ExecutionEngine.on_tick`): the paper exchange fills that symbol's orders,
the symbol's protective exits are enforced (:meth:`ExecutionEngine.enforce_exits`: trailing
stops ratchet from the initial stop, and a stop or target the trade reached closes its
position with a market order — on the paper exchange filled at that trade), the resting
stop orders on the exchange follow the ratcheted levels
(:meth:`PositionLifecycle.sync_resting_stops`), the time-driven checks that are due run
(:meth:`ExecutionEngine.run_due`), and stop state is persisted every
``stop_persist_interval_s``.

Time-driven checks (seed 001 §8.3), each on its own cadence of the engine's clock: every
``risk_check_interval_s`` equity is measured for the drawdown levels and hold times are
checked; every ``health.check_interval_s`` the portfolio health score is taken and acted on
(:mod:`tapeflow.execution.portfolio`); with the tick store, every
``correlation.check_interval_s`` the leaders are checked for a dump
(:mod:`tapeflow.execution.market_exits`, which also checks open longs for dump signals at
every 1m candle close). They run on ticks and, live, also on the engine's
timer (:meth:`ExecutionEngine.start_timer`, every ``timer_interval_s`` wall seconds), so a
dead feed does not leave positions unmanaged. A replay (``market_clock=True``) has no timer:
its clock is the exchange time of the latest tick, so the checks fire at the same market
instants, with the same decisions, on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from tapeflow.bus import EventBus
from tapeflow.config.execution import ExecutionSettings
from tapeflow.execution.accounts import Rate, missing_rate, rate, value
from tapeflow.execution.chain import ChainResult
from tapeflow.execution.context import SignalContext
from tapeflow.execution.errors import ExecutionError
from tapeflow.execution.exchange import Exchange
from tapeflow.execution.handlers import ChainServices, build_chain
from tapeflow.execution.lifecycle import PositionLifecycle
from tapeflow.execution.market_exits import MarketExits, attach_candles
from tapeflow.execution.markets import MarketRules
from tapeflow.execution.orders import OrderManager
from tapeflow.execution.pauses import SymbolPauses
from tapeflow.execution.portfolio import Cadence, HealthGuard
from tapeflow.execution.positions import PositionBook
from tapeflow.execution.refusals import RefusalLog
from tapeflow.execution.risk import PortfolioRisk, RiskAssessment
from tapeflow.execution.statefile import StateStore
from tapeflow.execution.stops import TrailingStopBook
from tapeflow.execution.trade_rate import TradeRate
from tapeflow.execution.user_stream import UserStream
from tapeflow.model.events import (
    CircuitBreakerTripped,
    ConnectionLost,
    ConnectionRestored,
    ForceExitRequired,
    SignalGenerated,
    TradeTickReceived,
)
from tapeflow.model.orders import Balance
from tapeflow.model.records import Order, Position, utcnow
from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick
from tapeflow.state.store import PositionStore
from tapeflow.store import TickStore
from tapeflow.venues import Capability, get_venue

log = logging.getLogger(__name__)

STOPS_STATE = "execution.trailing_stops"


class ExecutionEngine:
    """Signals in, orders out; ticks drive fills, stops and risk.

    Args:
        settings: execution settings.
        exchange: the venue (paper or ccxt).
        store: positions, orders and engine state (``execution.trailing_stops``,
            ``execution.portfolio_risk``).
        bus: receives order, position and circuit-breaker events.
        refusals: where refused signals are recorded.
        clock: UTC now (the wall clock live; tests inject one).
        state: engine state (default: ``store``).
        market_clock: a replay: the engine's time is the exchange time of the latest tick
            it saw (``clock`` only before the first tick), and no wall-clock timer runs.
        ticks: the tick store, for dump detection and correlation exits (without it they
            are off).
    """

    def __init__(
        self,
        settings: ExecutionSettings,
        exchange: Exchange,
        store: PositionStore,
        *,
        bus: EventBus | None = None,
        refusals: RefusalLog | None = None,
        clock: Callable[[], datetime] = utcnow,
        state: StateStore | None = None,
        market_clock: bool = False,
        ticks: TickStore | None = None,
    ) -> None:
        self.settings = settings
        self.exchange = exchange
        self.store = store
        self.state: StateStore = state if state is not None else store
        self.bus = bus
        self._wall = clock
        self.market_clock = market_clock
        self.market_time: datetime | None = None  # exchange time of the latest tick
        self.book = PositionBook(store)
        self.orders = OrderManager(exchange, store, bus)
        self.stops = TrailingStopBook()
        self.risk = PortfolioRisk(settings, self.state, bus)
        self.pauses = SymbolPauses(self.state)
        self.trade_rate = TradeRate(
            self.state,
            max_per_day=settings.max_trades_per_day,
            max_per_hour=settings.max_trades_per_hour,
        )
        self.lifecycle = PositionLifecycle(
            exchange,
            self.book,
            self.orders,
            self.stops,
            bus=bus,
            clock=self.clock,
            resting_stops=settings.resting_stops,
        )
        self.chain = build_chain(
            ChainServices(
                settings,
                exchange,
                self.book,
                self.lifecycle,
                self.risk,
                trade_rate=self.trade_rate,
                account=self,
                pauses=self.pauses,
            ),
            refusals=refusals,
        )
        self._marks: dict[SymbolKey, Decimal] = {}
        self._markets: dict[SymbolKey, MarketRules] = {}
        self._on_tick_fill = getattr(exchange, "on_tick", None)
        self._fill_at_print = getattr(exchange, "fill_at_print", None)
        self.health = HealthGuard(
            settings,
            book=self.book,
            stops=self.stops,
            risk=self.risk,
            marks=self._marks,
            contract_size=lambda key: self.exchange.market(key).contract_size,
            force_exit=self.force_exit,
            bus=bus,
        )
        self.market_exits = (
            MarketExits(settings, ticks, self.book, self._marks, self.force_exit)
            if ticks is not None
            else None
        )
        self._risk_due = Cadence(settings.risk_check_interval_s)
        self._health_due = Cadence(settings.health.check_interval_s)
        self._correlation_due = Cadence(settings.correlation.check_interval_s)
        self._checks = asyncio.Lock()
        self._timer: asyncio.Task | None = None
        self.timer_runs = 0  # passes of the timer task (status and tests)
        self._last_stop_poll = float("-inf")
        self.user_stream: UserStream | None = None
        self._last_stop_save = time.monotonic()
        self._saving = False
        breaker = getattr(exchange, "breaker", None)
        if breaker is not None:
            breaker.listeners.append(self._on_breaker_change)

    async def start(self) -> int:
        """Restore the book, trailing stops and risk state; resolve unknown orders.
        Returns the number of active positions."""
        self._markets = await self.exchange.load_markets()
        count = self.book.load()
        self.stops.restore(self.state.get_state(STOPS_STATE))
        for pid in [s["position_id"] for s in self.stops.snapshot()["stops"]]:
            if self.book.get(pid) is None:
                self.stops.remove(pid)
        resolved = await self.lifecycle.restore(
            lambda key: self.settings.risk_for(key).trailing_pct
        )
        self._save_stops()
        log.info(
            "execution engine started: %d active positions, %d stops, %d orders resolved",
            count,
            len(self.stops),
            resolved,
        )
        return count

    def clock(self) -> datetime:
        """The engine's time (UTC): the latest tick's exchange time in a replay
        (``market_clock``), else the injected clock (wall time live)."""
        if self.market_clock and self.market_time is not None:
            return self.market_time
        return self._wall()

    def start_timer(self) -> asyncio.Task:
        """Start the timer task (live): every ``timer_interval_s`` wall seconds it runs
        the time-driven checks that are due, ticks or not. Stopped by :meth:`stop`.

        Raises:
            RuntimeError: with ``market_clock`` (a replay's checks run on its ticks).
        """
        if self.market_clock:
            raise RuntimeError("a replay's checks run on its market clock, not on a timer")
        if self._timer is None or self._timer.done():
            venue = f"{self.settings.exchange}/{self.settings.market}"
            self._timer = asyncio.create_task(self._run_timer(), name=f"risk-timer {venue}")
        return self._timer

    async def _run_timer(self) -> None:
        every = self.settings.timer_interval_s
        while True:
            await asyncio.sleep(every)
            try:
                await self.run_due(self.clock())
            except Exception:  # the timer must outlive one failed check
                log.exception("time-driven risk checks failed; retrying in %.1fs", every)
            self.timer_runs += 1

    def start_user_stream(self, api_url: str | None = None) -> UserStream | None:
        """Live Binance spot/USD-M with resting stops and ``resting_stops.user_stream``:
        start the user-data stream (:mod:`tapeflow.execution.user_stream`) whose order
        events book resting-stop fills at once through
        :meth:`PositionLifecycle.settle_resting_stop`, re-synced by a poll after every
        (re)connect. Stopped by :meth:`stop`.

        Args:
            api_url: the local server REST goes to (its host serves the websocket too),
                when ``resting_stops.user_stream_url`` is not set.

        Returns:
            The stream, or None where none applies (paper, stops not resting, the
            setting off, a venue without one).
        """
        rs = self.settings.resting_stops
        venue = get_venue(self.settings.exchange)
        venue_has_one = venue.supports(self.settings.market, Capability.USER_STREAM)
        if (
            self.settings.mode != "live"
            or self.lifecycle.resting is None
            or not rs.user_stream
            or not venue_has_one
            or not hasattr(self.exchange, "create_listen_key")
        ):
            return None
        if self.user_stream is None:
            events = venue.implementation(self.settings.market, Capability.USER_STREAM)
            self.user_stream = UserStream(
                self.exchange,  # type: ignore[arg-type]  # checked above
                events.ws_base(self.settings.market, rs.user_stream_url, api_url),
                self.lifecycle.settle_resting_stop,
                self.lifecycle.poll_resting_stops,
                settling_order=events.settling_order,
                keepalive_interval_s=rs.keepalive_interval_s,
                retry_initial_s=self.settings.retry.initial_wait_s,
                retry_max_s=self.settings.retry.max_wait_s,
            )
        self.user_stream.start()
        return self.user_stream

    async def stop(self) -> None:
        """Stop the timer and the user-data stream, persist the trailing stops and close
        the exchange client."""
        if self.user_stream is not None:
            await self.user_stream.stop()
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        self._save_stops()
        await self.exchange.close()

    def attach(self, bus: EventBus) -> None:
        """Subscribe to ticks and signals on ``bus`` (with back-pressure), to feed
        connection events (while a feed is down, new entries are refused) and, with the tick
        store, to candle closes (dump detection). Subscriptions are named
        ``execution.{exchange}.{market}.{ticks|signals|feed_health|feed_restored|candles}``."""
        venue = f"execution.{self.settings.exchange}.{self.settings.market}"
        bus.subscribe(TradeTickReceived, self._tick_event, name=f"{venue}.ticks", overflow="block")
        bus.subscribe(ConnectionLost, self._feed_event, name=f"{venue}.feed_health")
        if self.market_exits is not None and self.settings.dump.enabled:
            attach_candles(bus, self.market_exits, f"{venue}.candles", self._trades)
        bus.subscribe(ConnectionRestored, self._feed_event, name=f"{venue}.feed_restored")
        bus.subscribe(
            SignalGenerated,
            self._signal_event,
            name=f"{venue}.signals",
            overflow="block",
            timeout_s=60.0,
        )

    def _feed_event(self, event: ConnectionLost | ConnectionRestored) -> None:
        lost = isinstance(event, ConnectionLost)
        reason = f"disconnected: {event.reason}" if isinstance(event, ConnectionLost) else ""
        self.risk.set_health(f"feed {event.feed}", not lost, reason)

    def _trades(self, key: SymbolKey) -> bool:
        # one engine per venue: ticks and signals of other venues belong to other engines
        return key.exchange == self.settings.exchange and key.market == self.settings.market

    async def _tick_event(self, event: TradeTickReceived) -> None:
        if self._trades(event.tick.key):
            await self.on_tick(event.tick)

    async def _signal_event(self, event: SignalGenerated) -> None:
        if isinstance(event.signal, TradeSignal) and self._trades(event.signal.key):
            await self.on_signal(event.signal)

    # -- signals -------------------------------------------------------------------------

    async def on_signal(self, signal: TradeSignal) -> ChainResult:
        """Pass ``signal`` through the chain."""
        ctx = SignalContext(
            signal=signal,
            key=signal.key,
            now=self.clock(),
            risk=self.settings.risk_for(signal.key),
        )
        result = await self.chain.process(ctx)
        if result.accepted:
            self.trade_rate.record(ctx.now)
        return result

    # -- ticks ---------------------------------------------------------------------------

    async def on_tick(self, tick: TradeTick) -> None:
        """Fill (paper), enforce the protective exits, and run the time-driven checks that
        are due."""
        self._marks[tick.key] = tick.price
        if self.market_time is None or tick.ts > self.market_time:
            self.market_time = tick.ts
        if self._on_tick_fill is not None:
            for update in self._on_tick_fill(tick):
                await self.lifecycle.on_update(update)
        else:
            await self._poll_resting_stops()
        await self.enforce_exits(tick)
        await self.lifecycle.sync_resting_stops(tick.key)
        await self.run_due(self.clock())
        now_m = time.monotonic()
        persist_s = self.settings.stop_persist_interval_s
        if self.stops.dirty and not self._saving and now_m - self._last_stop_save >= persist_s:
            await self._save_stops_async()

    async def enforce_exits(self, tick: TradeTick) -> list[Order]:
        """Enforce the protective exits of ``tick``'s symbol: the one place the engine does.

        The stop book (:attr:`stops`) ratchets each trailing stop (never looser than the
        position's initial stop) and reports the stops and targets this trade reached;
        each such position is closed with a market exit whose close reason names the exit
        (``stop ...``, ``trailing stop ...``, ``target ...``). On the paper exchange the
        exit fills at this trade's price plus slippage (``fill_at_print``); elsewhere it
        fills as the venue fills it. An exit that could not be placed re-arms the stop, so
        the next trade tries again. An exchange-side resting stop reads its level from
        ``stops.protective_stop(position_id)``.

        Returns:
            The exit orders sent (usually none).
        """
        exits: list[Order] = []
        for trig in self.stops.on_tick(tick.key, tick.price):
            order = await self.lifecycle.close(trig.position_id, trig.reason)
            if order is None or order.status == "rejected":
                self.stops.rearm(trig.position_id)
                continue
            if self._fill_at_print is not None and order.status == "open":
                update = self._fill_at_print(order.client_order_id, tick)
                if update is not None:
                    order = await self.lifecycle.on_update(update)
            exits.append(order)
        return exits

    async def run_due(self, now: datetime) -> None:
        """Run the time-driven checks due at ``now`` (engine clock, UTC): drawdown levels
        and hold times every ``risk_check_interval_s``, the health score every
        ``health.check_interval_s``, correlation exits every
        ``correlation.check_interval_s`` (with the tick store). One run at a time (ticks and
        the timer share it)."""
        if self._checks.locked():
            return
        async with self._checks:
            risk_due = self._risk_due.due(now)
            health_due = self.settings.health.enabled and self._health_due.due(now)
            correlation_due = (
                self.market_exits is not None
                and self.settings.correlation.enabled
                and self._correlation_due.due(now)
            )
            if correlation_due and self.market_exits is not None:
                await self.market_exits.check_correlation(now)
            if not (risk_due or health_due):
                return
            try:
                assessment = await self.check_risk(now)
            except ExecutionError as exc:  # e.g. the balance request failed; next time
                log.warning("risk check skipped: %s", exc)
                return
            if health_due:
                await self.health.check(assessment, now)

    async def force_exit(self, position: Position, rule: str, reason: str) -> Order | None:
        """Close ``position`` for a risk ``rule`` now and publish
        :class:`~tapeflow.bus.ForceExitRequired` (seed 001 §8.3 ``_force_exit``).

        Returns:
            The exit order, or None if the position is not open.
        """
        current = self.book.get(position.position_id)
        if current is None or current.status != "open":
            return None  # closing already (another rule or its stop got there first)
        order = await self.lifecycle.close(position, reason)
        if order is not None and self.bus is not None:
            await self.bus.publish(
                ForceExitRequired(
                    key=SymbolKey.parse(position.symbol),
                    position_id=position.position_id,
                    rule=rule,
                    reason=reason,
                    client_order_id=order.client_order_id,
                    at=self.clock(),
                )
            )
        return order

    async def _poll_resting_stops(self) -> None:
        """Live venues: look up the resting stops every ``poll_interval_s`` (wall clock),
        or every ``stream_poll_interval_s`` while the user-data stream is connected."""
        now_m = time.monotonic()
        rs = self.settings.resting_stops
        streamed = self.user_stream is not None and self.user_stream.connected
        every = rs.stream_poll_interval_s if streamed else rs.poll_interval_s
        if now_m - self._last_stop_poll >= every:
            self._last_stop_poll = now_m
            await self.lifecycle.poll_resting_stops()

    async def check_risk(self, now: datetime | None = None) -> RiskAssessment:
        """Measure equity, apply the drawdown levels (tighten stops at critical, close all
        at the circuit breaker) and close positions past their hold time."""
        now = now or self.clock()
        assessment = await self.risk.observe(await self.equity(), now)
        factor = self.settings.critical_tighten_factor
        if assessment.tighten and factor is not None:
            for pos in self.book.active():
                stop = self.stops.get(pos.position_id)
                if stop is not None:
                    self.stops.tighten(pos, stop.distance_pct * factor)
        if assessment.close_all:
            for pos in self.book.active():
                if pos.status == "open":
                    await self.force_exit(pos, "circuit_breaker", "portfolio circuit breaker")
        for pos in self.risk.overdue(self.book.active(), now):
            await self.force_exit(pos, "hold_time", "max hold time reached")
        return assessment

    async def close_all(self, reason: str) -> list[Order]:
        """Close every open position (idempotent)."""
        out = []
        for pos in self.book.active():
            if pos.status == "open":
                order = await self.lifecycle.close(pos, reason)
                if order is not None:
                    out.append(order)
        return out

    def mark(self, key: SymbolKey) -> Decimal | None:
        """The last trade price seen for ``key`` (this run's ticks, else the paper
        exchange's last price kept across restarts), or None when unknown."""
        if key in self._marks:
            return self._marks[key]
        last_price = getattr(self.exchange, "last_price", None)
        return last_price(key) if callable(last_price) else None

    async def equity(self, balances: Mapping[str, Balance] | None = None) -> Decimal:
        """Account equity in the account currency (``quote_asset``): paper: exact, from its
        own books; live: the exchange's balances (``balances`` when the caller fetched them
        already; futures: margin balance, wallet plus unrealized P&L), every asset valued
        at its price in the account currency (see :mod:`tapeflow.execution.accounts`; an
        asset without a price counts 0)."""
        paper_equity = getattr(self.exchange, "equity", None)
        if callable(paper_equity):
            return paper_equity()
        if balances is None:
            balances = await self.exchange.fetch_balance()
        quote = self.settings.quote_asset
        totals = {a: b.total for a, b in balances.items()}
        return value(totals, quote, lambda asset: self.rate(asset, quote)).total

    def last_price(self, key: SymbolKey) -> Decimal | None:
        """The last trade price of ``key`` seen on this venue (quote), or None."""
        mark = self._marks.get(key)
        if mark is None:
            last = getattr(self.exchange, "last_price", None)
            mark = last(key) if callable(last) else None
        return mark

    def rate(self, asset: str, currency: str) -> Rate | None:
        """Price of one ``asset`` in ``currency``: the last trade of a market of this venue
        pairing them, else ``execution.reference_prices`` (paper), else two steps through
        a market's quote asset (:func:`tapeflow.execution.accounts.rate`)."""
        return rate(
            asset,
            currency,
            self._markets.values(),
            self.last_price,
            self.settings.reference_prices,
            self.settings.quote_asset,
        )

    def missing_rate(self, asset: str, currency: str) -> str:
        """Why :meth:`rate` has no price: the market whose trade is needed."""
        return missing_rate(asset, currency, self._markets.values())

    # -- state ---------------------------------------------------------------------------

    def _save_stops(self) -> None:
        self.state.put_state(STOPS_STATE, self.stops.snapshot())
        self._last_stop_save = time.monotonic()

    async def _save_stops_async(self) -> None:
        """Write the stops in a worker thread (one write in flight at a time)."""
        self._saving = True
        self._last_stop_save = time.monotonic()
        try:
            await asyncio.to_thread(self.state.put_state, STOPS_STATE, self.stops.snapshot())
        finally:
            self._saving = False

    def _on_breaker_change(self, old: str, new: str, reason: str) -> None:
        scope = f"exchange {self.exchange.name}"
        self.risk.set_health("exchange", new == "closed", f"circuit breaker {new}: {reason}")
        if new == "open" and self.bus is not None:
            self.bus.publish_nowait(CircuitBreakerTripped(scope=scope, reason=reason))

    def status(self) -> dict[str, Any]:
        """Counters for the status line."""
        return {
            "positions": len(self.book),
            "stops": len(self.stops),
            "risk_level": self.risk.peak_level.name,
            "halted": self.risk.halted,
            "degraded": self.risk.degraded,
            "health": str(self.health.last.score) if self.health.last else None,
            "trades_today": self.trade_rate.today(self.clock()),
            "refusals": dict(self.chain.refusals.counts),
        }
