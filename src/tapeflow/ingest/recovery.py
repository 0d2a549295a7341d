"""Gap recovery: find the ids a symbol is missing, fetch them over REST, ledger the outcome.

For a :class:`~tapeflow.ingest.sequence.GapRequest` (``first..last`` of a symbol):

1. wait the request's grace period (late ticks may still arrive), then flush the symbol's
   batch, so the store holds everything received so far;
2. ask the store which ids of the range are really missing (a tail request, ``last`` None,
   first fetches from REST up to the newest trade, then asks);
3. for each missing range: ledger row ``detected`` (and a ``GapDetected`` event), REST
   ``historicalTrades`` by ``fromId`` paging, append through the writer (the store drops
   duplicates), ask the store again, and set the row to

   * ``filled``: nothing missing any more;
   * ``unfillable``: REST answered past these ids without them (Binance USD-M serves only
     ``MARKET`` trades; insurance-fund/ADL trades exist only in the stream);
   * still ``detected``: REST could not be asked or has not served the ids yet (no API key,
     network down, REST behind the stream); retried after ``retry_later_s`` and at the next
     start (open ``detected`` rows are repaired first thing).

The ledger row's range is the one detected; the reason column says what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from tapeflow.bus import EventBus
from tapeflow.ingest.ledger import missing_ranges
from tapeflow.ingest.sequence import GapRequest
from tapeflow.ingest.writer import BatchWriter, WriterFailed
from tapeflow.model.events import GapDetected
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tapeflow.venues.recovery import RangeFetch, RestTrade, RestUnavailable, TradeHistory

log = logging.getLogger(__name__)

_TS = pa.timestamp("us", tz="UTC")


@dataclass
class RecoveryOutcome:
    """What one request achieved. Ranges are inclusive ``(first, last)`` ids."""

    key: SymbolKey
    filled: list[tuple[int, int]] = field(default_factory=list)
    unfillable: list[tuple[int, int]] = field(default_factory=list)
    pending: list[tuple[int, int]] = field(default_factory=list)
    recovered: int = 0


@dataclass
class RecoveryStats:
    """Counters since start. ``gaps_*`` count ledger ranges by their final status;
    ``trades_fetched`` = trades REST returned for missing ranges, of which
    ``trades_recovered`` were stored and ``rest_duplicates`` had meanwhile arrived
    through the stream."""

    requests: int = 0
    resolved_by_stream: int = 0
    gaps_detected: int = 0
    gaps_filled: int = 0
    gaps_unfillable: int = 0
    gaps_pending: int = 0
    trades_fetched: int = 0
    trades_recovered: int = 0
    rest_duplicates: int = 0
    rest_errors: int = 0


def rest_table(trades: list[RestTrade], *, market: str) -> pa.Table:
    """Arrow table (store ``RAW_TICK_SCHEMA`` layout) of REST trades. USD-M trades get
    ``trade_type = 'MARKET'``: that REST API serves market trades only."""
    now_us = time.time_ns() // 1000
    n = len(trades)
    return pa.table(
        {
            "trade_id": pa.array([t.trade_id for t in trades], pa.int64()),
            "ts": pa.array([t.time_ms * 1000 for t in trades], _TS),
            "price": pa.array([t.price for t in trades], pa.string()),
            "quantity": pa.array([t.quantity for t in trades], pa.string()),
            "side": pa.array(["sell" if t.is_buyer_maker else "buy" for t in trades], pa.string()),
            "trade_type": pa.array(["MARKET" if market == "usdm" else None] * n, pa.string()),
            "local_ts": pa.array([now_us] * n, _TS),
        }
    )


def _fmt(ranges: list[tuple[int, int]], limit: int = 5) -> str:
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:limit])
    return text + (f" (+{len(ranges) - limit} more)" if len(ranges) > limit else "")


def _count(ranges: list[tuple[int, int]]) -> int:
    return sum(b - a + 1 for a, b in ranges)


class GapRecovery:
    """Runs gap requests as tasks: one at a time per symbol, a few symbols at once.

    Args:
        store: the tick store (ledger and missing-id queries).
        writer: appends recovered trades (under the symbol's write lock).
        clients: REST trade-history client per market (``"spot"``, ``"usdm"``).
        bus: receives ``GapDetected`` events (None: no events).
        retry_later_s: delay before a range REST could not fill is tried again.
        max_concurrent: symbols repaired at once.
    """

    def __init__(
        self,
        store: TickStore,
        writer: BatchWriter,
        clients: dict[str, TradeHistory],
        bus: EventBus | None = None,
        *,
        retry_later_s: float = 30.0,
        max_concurrent: int = 4,
    ) -> None:
        self.store = store
        self.writer = writer
        self.clients = clients
        self.bus = bus
        self.retry_later_s = retry_later_s
        self.stats = RecoveryStats()
        self._locks: dict[SymbolKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task] = set()
        self._retries: set[asyncio.Task] = set()
        self.failure: BaseException | None = None
        #: ledger ranges currently ``detected`` (being repaired or waiting for a retry)
        self.open: set[tuple[SymbolKey, int, int]] = set()

    # -- scheduling ----------------------------------------------------------------------

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, WriterFailed):
            self.failure = exc
        elif exc is not None:
            log.error("gap recovery task %s failed", task.get_name(), exc_info=exc)

    def submit(
        self,
        req: GapRequest,
        on_done: Callable[[GapRequest, RecoveryOutcome], None] | None = None,
    ) -> asyncio.Task:
        """Run ``req`` in the background; ``on_done(req, outcome)`` when it finishes."""
        self.stats.requests += 1
        return self._spawn(self._run(req, on_done), f"recover:{req.key}:{req.first}")

    def repair(self, key: SymbolKey, first: int, last: int, reason: str) -> asyncio.Task:
        """Repair one ledger range (an open row from an earlier run, or a retry)."""
        return self._spawn(self._repair_locked(key, first, last, reason), f"repair:{key}:{first}")

    def active(self) -> int:
        """Requests and repairs still running (including scheduled retries)."""
        return len(self._tasks)

    async def close(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for running repairs, then cancel the rest (their ledger
        rows stay ``detected`` for the next start)."""
        for t in list(self._retries):  # sleeping until a later retry: nothing to wait for
            t.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        for client in self.clients.values():
            await client.close()

    # -- work ----------------------------------------------------------------------------

    async def _run(
        self,
        req: GapRequest,
        on_done: Callable[[GapRequest, RecoveryOutcome], None] | None,
    ) -> RecoveryOutcome:
        outcome = RecoveryOutcome(req.key)
        try:
            if req.grace_s:
                await asyncio.sleep(req.grace_s)
            async with self._locks[req.key], self._slots:
                outcome = await self._detect_and_repair(req)
        finally:
            if on_done is not None:
                on_done(req, outcome)
        return outcome

    async def _detect_and_repair(self, req: GapRequest) -> RecoveryOutcome:
        key = req.key
        await self.writer.flush(key)
        fetched: RangeFetch | None = None
        last = req.last
        if last is None:  # tail: how far does REST go?
            try:
                fetched = await self.clients[key.market].fetch_range(key.symbol, req.first, None)
            except RestUnavailable as exc:
                self.stats.rest_errors += 1
                log.warning("%s: tail fetch from %d not possible: %s", key, req.first, exc)
                return RecoveryOutcome(key)
            if not fetched.trades:
                return RecoveryOutcome(key)
            last = fetched.trades[-1].trade_id
        missing = await asyncio.to_thread(missing_ranges, self.store, key, req.first, last)
        outcome = RecoveryOutcome(key)
        if not missing:
            if req.last is not None and req.first <= req.last:
                self.stats.resolved_by_stream += 1
            return outcome
        for a, b in missing:
            self.stats.gaps_detected += 1
            log.info("%s: ids %d..%d missing (%s)", key, a, b, req.reason)
            if self.bus is not None:
                await self.bus.publish(
                    GapDetected(key=key, first_missing_id=a, last_missing_id=b, reason=req.reason)
                )
            await self._repair(key, a, b, req.reason, fetched, outcome)
        return outcome

    async def _repair_locked(self, key: SymbolKey, a: int, b: int, reason: str) -> None:
        async with self._locks[key], self._slots:
            await self.writer.flush(key)
            await self._repair(key, a, b, reason, None, RecoveryOutcome(key))

    async def _repair(
        self,
        key: SymbolKey,
        a: int,
        b: int,
        reason: str,
        fetched: RangeFetch | None,
        outcome: RecoveryOutcome,
    ) -> None:
        store = self.store
        await asyncio.to_thread(store.record_gap, key, a, b, "detected", reason)
        self.open.add((key, a, b))
        missing = await asyncio.to_thread(missing_ranges, store, key, a, b)
        covered_to = a - 1
        recovered = 0
        error: str | None = None
        for lo, hi in missing:
            if fetched is not None and fetched.covered_to >= hi:
                part = RangeFetch(
                    [t for t in fetched.trades if lo <= t.trade_id <= hi], fetched.covered_to, False
                )
            else:
                try:
                    part = await self.clients[key.market].fetch_range(key.symbol, lo, hi)
                except RestUnavailable as exc:
                    self.stats.rest_errors += 1
                    error = str(exc)
                    break
            covered_to = max(covered_to, part.covered_to)
            if part.trades:
                res = await self.writer.write(
                    key,
                    rest_table(part.trades, market=key.market),
                    source=f"rest:{key.exchange}/{key.market}/historicalTrades",
                )
                recovered += res.inserted
                self.stats.trades_fetched += res.received
                self.stats.rest_duplicates += res.duplicates
        still = await asyncio.to_thread(missing_ranges, store, key, a, b)
        self.stats.trades_recovered += recovered
        outcome.recovered += recovered
        done = f"{reason}; {recovered} trades fetched over REST"
        if not still:
            await asyncio.to_thread(store.record_gap, key, a, b, "filled", done)
            self.open.discard((key, a, b))
            self.stats.gaps_filled += 1
            outcome.filled.append((a, b))
            log.info("%s: ids %d..%d filled (%d over REST)", key, a, b, recovered)
            return
        skipped = [(lo, min(hi, covered_to)) for lo, hi in still if lo <= covered_to]
        later = [(max(lo, covered_to + 1), hi) for lo, hi in still if hi > covered_to]
        if later:
            why = error or f"REST has not served ids after {covered_to} yet"
            note = f"{done}; {_count(later)} ids not fetched yet ({why}): {_fmt(later)}"
            if skipped:
                note += f"; not served by REST: {_fmt(skipped)}"
            await asyncio.to_thread(store.record_gap, key, a, b, "detected", note)
            self.stats.gaps_pending += 1
            outcome.pending.append((a, b))
            log.warning(
                "%s: ids %d..%d not filled yet: %s; retry in %.0fs",
                key,
                a,
                b,
                why,
                self.retry_later_s,
            )
            retry = self._spawn(self._retry_later(key, a, b, reason), f"retry:{key}:{a}")
            self._retries.add(retry)
            retry.add_done_callback(self._retries.discard)
            return
        why = " (USD-M serves MARKET trades only)" if key.market == "usdm" else ""
        note = (
            f"{done}; {_count(skipped)} ids not served by REST historicalTrades{why}: "
            f"{_fmt(skipped)}"
        )
        await asyncio.to_thread(store.record_gap, key, a, b, "unfillable", note)
        self.open.discard((key, a, b))
        self.stats.gaps_unfillable += 1
        outcome.unfillable.append((a, b))
        log.warning("%s: ids %d..%d unfillable: %s", key, a, b, note)

    async def _retry_later(self, key: SymbolKey, a: int, b: int, reason: str) -> None:
        await asyncio.sleep(self.retry_later_s)
        self._retries.discard(asyncio.current_task())
        await self._repair_locked(key, a, b, reason)
