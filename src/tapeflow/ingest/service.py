"""The live ingest service: feeds -> bounded queue -> batch writer, with gap recovery.

::

    cryptofeed feeds (raw @trade) --on_trade--> bounded asyncio.Queue --> consumer
        consumer: id continuity (SequenceTracker) -> GapRecovery requests
                  TradeTickReceived on the bus
                  BatchWriter.add -> per-symbol flush (N ticks or T s) -> TickStore.append
    connection events: ConnectionLost; on reconnect every symbol of that connection probes
    (first tick or tail fetch) and, once all are repaired, ConnectionRestored(gaps, n).

The queue is bounded: when it is full the feed callback waits (back-pressure reaches the
socket) and the wait is counted; nothing is dropped. Shutdown (:meth:`IngestService.run`
returns once ``stop`` is set): stop the feeds, drain the queue, flush every batch, let
running repairs finish (or leave their ledger rows ``detected`` for the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptofeed import FeedHandler
from cryptofeed.connection import AsyncConnection

from tapeflow.bus import EventBus
from tapeflow.config.ingest import FeedSpec, IngestSettings
from tapeflow.ingest.ledger import open_gaps
from tapeflow.ingest.records import LiveTick
from tapeflow.ingest.recovery import GapRecovery, RecoveryOutcome
from tapeflow.ingest.sequence import GapRequest, SequenceTracker
from tapeflow.ingest.sink import FeedStats, QueueSink
from tapeflow.ingest.status import StatusLine
from tapeflow.ingest.writer import BatchWriter, WriterFailed, warm_up
from tapeflow.model.events import ConnectionLost, ConnectionRestored, Event, TradeTickReceived
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick
from tapeflow.store import TickStore
from tapeflow.venues import Capability, get_venue

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class _Episode:
    """A reconnect being repaired: which symbols are still probing, what was refilled."""

    feed: str
    pending: set[SymbolKey]
    gaps: list[tuple[SymbolKey, int, int]] = field(default_factory=list)
    recovered: int = 0
    published: bool = False


class IngestService:
    """Live ingest of raw trades for the configured feeds into the tick store.

    Args:
        feeds: what to ingest.
        settings: batching, queue, repair and endpoint settings.
        store: the (read-write) tick store; the caller opens and closes it.
        bus: the event bus (started by the caller), or None for no events.
        status: called with a one-line status every ``settings.status_interval_s``
            (None: no status lines).

    Raises (from :meth:`run`):
        WriterFailed: the store kept failing; ingest stopped (restart repairs from the
            last stored id).
    """

    def __init__(
        self,
        feeds: Sequence[FeedSpec],
        settings: IngestSettings,
        store: TickStore,
        bus: EventBus | None = None,
        *,
        status: Callable[[str], None] | None = None,
    ) -> None:
        self.feeds = list(feeds)
        self.settings = settings
        self.store = store
        self.bus = bus
        self._status = status
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=settings.queue_size)
        self.feed_stats = FeedStats()
        self.keys = [k for f in self.feeds for k in f.symbol_keys()]
        self.writer = BatchWriter(
            store,
            lambda k: f"ws:{k.exchange}/{k.market}",
            batch_size=settings.batch_size,
            flush_interval_s=settings.flush_interval_s,
            write_concurrency=settings.write_concurrency,
            max_pending=settings.max_batched,
        )
        self.writer.refused_listeners.append(self._on_refused)
        self.tracker = SequenceTracker(settings.gap_grace_s, settings.probe_timeout_s)
        api_key = settings.api_key()
        clients = {}
        self._feed_modules = {}
        for f in self.feeds:
            venue = get_venue(f.exchange)  # a venue with a feed has contiguous trade ids
            self._feed_modules[f.name] = venue.implementation(f.market, Capability.LIVE_FEED)
            if f.market not in clients:
                rest = venue.implementation(f.market, Capability.REST_RECOVERY)
                clients[f.market] = rest.TradeHistoryClient(
                    f.market,
                    api_key=api_key,
                    base_url=f.rest_url or settings.rest_base_url,
                    page_limit=settings.rest_page_limit,
                    retries=settings.rest_retries,
                    rate_limit=settings.rest_rate_limit,
                    timeout_s=settings.rest_timeout_s,
                )
        self.recovery = GapRecovery(store, self.writer, clients, bus)
        self.status_line = StatusLine(self)
        self._sinks = [
            QueueSink(
                f,
                self.queue,
                self.feed_stats,
                on_connected=self._on_connected,
                on_disconnected=self._on_disconnected,
            )
            for f in self.feeds
        ]
        self._episodes: dict[str, _Episode] = {}
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._deadlines: set[asyncio.Task] = set()

    # -- events --------------------------------------------------------------------------

    def _publish(self, event: Event) -> None:
        if self.bus is None:
            return
        self._spawn(self.bus.publish(event), f"publish:{type(event).__name__}")

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_connected(self, sink: QueueSink, conn: AsyncConnection, reconnect: bool) -> None:
        self.feed_stats.connects += 1
        if not reconnect:
            log.info("%s: connected (%s)", sink.name, conn.id)
            return
        self.feed_stats.reconnects += 1
        keys = sink.conn_keys(conn)
        log.info(
            "%s: reconnected (%s); checking %d symbols for gaps", sink.name, conn.id, len(keys)
        )
        ep = self._episodes.get(conn.id)
        if ep is None or ep.published:
            ep = self._episodes[conn.id] = _Episode(sink.name, set())
            deadline = asyncio.create_task(self._episode_deadline(ep), name="restored-deadline")
            self._deadlines.add(deadline)
            deadline.add_done_callback(self._deadlines.discard)
        ep.pending |= set(keys)
        for key in self.tracker.probe(keys, "reconnect", ep):
            ep.pending.discard(key)
        self._maybe_restored(ep)

    def _on_disconnected(self, sink: QueueSink, conn: AsyncConnection, reason: str) -> None:
        if self._stopping:
            return
        self.feed_stats.disconnects += 1
        log.warning("%s: connection %s lost: %s", sink.name, conn.id, reason)
        self._publish(ConnectionLost(feed=sink.name, reason=reason))

    def _maybe_restored(self, ep: _Episode, *, force: bool = False) -> None:
        if ep.published or (ep.pending and not force):
            return
        ep.published = True
        log.info(
            "%s: connection restored; %d gap(s) refilled, %d trades recovered",
            ep.feed,
            len(ep.gaps),
            ep.recovered,
        )
        self._publish(
            ConnectionRestored(feed=ep.feed, gaps=tuple(ep.gaps), trades_recovered=ep.recovered)
        )

    async def _episode_deadline(self, ep: _Episode) -> None:
        await asyncio.sleep(self.settings.reconnect_restored_timeout_s)
        if not ep.published:
            log.warning("%s: repairs after reconnect still running; reporting restored", ep.feed)
            self._maybe_restored(ep, force=True)

    def _on_repaired(self, req: GapRequest, outcome: RecoveryOutcome) -> None:
        ep: _Episode | None = req.episode
        if ep is None:
            return
        ep.gaps.extend((req.key, a, b) for a, b in outcome.filled)
        ep.recovered += outcome.recovered
        ep.pending.discard(req.key)
        self._maybe_restored(ep)

    def _on_refused(self, key: SymbolKey, lo: int, hi: int) -> None:
        # the store quarantined rows of a batch: those ids are holes the stream won't refill
        self._request(GapRequest(key, lo, hi, "ticks refused by the store (quarantined)"))

    def _request(self, req: GapRequest) -> None:
        if req.last is not None and req.first > req.last:  # probe found nothing missing
            self._on_repaired(req, RecoveryOutcome(req.key))
            return
        self.recovery.submit(req, self._on_repaired)

    # -- the pipeline --------------------------------------------------------------------

    async def _consume(self) -> None:
        q = self.queue
        writer = self.writer
        tracker = self.tracker
        stats = self.feed_stats
        bus = self.bus
        while True:
            try:
                item = q.get_nowait()
            except asyncio.QueueEmpty:
                item = await q.get()
            if item is None:
                return
            if type(item) is LiveTick:
                stats.received += 1
                stats.last_exchange_ms[item.key] = item.time_ms
                req = tracker.observe(item.key, item.trade_id)
                if req is not None:
                    self._request(req)
                writer.add(item)
                if writer.pending() >= writer.max_pending:
                    await writer.wait_for_room()  # the store is behind: push back on the feed
                if bus is not None:
                    await bus.publish(TradeTickReceived(tick=_trade_tick(item)))
            else:
                writer.add_frame(item)

    async def _probe_watch(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            for req in self.tracker.expired_probes():
                self._request(req)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.status_interval_s)
            if self._status is not None:
                self._status(self.status_line.render())

    async def _startup(self) -> None:
        def read() -> tuple[dict[SymbolKey, int | None], dict[SymbolKey, list]]:
            for k in self.keys:  # create + migrate new symbol files now, not in a first flush
                with self.store.connection(k, create=True):
                    pass
            last = {k: self.store.last_trade_id(k) for k in self.keys}
            return last, {k: open_gaps(self.store, k) for k in self.keys}

        last_ids, open_rows = await asyncio.to_thread(read)
        for key, last in last_ids.items():
            self.tracker.start(key, last)
        for key, rows in open_rows.items():
            for a, b, reason in rows:
                log.info("%s: repairing open ledger range %d..%d from an earlier run", key, a, b)
                self.recovery.repair(key, a, b, reason or "open ledger entry")

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set (or a fatal error), then shut down cleanly."""
        # heavy first-time imports (ccxt's ~200 exchange modules, pandas behind pyarrow's
        # first conversion) hold the GIL while they compile when bytecode caching is off:
        # do them before the feeds connect, never while ticks are flowing
        for client in self.recovery.clients.values():
            await client.warm_up()
        await asyncio.to_thread(warm_up)
        await self._startup()
        fh = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        for sink in self._sinks:
            ws_url = sink.spec.ws_url or self.settings.ws_url
            if ws_url is not None:
                ws_url = ws_url.replace("{market}", sink.spec.market)
            build_feed = self._feed_modules[sink.spec.name].build_feed
            fh.add_feed(
                build_feed(sink.spec, sink, ws_url=ws_url, timeout_s=self.settings.feed_timeout_s)
            )
        consumer = asyncio.create_task(self._consume(), name="ingest:consume")
        helpers = [
            asyncio.create_task(self.writer.run_timer(), name="ingest:flush-timer"),
            asyncio.create_task(self._probe_watch(), name="ingest:probes"),
            asyncio.create_task(self._status_loop(), name="ingest:status"),
        ]
        feeds = asyncio.create_task(
            fh.run_async(install_signal_handlers=False), name="ingest:feeds"
        )
        stopper = asyncio.create_task(stop.wait(), name="ingest:stop")
        failure: BaseException | None = None
        try:
            done, _ = await asyncio.wait(
                {stopper, feeds, consumer, *helpers}, return_when=asyncio.FIRST_COMPLETED
            )
            for t in done - {stopper}:
                if t.exception() is not None:
                    failure = t.exception()
                    log.error("ingest: %s failed: %r", t.get_name(), failure)
        finally:
            self._stopping = True
            stopper.cancel()
            fh.request_stop()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.settings.shutdown_timeout_s):
                    await asyncio.shield(feeds)
            if not feeds.done():
                feeds.cancel()
            if not consumer.done():
                await self.queue.put(None)  # drain what the feeds delivered, then stop
                with contextlib.suppress(Exception):
                    await consumer
            background = [*helpers, *self._deadlines]
            for t in background:
                t.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            try:
                await self.writer.close()
            except WriterFailed as exc:
                failure = failure or exc
            await self.recovery.close(self.settings.shutdown_timeout_s)
            with contextlib.suppress(Exception):
                await self.writer.flush_all()
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=self.settings.shutdown_timeout_s)
            if self._status is not None:
                self._status(self.status_line.render(final=True))
        failure = failure or self.writer.failure or self.recovery.failure
        if failure is not None:
            raise failure


def _trade_tick(t: LiveTick) -> TradeTick:
    return TradeTick(
        key=t.key,
        trade_id=t.trade_id,
        ts=_EPOCH + timedelta(milliseconds=t.time_ms),
        price=Decimal(t.price),
        quantity=Decimal(t.quantity),
        side=t.side,
        trade_type=t.trade_type,
    )
