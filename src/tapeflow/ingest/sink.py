"""Where a feed delivers: cryptofeed's TRADES callback puts ticks on the bounded queue.

One :class:`QueueSink` per feed (exchange market). It turns a cryptofeed ``Trade`` (whose
``raw`` is the venue's exact :class:`~tapeflow.venues.feeds.RawTrade`) into a
:class:`~tapeflow.ingest.records.LiveTick`, and a refused frame into a
:class:`~tapeflow.ingest.records.QuarantinedFrame`, and puts either on the shared bounded
queue. When the queue is full the callback waits (back-pressure: cryptofeed stops reading
the socket) and the wait is counted; nothing is dropped. Connection events are handed on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptofeed.connection import AsyncConnection
from cryptofeed.types import Trade

from tapeflow.config.ingest import FeedSpec
from tapeflow.ingest.records import LiveTick, QuarantinedFrame
from tapeflow.model.symbols import SymbolKey
from tapeflow.venues import Capability, get_venue

log = logging.getLogger(__name__)


@dataclass
class FeedStats:
    """Intake counters since start (all feeds).

    Attributes:
        received: ticks taken off the queue by the consumer.
        malformed: frames refused before they became ticks.
        backpressure_waits / backpressure_s: times (and seconds) a feed callback waited
            for room in the full queue.
        connects / reconnects / disconnects: WebSocket connection events.
        last_exchange_ms: exchange time (ms) of each symbol's last received tick.
    """

    received: int = 0
    malformed: int = 0
    backpressure_waits: int = 0
    backpressure_s: float = 0.0
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    last_exchange_ms: dict[SymbolKey, int] = field(default_factory=dict)


class QueueSink:
    """A feed's :class:`~tapeflow.venues.feeds.FeedSink`: ticks and refused frames onto
    ``queue``; connection events to the two callbacks.

    Args:
        spec: the feed (its symbols map cryptofeed names and native names to keys).
        queue: the bounded queue shared by all feeds.
        stats: counters to update.
        on_connected: ``(sink, conn, reconnect)`` when a connection opened.
        on_disconnected: ``(sink, conn, reason)`` when an open connection closed.
    """

    def __init__(
        self,
        spec: FeedSpec,
        queue: asyncio.Queue,
        stats: FeedStats,
        *,
        on_connected: Callable[[QueueSink, AsyncConnection, bool], None],
        on_disconnected: Callable[[QueueSink, AsyncConnection, str], None],
    ) -> None:
        self.spec = spec
        self.name = spec.name
        feeds = get_venue(spec.exchange).implementation(spec.market, Capability.LIVE_FEED)
        self.by_normalized = {
            feeds.normalized_symbol(spec.market, s): SymbolKey(spec.exchange, spec.market, s)
            for s in spec.symbols
        }
        self.by_native = {k.symbol: k for k in self.by_normalized.values()}
        self.queue = queue
        self.stats = stats
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected

    async def _put(self, item: LiveTick | QuarantinedFrame) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.backpressure_waits += 1
            started = time.monotonic()
            await self.queue.put(item)
            self.stats.backpressure_s += time.monotonic() - started

    async def on_trade(self, trade: Trade, receipt_timestamp: float) -> None:
        """cryptofeed TRADES callback (``receipt_timestamp``: local receive time, s)."""
        p = trade.raw
        tick = LiveTick(
            self.by_normalized[trade.symbol],
            p.trade_id,
            p.time_ms,
            p.price,
            p.quantity,
            trade.side,
            p.trade_type,
            int(receipt_timestamp * 1_000_000),
        )
        try:
            self.queue.put_nowait(tick)
        except asyncio.QueueFull:
            await self._put(tick)

    def conn_keys(self, conn: AsyncConnection | None) -> list[SymbolKey]:
        """The symbols a connection carries (from its subscription)."""
        sub = getattr(conn, "subscription", None) or {}
        return [self.by_native[s] for syms in sub.values() for s in syms if s in self.by_native]

    async def on_malformed(
        self, conn: AsyncConnection | None, frame: str | bytes, reason: str, symbol: str | None
    ) -> None:
        """Quarantine a refused frame with the symbol it names, or else with the first
        symbol of its connection (the reason then says so)."""
        self.stats.malformed += 1
        text = frame.decode("utf-8", "replace") if isinstance(frame, bytes | bytearray) else frame
        key = self.by_native.get(symbol or "")
        if key is None:
            key = (self.conn_keys(conn) or list(self.by_native.values()))[0]
            conn_id = getattr(conn, "id", "?")
            reason = f"{reason} (unattributed frame on connection {conn_id}, kept with {key})"
        log.warning("%s: malformed frame quarantined: %s", key, reason)
        await self._put(QuarantinedFrame(key, text, reason))

    def on_connected(self, conn: AsyncConnection, *, reconnect: bool) -> None:
        """Hand the event on."""
        self._on_connected(self, conn, reconnect)

    def on_disconnected(self, conn: AsyncConnection, reason: str) -> None:
        """Hand the event on."""
        self._on_disconnected(self, conn, reason)
