"""The batch writer: per-symbol batches of live ticks, appended to the store off the loop.

A symbol's batch is flushed when it holds ``batch_size`` ticks or its oldest tick has waited
``flush_interval_s``, whichever comes first. Each flush is one ``TickStore.append`` (one
DuckDB transaction), run in a worker thread (``asyncio.to_thread``) so the event loop keeps
reading the feeds; at most one write per symbol is in flight (an asyncio lock per symbol),
and ticks arriving meanwhile wait for the next flush. Batches are sorted by trade id, so the
store's fast append path applies whenever the stream is in order.

A failed append keeps its ticks and is retried with exponential back-off (tenacity) for up
to ``write_retry_s``; after that the writer raises :class:`WriterFailed` and ingest stops
(nothing is dropped silently: on restart, gap recovery refetches from the last stored id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import pyarrow as pa
from tenacity import (
    AsyncRetrying,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential,
)

from tapeflow.ingest.records import LiveTick, QuarantinedFrame
from tapeflow.model.errors import TapeflowError
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import AppendResult, IdSpaceMismatchError, TickSchemaError, TickStore

log = logging.getLogger(__name__)

_TS = pa.timestamp("us", tz="UTC")

#: Errors that retrying cannot cure (a programming or configuration error).
FATAL_WRITE_ERRORS = (TickSchemaError, IdSpaceMismatchError, TypeError)

#: ``(key, trade times in ms, commit wall time in ms)`` after each durable append.
CommitListener = Callable[[SymbolKey, Sequence[int], int], None]
#: ``(key, lowest id, highest id)`` of a batch in which the store refused rows.
RefusedListener = Callable[[SymbolKey, int, int], None]


class WriterFailed(TapeflowError, RuntimeError):
    """The store kept failing for longer than the retry budget."""


def ticks_table(rows: Sequence[LiveTick]) -> pa.Table:
    """Arrow table in the store's ``RAW_TICK_SCHEMA`` layout (no ``raw`` column) for ticks;
    ``rows`` must be sorted by trade id if the fast append path is wanted."""
    return pa.table(
        {
            "trade_id": pa.array([r.trade_id for r in rows], pa.int64()),
            "ts": pa.array([r.time_ms * 1000 for r in rows], _TS),
            "price": pa.array([r.price for r in rows], pa.string()),
            "quantity": pa.array([r.quantity for r in rows], pa.string()),
            "side": pa.array([r.side for r in rows], pa.string()),
            "trade_type": pa.array([r.trade_type for r in rows], pa.string()),
            "local_ts": pa.array([r.local_us for r in rows], _TS),
        }
    )


#: GIL switch interval for an ingest process (s). Store appends run in worker threads and
#: cross between Python and DuckDB a dozen times per append; each time they want the GIL
#: back they wait for the busy event-loop thread to give it up, by default after 5 ms.
#: At 0.5 ms the same benchmark spent ~35% less wall time inside ``TickStore.append`` and
#: ingested ~25% more ticks/s (tests/benchmarks/bench_ingest.py).
GIL_SWITCH_INTERVAL_S = 0.0005


def tune_gil_switch_interval() -> float:
    """Set :data:`GIL_SWITCH_INTERVAL_S` for this process (an application decision: call it
    from the program's entry point, not from library code). Returns the previous value."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    return previous


def warm_up() -> None:
    """Build one throw-away tick table. pyarrow imports pandas on its first conversion from
    Python objects (hundreds of modules: seconds of CPU when bytecode caching is off, GIL
    held); doing it before the feeds connect keeps it off the hot path."""
    ticks_table([LiveTick(SymbolKey("binance", "spot", "BTCUSDT"), 1, 0, "1", "1", "buy", None, 0)])


@dataclass
class WriterStats:
    """Counters of the live batches since start (rows are ticks; appends made through
    :meth:`BatchWriter.write`, e.g. REST repairs, are counted by their caller)."""

    flushes: int = 0
    rows_written: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0
    frames_quarantined: int = 0
    write_errors: int = 0
    write_seconds: float = 0.0  # wall time inside TickStore.append (worker threads)
    full_waits: int = 0
    last_commit_id: dict[SymbolKey, int] = field(default_factory=dict)

    def add(self, result: AppendResult) -> None:
        """Count one append's result."""
        self.inserted += result.inserted
        self.duplicates += result.duplicates
        self.conflicts += result.conflicts
        self.quarantined += result.quarantined


@dataclass
class _Batch:
    rows: list[LiveTick] = field(default_factory=list)
    frames: list[QuarantinedFrame] = field(default_factory=list)
    first_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task | None = None
    added: int = 0  # ticks + frames ever queued
    written: int = 0  # ticks + frames ever made durable


def _retrieve(task: asyncio.Task) -> None:
    """Mark a flush task's exception as seen (it is re-raised to whoever awaits the task and
    remembered by the writer, which refuses further ticks)."""
    if not task.cancelled():
        task.exception()


class BatchWriter:
    """Per-symbol batching in front of :meth:`TickStore.append`; see the module docstring.

    Args:
        store: the tick store.
        source_for: the ``source`` recorded for a symbol's live ticks (``"ws:binance/usdm"``).
        batch_size: ticks per flush.
        flush_interval_s: longest wait of a tick before its batch is flushed.
        write_retry_s: how long a failing append is retried before :class:`WriterFailed`.
        write_concurrency: most appends (of different symbols) running at once.
        max_pending: most ticks held in batches (not yet durable). Past it,
            :meth:`wait_for_room` blocks the caller until writes catch up, so a slow store
            pushes back on the feed instead of growing memory.
    """

    def __init__(
        self,
        store: TickStore,
        source_for: Callable[[SymbolKey], str],
        *,
        batch_size: int = 100,
        flush_interval_s: float = 1.0,
        write_retry_s: float = 300.0,
        write_concurrency: int = 4,
        max_pending: int = 100_000,
    ) -> None:
        self.store = store
        self.source_for = source_for
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.write_retry_s = write_retry_s
        self._slots = asyncio.Semaphore(write_concurrency)
        self.stats = WriterStats()
        self.commit_listeners: list[CommitListener] = []
        self.refused_listeners: list[RefusedListener] = []
        self._batches: dict[SymbolKey, _Batch] = {}
        self._failed: BaseException | None = None
        self.max_pending = max_pending
        self._pending = 0
        self._room = asyncio.Event()
        self._room.set()

    # -- intake (called on the loop, never blocks) ------------------------------------------

    def _batch(self, key: SymbolKey) -> _Batch:
        b = self._batches.get(key)
        if b is None:
            b = self._batches[key] = _Batch()
        return b

    def add(self, tick: LiveTick) -> None:
        """Queue a tick; starts a flush when the symbol's batch is full.

        Raises:
            WriterFailed: an earlier write failed for good.
        """
        if self._failed is not None:
            raise WriterFailed("the store is failing; ingest must stop") from self._failed
        b = self._batch(tick.key)
        if not b.rows:
            b.first_at = time.monotonic()
        b.rows.append(tick)
        b.added += 1
        self._pending += 1
        if len(b.rows) >= self.batch_size and b.task is None:
            self._start(tick.key, b)

    def add_frame(self, frame: QuarantinedFrame) -> None:
        """Queue a refused frame for the symbol's quarantine (written with the next flush)."""
        b = self._batch(frame.key)
        if not b.rows and not b.frames:
            b.first_at = time.monotonic()
        b.frames.append(frame)
        b.added += 1

    @property
    def failure(self) -> BaseException | None:
        """The error that made the writer give up, if any."""
        return self._failed

    def pending(self) -> int:
        """Ticks waiting in batches (not yet durable)."""
        return self._pending

    async def wait_for_room(self) -> None:
        """Return once fewer than ``max_pending`` ticks wait in batches (flushing what waits).

        Raises:
            WriterFailed: the store failed for good meanwhile.
        """
        while self._pending >= self.max_pending and self._failed is None:
            self.stats.full_waits += 1
            for key, b in self._batches.items():
                if b.rows and b.task is None:
                    self._start(key, b)
            self._room.clear()
            await self._room.wait()
        if self._failed is not None:
            raise WriterFailed("the store is failing; ingest must stop") from self._failed

    # -- flushing ------------------------------------------------------------------------

    def _start(self, key: SymbolKey, b: _Batch) -> asyncio.Task:
        task = asyncio.create_task(self._flush(key, b), name=f"flush:{key}")
        task.add_done_callback(_retrieve)
        b.task = task
        return task

    async def _flush(self, key: SymbolKey, b: _Batch) -> None:
        """Write everything queued for ``key``; again while a full batch piled up meanwhile."""
        try:
            async with b.lock:
                while b.rows or b.frames:
                    rows, b.rows = b.rows, []
                    frames, b.frames = b.frames, []
                    try:
                        await self._write_batch(key, rows, frames)
                    except BaseException:
                        b.rows[:0] = rows  # keep them for a later attempt / the report
                        b.frames[:0] = frames
                        raise
                    self._pending -= len(rows)
                    b.written += len(rows) + len(frames)
                    if self._pending < self.max_pending:
                        self._room.set()
                    if len(b.rows) < self.batch_size:
                        break
        except (*FATAL_WRITE_ERRORS, WriterFailed) as exc:
            self._failed = exc
            self._room.set()  # wake a waiting consumer: it raises
            raise
        finally:
            if b.task is asyncio.current_task():
                b.task = None

    async def _write_batch(
        self, key: SymbolKey, rows: list[LiveTick], frames: list[QuarantinedFrame]
    ) -> None:
        source = self.source_for(key)
        if frames:
            await self._retrying(
                self.store.quarantine_records,
                key,
                [(f.raw, f.reason) for f in frames],
                source=source,
            )
            self.stats.frames_quarantined += len(frames)
        if not rows:
            return
        rows.sort(key=attrgetter("trade_id"))
        table = ticks_table(rows)
        result: AppendResult = await self._retrying(
            self._timed_append, key, table, id_space="trade", source=source
        )
        committed_ms = time.time_ns() // 1_000_000
        self.stats.flushes += 1
        self.stats.rows_written += len(rows)
        self.stats.add(result)
        self.stats.last_commit_id[key] = max(
            rows[-1].trade_id, self.stats.last_commit_id.get(key, rows[-1].trade_id)
        )
        if result.quarantined:
            for listener in self.refused_listeners:
                listener(key, rows[0].trade_id, rows[-1].trade_id)
        if self.commit_listeners:
            times = [r.time_ms for r in rows]
            for on_commit in self.commit_listeners:
                on_commit(key, times, committed_ms)

    def _timed_append(self, key: SymbolKey, table: pa.Table, **kwargs) -> AppendResult:
        started = time.perf_counter()
        try:
            return self.store.append(key, table, **kwargs)
        finally:
            self.stats.write_seconds += time.perf_counter() - started

    async def _retrying(self, fn, *args, **kwargs):
        def _count(state) -> None:
            self.stats.write_errors += 1
            log.warning(
                "store write failed (%s: %s); retrying in %.1fs",
                type(state.outcome.exception()).__name__,
                state.outcome.exception(),
                state.next_action.sleep,
            )

        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_not_exception_type(FATAL_WRITE_ERRORS),
                wait=wait_exponential(multiplier=0.1, max=5.0),
                stop=stop_after_delay(self.write_retry_s),
                before_sleep=_count,
                reraise=True,
            ):
                with attempt:
                    async with self._slots:
                        return await asyncio.to_thread(fn, *args, **kwargs)
        except FATAL_WRITE_ERRORS:
            raise
        except Exception as exc:
            raise WriterFailed(
                f"store writes kept failing for {self.write_retry_s:.0f}s: {exc}"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def flush(self, key: SymbolKey) -> None:
        """Make every tick queued for ``key`` up to now durable (waits for in-flight writes;
        ticks arriving meanwhile are left to the usual triggers, so a busy stream cannot
        keep this waiting).

        Raises:
            WriterFailed: the store failed for good.
        """
        b = self._batches.get(key)
        if b is None:
            return
        target = b.added
        while b.written < target:
            task = b.task if b.task is not None else self._start(key, b)
            await asyncio.shield(task)

    async def flush_all(self) -> None:
        """Flush every symbol."""
        await asyncio.gather(*(self.flush(k) for k in list(self._batches)))

    async def write(self, key: SymbolKey, table: pa.Table, *, source: str) -> AppendResult:
        """Append a ready table (e.g. trades recovered over REST) under the symbol's write
        lock, so it never runs beside a flush of the same symbol. Not counted in
        :attr:`stats` (which describe the live batches); the caller counts its result."""
        b = self._batch(key)
        async with b.lock:
            return await self._retrying(
                self.store.append, key, table, id_space="trade", source=source
            )

    async def run_timer(self, tick_s: float | None = None) -> None:
        """Forever: flush every batch whose oldest tick waited ``flush_interval_s``."""
        period = tick_s or min(0.1, self.flush_interval_s / 4)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for key, b in self._batches.items():
                if (
                    (b.rows or b.frames)
                    and b.task is None
                    and now - b.first_at >= self.flush_interval_s
                ):
                    self._start(key, b)

    async def close(self) -> None:
        """Flush everything and wait for in-flight writes."""
        await self.flush_all()
        tasks = [b.task for b in self._batches.values() if b.task is not None]
        for t in tasks:
            with contextlib.suppress(Exception):
                await t
