"""Replaying recorded trades through the live pipeline, at a chosen speed.

``tapeflow run --replay PATH...`` reads any format the importer reads
(:mod:`tapeflow.sources`), merges the files' ticks by exchange time across symbols, and
feeds them to the same places live ticks go: the store (in batches, through
:meth:`TickStore.append`, so idempotency, quarantine and conflicts behave exactly as in
import and live ingest) and the event bus (``TradeTickReceived`` per tick, which drives the
candle clock, the strategy, trailing stops and the paper exchange).

Pacing: ``speed=60`` plays one hour of exchange time per wall-clock minute; ``speed=None``
as fast as the pipeline takes them (the bus applies back-pressure).

Memory: the files are merged as streams, one batch of at most :data:`REPLAY_BATCH_ROWS`
rows per file at a time, so a replay of many days costs what one batch per file does.

Resuming: ticks whose id is at or below the symbol's highest stored id when the replay
starts are already in the store; they are skipped, so a restart after a crash (or a clean
stop) continues where the store ends, without re-publishing old ticks. Likewise a trade
seen again in another file (the same trades in two formats) is published once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path

import pyarrow as pa

from tapeflow.bus import EventBus
from tapeflow.model.events import TradeTickReceived
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick
from tapeflow.sources import ImportOptions, SourceBatch, plan_import
from tapeflow.sources.importer import PlannedFile
from tapeflow.store import RAW_TICK_SCHEMA, AppendResult, TickStore
from tapeflow.store.ticks import conform

log = logging.getLogger(__name__)


@dataclass
class ReplayStats:
    """What a replay did so far."""

    published: int = 0
    skipped_stored: int = 0
    written: AppendResult = field(default_factory=AppendResult)
    quarantined_unparseable: int = 0
    per_symbol: dict[SymbolKey, int] = field(default_factory=dict)
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    #: Seconds of exchange time a paced replay (``speed`` given) is behind its pace; None
    #: at full speed.
    behind_s: float | None = None


@dataclass
class _Pending:
    id_space: str
    schema: pa.Schema
    rows: list[dict] = field(default_factory=list)


class ReplayWriter:
    """Per-symbol batches of replayed ticks, appended to the store in a worker thread."""

    def __init__(self, store: TickStore, stats: ReplayStats, batch_size: int) -> None:
        self._store = store
        self._stats = stats
        self._batch_size = batch_size
        self._pending: dict[SymbolKey, _Pending] = {}
        self._spill: list[tuple[SymbolKey, _Pending]] = []
        self._locks: dict[SymbolKey, asyncio.Lock] = {}

    def add(self, key: SymbolKey, id_space: str, schema: pa.Schema, row: dict) -> bool:
        """Queue a row; True when the symbol's batch is full and should be flushed."""
        p = self._pending.get(key)
        if p is None or p.schema != schema:
            if p is not None:  # a batch from another file layout: keep each batch uniform
                self._spill.append((key, p))
            p = self._pending[key] = _Pending(id_space, schema)
        p.rows.append(row)
        return len(p.rows) >= self._batch_size

    async def flush(self, key: SymbolKey) -> None:
        """Make every queued tick of ``key`` durable."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            batches = [p for k, p in self._spill if k == key]
            self._spill = [(k, p) for k, p in self._spill if k != key]
            if key in self._pending:
                batches.append(self._pending.pop(key))
            for p in batches:
                table = pa.Table.from_pylist(p.rows, schema=p.schema)
                result = await asyncio.to_thread(
                    self._store.append, key, table, id_space=p.id_space, source="replay"
                )
                self._stats.written = self._stats.written + result

    async def flush_all(self) -> None:
        """Flush every symbol."""
        for key in {*self._pending, *(k for k, _ in self._spill)}:
            await self.flush(key)


#: Rows per batch read from a replayed file: the merge holds one batch per file as Python
#: rows, so this bounds the replay's memory whatever the files' length (~1 KB per row).
REPLAY_BATCH_ROWS = 65_536

#: One replayed row: its symbol, id space, the batch's Arrow schema and the row's values.
_Row = tuple[SymbolKey, str, pa.Schema, dict]


def _file_batches(
    path: Path, fmt, opts: ImportOptions, store: TickStore, stats: ReplayStats
) -> Iterator[SourceBatch]:
    """One file's batches; records the reader could not parse are quarantined on the way."""
    for batch in fmt.read(path, opts):
        if batch.quarantined:
            stats.quarantined_unparseable += store.quarantine_records(
                batch.key, batch.quarantined, source=f"replay:{path.name}"
            )
        if batch.table.num_rows:
            yield batch


def _uniform(table: pa.Table) -> pa.Table:
    """The batch in exactly :data:`RAW_TICK_SCHEMA` (exact decimal strings), so ticks of one
    symbol from files of different layouts batch together."""
    table = conform(table)
    for name in ("price", "quantity"):
        col = table.column(name)
        if not pa.types.is_string(col.type):  # decimal128 -> its exact text
            table = table.set_column(
                table.schema.get_field_index(name), name, col.cast(pa.string())
            )
    return table.cast(RAW_TICK_SCHEMA)


def _rows(stream: Iterator[SourceBatch]) -> Iterator[tuple[int, _Row]]:
    """``(ts_us, (key, id_space, schema, row))`` for every row of one file, batch by batch
    (each batch's rows sorted by time, then trade id), holding one batch at a time."""
    for batch in stream:
        table = _uniform(batch.table).sort_by([("ts", "ascending"), ("trade_id", "ascending")])
        ts = table.column("ts").cast(pa.int64()).to_pylist()
        for ts_us, row in zip(ts, table.to_pylist(), strict=True):
            yield ts_us, (batch.key, batch.id_space, table.schema, row)


def merge_by_time(streams: Sequence[Iterator[SourceBatch]]) -> Iterator[_Row]:
    """Yield ``(key, id_space, schema, row)`` for every row of every stream (one per file),
    in exchange-time order across files (``heapq.merge``; rows of equal time in file order),
    holding one batch per file at a time.

    Each file is read in order: within a file, rows are time-ordered per batch (ties by
    trade id), as a recording is; a file holding several symbols keeps each symbol's order,
    and its symbols interleave batch by batch. The first batch of every file is read before
    the first row is yielded, so a file that cannot be opened fails the replay before it
    starts.
    """
    for _, item in heapq.merge(*(_rows(s) for s in streams), key=itemgetter(0)):
        yield item


@dataclass(frozen=True)
class ReplayPlan:
    """Every file of a replay with its format and symbols, checked before anything starts."""

    files: list[PlannedFile]
    opts: ImportOptions


def plan_replay(paths: Sequence[str | Path], opts: ImportOptions | None = None) -> ReplayPlan:
    """Check every path of a replay without writing or starting anything: each exists, each
    file's format is known and its exchange/market/symbol can be told (from the data, or
    ``opts`` for files that do not say them). Non-trade files found in folders are skipped
    (logged).

    Raises:
        FileNotFoundError: a path does not exist.
        tapeflow.sources.SourceError: a file's format or symbol cannot be told (the message
            names the file and the option to add, e.g. ``pass --exchange --market``).
    """
    opts = opts or ImportOptions()
    if opts.batch_rows > REPLAY_BATCH_ROWS:
        opts = dataclasses.replace(opts, batch_rows=REPLAY_BATCH_ROWS)
    planned, skipped = plan_import(paths, opts)
    for path, reason in skipped:
        log.info("replay: skipping %s (%s)", path, reason)
    return ReplayPlan(planned, opts)


async def replay(
    paths: Sequence[str | Path] | ReplayPlan,
    store: TickStore,
    bus: EventBus,
    writer: ReplayWriter,
    stats: ReplayStats,
    *,
    speed: float | None = None,
    opts: ImportOptions | None = None,
    stop: asyncio.Event | None = None,
) -> ReplayStats:
    """Feed the recorded trades in ``paths`` (or a :class:`ReplayPlan` made before the run
    started) through the pipeline; see the module docstring.

    Raises:
        tapeflow.sources.SourceError: a file is unreadable or its symbol cannot be told
            (every file's format and symbol are checked, and its first batch read, before
            anything is replayed; damage found later in a file stops the replay there, and
            what was replayed until then is stored).
    """
    plan = paths if isinstance(paths, ReplayPlan) else plan_replay(paths, opts)
    streams = [_file_batches(pf.path, pf.format, plan.opts, store, stats) for pf in plan.files]
    try:
        await _play(streams, store, bus, writer, stats, speed, stop)
    finally:
        for stream in streams:
            stream.close()
    await writer.flush_all()
    return stats


async def _play(
    streams: list[Iterator[SourceBatch]],
    store: TickStore,
    bus: EventBus,
    writer: ReplayWriter,
    stats: ReplayStats,
    speed: float | None,
    stop: asyncio.Event | None,
) -> None:
    stored: dict[SymbolKey, int | None] = {}
    wall0 = time.monotonic()
    exch0: int | None = None
    for n, (key, id_space, schema, values) in enumerate(merge_by_time(streams)):
        if stop is not None and stop.is_set():
            break
        if key not in stored:
            stored[key] = await asyncio.to_thread(store.last_trade_id, key)
        trade_id = values["trade_id"]
        if stored[key] is not None and trade_id is not None and trade_id <= stored[key]:
            stats.skipped_stored += 1  # stored before this replay, or replayed from another file
            continue
        if trade_id is not None:
            stored[key] = trade_id
        ts: datetime = values["ts"]
        if ts is not None and ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        if speed is not None and ts is not None:
            us = int(ts.timestamp() * 1e6)
            exch0 = us if exch0 is None else exch0
            delay = (us - exch0) / 1e6 / speed - (time.monotonic() - wall0)
            stats.behind_s = max(0.0, -delay) * speed
            if delay > 0:
                await asyncio.sleep(delay)
        elif n % 512 == 0:
            await asyncio.sleep(0)
        if writer.add(key, id_space, schema, values):
            await writer.flush(key)
        if trade_id is None or ts is None:
            continue  # the store quarantines it; nothing to publish
        try:
            tick = TradeTick(
                key=key,
                trade_id=trade_id,
                ts=ts,
                price=Decimal(str(values["price"])),
                quantity=Decimal(str(values["quantity"])),
                side=values["side"],
                trade_type=values.get("trade_type"),
            )
        except ArithmeticError:
            continue  # not a number: the store quarantines the row; nothing to publish
        await bus.publish(TradeTickReceived(tick=tick))
        stats.published += 1
        stats.per_symbol[key] = stats.per_symbol.get(key, 0) + 1
        stats.first_ts = stats.first_ts or ts
        stats.last_ts = ts
