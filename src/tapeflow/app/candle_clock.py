"""Turning the tick stream into ``CandleClosed`` events, after the candles are durable.

A candle of ``timeframe`` for a symbol closes when the first tick of a later interval
arrives (exchange time). Before the event is published the clock makes the closed candle
readable through the views: it flushes the symbol's pending ticks to the store and
refreshes the symbol's candle cache (:func:`tapeflow.analytics.candles.refresh_candles`).
So a subscriber (the strategy) that reads "the last N closed candles" on ``CandleClosed``
always sees the candle the event names.

Intervals with no trade at all close silently: the event names the interval that held the
symbol's previous tick (the continuous candle series fills the empty ones). Intervals
are aligned to the Unix epoch, as Binance's klines are.

Live, a quiet symbol's candle must not wait for its next trade: :meth:`CandleClock.run_close_timer`
also closes a candle once the *market clock* is ``grace_s`` past its end. The market clock
is the latest exchange time seen on any symbol, advanced by the wall time elapsed since it
was seen: busy symbols carry it forward in exchange time, so a quiet symbol closes on time
whatever the local clock's offset, and the grace lets that symbol's in-flight ticks arrive
first. Each candle is announced once, whichever comes first. A tick that arrives after its
candle was announced is still stored (the candle cache notices and rebuilds), but the
evaluation already made is not repeated. Replays run on the ticks alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tapeflow.analytics.candles import refresh_candles
from tapeflow.bus import EventBus
from tapeflow.model.events import CandleClosed, TradeTickReceived
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.timeframes import TIMEFRAMES, floor_time, timeframe_delta
from tapeflow.store import TickStore

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CandleClock:
    """Publishes ``CandleClosed`` per symbol and timeframe as ticks cross interval bounds.

    Args:
        store: the read-write tick store (the candle cache is refreshed in it).
        bus: where ``CandleClosed`` goes.
        flush: coroutine that makes every tick received so far for a symbol durable
            (the ingest or replay writer's ``flush``).
        timeframes: which timeframes to announce (subset of
            :data:`tapeflow.model.timeframes.TIMEFRAMES`).
        refresh: the symbols whose closed candles must be durable and cached before the
            event (those the strategy reads); None = all. Others get their events without
            the flush and refresh (readers compute uncached candles from the ticks).
    """

    def __init__(
        self,
        store: TickStore,
        bus: EventBus,
        flush: Callable[[SymbolKey], Awaitable[None]],
        timeframes: Sequence[str] = TIMEFRAMES,
        refresh: Iterable[SymbolKey] | None = None,
    ) -> None:
        unknown = set(timeframes) - set(TIMEFRAMES)
        if unknown:
            raise ValueError(f"unknown timeframes {sorted(unknown)}; known: {list(TIMEFRAMES)}")
        self._store = store
        self._bus = bus
        self._flush = flush
        self._timeframes = [(tf, timeframe_delta(tf)) for tf in TIMEFRAMES if tf in timeframes]
        self._refresh_keys = None if refresh is None else frozenset(refresh)
        self._open: dict[SymbolKey, datetime] = {}
        self._last_price: dict[SymbolKey, Decimal] = {}
        #: (symbol, timeframe) -> open time of the last candle announced
        self._announced: dict[tuple[SymbolKey, str], datetime] = {}
        self._lock = asyncio.Lock()  # ticks and the close timer announce one at a time
        self._market_ts: datetime | None = None  # latest exchange time seen on any symbol
        self._market_seen_at = 0.0  # time.monotonic() when it was seen
        #: exchange time of each symbol's latest tick (UTC), for the status line's lag
        self.last_tick_at: dict[SymbolKey, datetime] = {}
        self.closed = 0

    def subscribe(self) -> None:
        """Receive every tick from the bus (blocking overflow: a close is never skipped)."""
        self._bus.subscribe(
            TradeTickReceived, self.on_tick, name="candle-clock", overflow="block", timeout_s=120
        )

    async def on_tick(self, event: TradeTickReceived) -> None:
        """Advance the symbol's clock to the tick's minute; announce what closed."""
        tick = event.tick
        key = tick.key
        minute = floor_time(tick.ts, "1m")
        async with self._lock:
            current = self._open.get(key)
            close = self._last_price.get(key)
            self._last_price[key] = tick.price
            self.last_tick_at[key] = tick.ts
            if self._market_ts is None or tick.ts > self._market_ts:
                self._market_ts, self._market_seen_at = tick.ts, time.monotonic()
            if current is None or minute <= current:
                self._open.setdefault(key, minute)
                return
            # a key gets its open minute on its first tick, after its last price was stored
            assert close is not None, "a symbol with an open candle has a last price"
            self._open[key] = minute
            await self._announce(key, current, minute, close)

    def market_now(self) -> datetime | None:
        """The market clock (UTC): the latest exchange time seen on any symbol plus the wall
        time elapsed since; None before the first tick."""
        if self._market_ts is None:
            return None
        return self._market_ts + timedelta(seconds=time.monotonic() - self._market_seen_at)

    async def run_close_timer(
        self,
        stop: asyncio.Event,
        *,
        grace_s: float = 2.0,
        every_s: float = 0.5,
        now: Callable[[], datetime | None] | None = None,
    ) -> None:
        """Until ``stop`` is set, every ``every_s`` seconds close the candles whose end is
        ``grace_s`` seconds behind ``now()`` (default :meth:`market_now`) and not yet
        announced. For live runs; a replay closes candles on its ticks alone."""
        now = now or self.market_now
        while not stop.is_set():
            at = now()
            if at is not None:
                await self.close_due(at - timedelta(seconds=grace_s))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    async def close_due(self, at: datetime) -> None:
        """Announce every candle of every symbol that ended at or before ``at`` (UTC)."""
        minute = floor_time(at, "1m")
        async with self._lock:
            for key, current in list(self._open.items()):
                if minute > current:
                    await self._announce(key, current, minute, self._last_price[key])

    async def _announce(
        self, key: SymbolKey, current: datetime, minute: datetime, close: Decimal
    ) -> None:
        """Publish ``CandleClosed`` for each timeframe whose interval holding ``current``
        ended by ``minute`` and was not announced yet; flush and refresh first."""
        due = []
        for tf, length in self._timeframes:
            was, now = floor_time(current, length), floor_time(minute, length)
            if now > was and self._announced.get((key, tf), _EPOCH) < was + length:
                due.append((tf, was, length))
        if not due:
            return
        if self._refresh_keys is None or key in self._refresh_keys:
            await self._flush(key)
            await asyncio.to_thread(self._refresh, key)
        for tf, was, length in due:
            self._announced[(key, tf)] = was + length
            self.closed += 1
            await self._bus.publish(CandleClosed(key=key, timeframe=tf, open_time=was, close=close))

    def _refresh(self, key: SymbolKey) -> None:
        with self._store.connection(key) as con:
            refresh_candles(con)
