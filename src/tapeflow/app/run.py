"""``tapeflow run``: live ingest and trading in one process, around one event bus.

Startup, in this order (nothing trades before reconciliation):

0. the store root is claimed (:func:`tapeflow.store.owner.claim_root`): a second run on the
   same root fails here, at once, naming the run that holds it;
1. configuration (validated) → tick store and its read-only query endpoint for notebooks
   and the reading commands, position store, event bus, notifier;
2. per venue (exchange/market of the enabled symbols): the exchange (paper by default),
   **reconciliation** of local positions/orders with it (the report printed and mailed; an
   incomplete one stops the run), then the execution engine (restores positions, trailing
   stops, risk state);
3. the strategy engine (features warmed up from stored history), the candle clock (closes
   candles on ticks and, live, on the market clock for quiet symbols), the operator
   control endpoint (:mod:`tapeflow.app.control`);
4. the tick source: Cryptofeed live feeds, or ``--replay`` of recorded files.

Ticks flow source → writer (batched appends) and → bus ``TradeTickReceived`` → candle clock
(flush, refresh candles, ``CandleClosed``) → strategy (``SignalGenerated``) → execution
chain; every tick also reaches the paper exchange (fills) and trailing stops.

Time-driven risk (drawdown levels, hold time, the portfolio health score, correlation
exits): live, each execution engine runs it on its own timer as well as on ticks (a dead
feed does not leave positions unmanaged); a replay on the paper exchange drives it from the
exchange time of the replayed ticks (the engines' market clock), so a replay makes the same
decisions on every run. A replay against a live venue (``execution.mode: live``) keeps the
wall clock and the timer: the venue's orders, fills and trading day are on real time.

If the process dies of an exception, a ``SystemErrorEvent`` goes on the bus (and so to
e-mail) before the shutdown below, and the exception propagates.

Shutdown (SIGINT/SIGTERM, or the end of a replay): stop the source, flatten each venue if
asked (``--flatten-on-exit``: cancel orders, close positions), flush every batch, drain the
bus, write pending decisions, persist execution state, stop the endpoints, close
the stores, release the root. A restart after any shutdown, clean or not, resumes: the
store is idempotent by trade id, ingest repairs from the last stored id, replay skips what
is stored, and reconciliation settles what the exchange did meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tapeflow.analytics.endpoint import QueryEndpoint
from tapeflow.app.candle_clock import CandleClock
from tapeflow.app.markets import open_exchange
from tapeflow.app.replay import ReplayStats, ReplayWriter, plan_replay, replay
from tapeflow.bus import EventBus
from tapeflow.config.app import AppConfig
from tapeflow.model.errors import TapeflowError
from tapeflow.model.events import SystemErrorEvent
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import ImportOptions
from tapeflow.store import TickStore
from tapeflow.store.owner import claim_root

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one run did (printed at the end of ``tapeflow run``)."""

    ticks_published: int = 0
    replay: ReplayStats | None = None
    candles_closed: int = 0
    strategy: dict[str, dict] = field(default_factory=dict)
    venues: dict[str, dict[str, Any]] = field(default_factory=dict)
    reconciliation: list[str] = field(default_factory=list)
    flatten: list[str] = field(default_factory=list)
    bus: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Venue:
    name: str
    engine: Any
    exchange: Any
    symbols: list[SymbolKey]


class ReconciliationIncomplete(TapeflowError, RuntimeError):
    """Startup reconciliation could not compare everything: trading is refused."""


async def _reconcile(settings, state, exchange, bus: EventBus, symbols) -> str:
    """Reconcile one venue before it trades (``symbols``: its configured symbols); the
    report goes to the bus (e-mail). Returns the report's text.

    Raises:
        ReconciliationIncomplete: something could not be compared; nothing trades.
    """
    from tapeflow.reconcile.reconciler import reconcile

    report = await reconcile(
        state,
        exchange,
        symbols=symbols,
        trailing_for=lambda key: settings.risk_for(key).trailing_pct,
        resting_stops=settings.resting_stops,
    )
    await bus.publish(report.event())
    if not report.complete:
        raise ReconciliationIncomplete(
            f"reconciliation with {settings.exchange}/{settings.market} is incomplete; "
            f"refusing to trade:\n{report.text()}"
        )
    return report.text()


def replay_position(stats: ReplayStats) -> str:
    """Where a replay is, on the replay's own clock (wall time means nothing there): the
    exchange time of the last replayed tick, and for a paced replay (``--speed N``) how many
    seconds of exchange time it is behind the pace asked."""
    clock = f"{stats.last_ts:%Y-%m-%d %H:%M:%S} UTC" if stats.last_ts else "not started"
    text = f"replay clock {clock}"
    if stats.behind_s is not None:
        text += f" (behind pace {stats.behind_s:,.1f}s)"
    return text


class StatusLine:
    """One line every few seconds: ticks/s, symbols, lag, queues, positions, equity, P&L,
    circuit-breaker state.

    Live, ``max lag`` is how far the least recent symbol's last tick is behind wall time.
    A replay has no wall-time lag: it shows :func:`replay_position` (its clock, and how far
    a paced replay is behind its pace) instead.
    """

    def __init__(
        self,
        bus: EventBus,
        venues: list[_Venue],
        counter: Callable[[], int],
        clock: CandleClock,
        starting_equity: Decimal | None,
        *,
        replay: ReplayStats | None = None,
    ) -> None:
        """``starting_equity``: the paper account's value at creation (account currency),
        or None when it holds other assets too (then P&L is since the first status line)."""
        self._bus, self._venues, self._counter = bus, venues, counter
        self._clock, self._start_equity = clock, starting_equity
        self._first_equity: dict[str, Decimal] = {}
        self._replay = replay
        self._last = (time.monotonic(), 0)

    async def render(self) -> str:
        now, n = time.monotonic(), self._counter()
        then, before = self._last
        self._last = (now, n)
        rate = (n - before) / max(now - then, 1e-9)
        m = self._bus.metrics()
        seen = self._clock.last_tick_at
        if self._replay is not None:
            position = replay_position(self._replay)
        else:
            lag = (datetime.now(UTC) - min(seen.values())).total_seconds() if seen else 0.0
            position = f"max lag {lag:,.1f}s"
        parts = [
            f"ticks/s {rate:,.0f}",
            f"ticks {n:,}",
            f"symbols {len(seen)}",
            position,
            f"bus depth {m['depth']}",
            f"events/s {m['events_per_s']:,.0f}",
        ]
        slow = sum(s["slow"] + s["timed_out"] for s in m["subscribers"].values())
        if slow:
            parts.append(f"slow handlers {slow}")
        for v in self._venues:
            st = v.engine.status()
            equity = await v.engine.equity()
            start = self._start_equity
            if start is None:
                start = self._first_equity.setdefault(v.name, equity)
            pnl = equity - start
            parts.append(
                f"{v.name}: positions {st.get('positions', 0)} equity {equity:,.2f} "
                f"P&L {pnl:+,.2f} breaker {'OPEN (halted)' if st.get('halted') else 'closed'} "
                f"risk {st.get('risk_level', '?')}"
            )
        return " | ".join(parts)


async def run_app(
    config: AppConfig,
    *,
    replay_paths: Sequence[str | Path] | None = None,
    speed: float | None = None,
    replay_options: ImportOptions | None = None,
    stop: asyncio.Event | None = None,
    status: Callable[[str], None] | None = None,
    ready: Callable[[], None] | None = None,
    api_url: str | None = None,
    reconciled: Callable[[str], None] | None = None,
    flatten_on_exit: bool = False,
) -> RunSummary:
    """Run the whole engine until ``stop`` is set (live) or the replay ends.

    Args:
        config: the validated configuration.
        replay_paths: recorded trade files/folders to replay instead of live feeds.
        speed: replay speed (exchange seconds per wall second); None = as fast as possible.
        replay_options: exchange/market/symbol for files that do not say them.
        stop: set to shut down gracefully.
        status: receives the status line every ``config.app.status_interval_s``.
        ready: called once everything is started (before the first tick).
        api_url: live mode: send the exchange's API calls to this scheme+host instead (a
            testnet or a local test server).
        reconciled: receives each venue's startup reconciliation report (plain text).
        flatten_on_exit: at shutdown, cancel every open order and close every position
            (also when ``execution.flatten.enabled``); see :mod:`tapeflow.execution.flatten`.

    Raises:
        FileNotFoundError: a replay path does not exist (before anything starts).
        tapeflow.sources.SourceError: a replay file's format or symbol cannot be told
            (before anything starts), or a file turns out damaged while replaying.
        tapeflow.store.owner.StoreBusyError: another run holds the store root (before
            anything starts).
        Exceptions of the ingest service if it fails for good.
    """
    from tapeflow.app.control import ControlEndpoint
    from tapeflow.execution.controls import OperatorControls
    from tapeflow.execution.engine import ExecutionEngine
    from tapeflow.execution.flatten import flatten
    from tapeflow.execution.refusals import RefusalLog
    from tapeflow.notify import Notifier
    from tapeflow.notify import subscribe as subscribe_notifier
    from tapeflow.state.opening import open_store
    from tapeflow.strategy.engine import StrategyEngine

    started = time.monotonic()
    stop = stop or asyncio.Event()
    summary = RunSummary()
    cfg = config
    plan = plan_replay(replay_paths, replay_options) if replay_paths else None  # before anything
    owner = claim_root(cfg.store.root)
    store: TickStore | None = None
    try:
        store = TickStore(
            cfg.store.root, pool_limit=cfg.store.pool_limit, memory_limit=cfg.store.memory_limit
        )
        endpoint = QueryEndpoint(store).start()
    except BaseException:
        if store is not None:
            store.close()
        owner.release()
        raise
    state = open_store(cfg.state, cfg.store.root)
    bus = EventBus()
    notifier = Notifier(cfg.notify)
    if cfg.notify.enabled:
        subscribe_notifier(bus, notifier)
        notifier.start()
    venues: list[_Venue] = []
    control: ControlEndpoint | None = None
    strategy = None
    status_task: asyncio.Task | None = None
    close_timer: asyncio.Task | None = None
    try:
        await bus.start()
        for exchange_name, market in sorted({(s.exchange, s.market) for s in cfg.enabled_symbols}):
            settings = cfg.execution.model_copy(
                update={"exchange": exchange_name, "market": market}
            )
            exchange = await open_exchange(
                settings, state, offline=bool(replay_paths), api_url=api_url
            )
            venue_symbols = [
                s.key
                for s in cfg.enabled_symbols
                if (s.exchange, s.market) == (exchange_name, market)
            ]
            text = await _reconcile(settings, state, exchange, bus, venue_symbols)
            summary.reconciliation.append(text)
            if reconciled is not None:
                reconciled(text)
            refusals = RefusalLog(
                Path(cfg.store.root) / "logs" / f"refusals-{exchange_name}-{market}.jsonl"
            )
            engine = ExecutionEngine(
                settings,
                exchange,
                state,
                bus=bus,
                refusals=refusals,
                market_clock=bool(replay_paths) and settings.mode == "paper",
                ticks=store,
            )
            await engine.start()
            engine.attach(bus)
            if not engine.market_clock:
                engine.start_timer()
            engine.start_user_stream(api_url)  # live Binance only; fills of resting stops
            await asyncio.to_thread(_record_tick_sizes, store, exchange, cfg, settings)
            venues.append(_Venue(f"{exchange_name}/{market}", engine, exchange, venue_symbols))
        strategy = StrategyEngine.from_config(store, cfg, bus=bus)
        await asyncio.to_thread(strategy.warm_up)
        strategy.subscribe(bus)

        published = {"n": 0}
        if replay_paths:
            rstats = ReplayStats()
            writer = ReplayWriter(store, rstats, cfg.ingest.batch_size * 10)
            flush = writer.flush
            counter = lambda: rstats.published  # noqa: E731
        else:
            from tapeflow.ingest.service import IngestService

            service = IngestService(cfg.feeds(), cfg.ingest, store, bus)
            flush = service.writer.flush
            counter = lambda: service.feed_stats.received  # noqa: E731
        clock = CandleClock(store, bus, flush, refresh=strategy.symbols)
        clock.subscribe()
        if not replay_paths:  # live: quiet symbols' candles close on the market clock too
            close_timer = asyncio.create_task(clock.run_close_timer(stop), name="close-timer")
        controls = OperatorControls(
            [v.engine for v in venues], [s.key for s in cfg.enabled_symbols]
        )
        control = await ControlEndpoint(controls, Path(cfg.store.root)).start()
        starting, quote = cfg.execution.starting_balances, cfg.execution.quote_asset
        only_quote = starting.get(quote) if set(starting) == {quote} else None
        line = StatusLine(
            bus, venues, counter, clock, only_quote, replay=rstats if replay_paths else None
        )
        if status is not None:
            status_task = asyncio.create_task(_status_loop(line, status, cfg.app.status_interval_s))
        if ready is not None:
            ready()
        if plan is not None:  # exactly when replay_paths were given
            summary.replay = await replay(plan, store, bus, writer, rstats, speed=speed, stop=stop)
            published["n"] = rstats.published
        else:
            await service.run(stop)
            published["n"] = service.feed_stats.received
            stop.set()
            assert close_timer is not None, "a live run started its close timer above"
            await close_timer  # returns once stop is set; nothing publishes after the drain
        summary.ticks_published = published["n"]
        if flatten_on_exit or cfg.execution.flatten.enabled:
            for v in venues:
                report = await flatten(v.engine, cfg.execution.flatten, symbols=v.symbols)
                summary.flatten.append(report.text())
        await bus.stop(drain_timeout_s=120)
        summary.candles_closed = clock.closed
        summary.bus = bus.metrics()
        if status is not None:
            status(await line.render())
    except Exception as exc:
        _report_death(exc, bus, notifier)
        raise
    finally:
        if close_timer is not None and not close_timer.done():
            close_timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await close_timer
        if status_task is not None:
            status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status_task
        with contextlib.suppress(Exception):
            await bus.stop(drain_timeout_s=10)
        if strategy is not None:
            await asyncio.to_thread(strategy.close)
            summary.strategy = strategy.stats()
        for v in venues:
            summary.venues[v.name] = {
                **v.engine.status(),
                "equity": await _safe_equity(v.engine),
            }
            await v.engine.stop()
        if control is not None:
            await control.stop()
        endpoint.stop()
        notifier.stop()
        store.close()
        state.close()
        owner.release()
    summary.seconds = time.monotonic() - started
    return summary


def _report_death(exc: Exception, bus: EventBus, notifier) -> None:
    """Publish :class:`~tapeflow.bus.SystemErrorEvent` for the exception ``run_app`` dies
    of: on the bus while it runs (the shutdown drains it to e-mail and every other
    subscriber), else straight to the notifier."""
    event = SystemErrorEvent(error_type=type(exc).__name__, message=str(exc), where="tapeflow run")
    log.error("tapeflow run failed: %s: %s", event.error_type, event.message)
    if bus.running:
        bus.publish_nowait(event)
    else:
        notifier.notify(event)


def _record_tick_sizes(store: TickStore, exchange, cfg: AppConfig, settings) -> None:
    """Record each traded symbol's price increment (market profile buckets use it)."""
    for sym in cfg.enabled_symbols:
        if (sym.exchange, sym.market) != (settings.exchange, settings.market):
            continue
        try:
            rules = exchange.market(sym.key)
        except Exception:  # no rules for it: the profile then needs an explicit bucket
            log.warning("no market rules for %s; tick size not recorded", sym.key)
            continue
        store.set_tick_size(sym.key, str(rules.price_tick))


async def _safe_equity(engine) -> Decimal | None:
    try:
        return await engine.equity()
    except Exception:  # the summary must not fail on a closed exchange client
        return None


async def _status_loop(line: StatusLine, emit: Callable[[str], None], every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            emit(await line.render())
        except Exception:
            log.exception("status line failed")
