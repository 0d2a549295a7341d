"""The batch writer against a real store: size and time triggers, one write in flight per
symbol, explicit flushes, refused rows reported."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest

from tapeflow.ingest.records import LiveTick, QuarantinedFrame
from tapeflow.ingest.writer import BatchWriter
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore

A = SymbolKey("binance", "spot", "BTCUSDT")
B = SymbolKey("binance", "spot", "ETHUSDT")
T0 = 1723161255342
pytestmark = pytest.mark.timeout(60)


class ObservedStore(TickStore):
    """A real store that records how many appends run at once, per symbol and overall."""

    def __init__(self, root):
        super().__init__(root)
        self._lock = threading.Lock()
        self.running: Counter = Counter()
        self.max_per_key: Counter = Counter()
        self.max_total = 0
        self.batches: list[tuple[SymbolKey, int]] = []

    def append(self, key, table, **kw):
        with self._lock:
            self.running[key] += 1
            self.max_per_key[key] = max(self.max_per_key[key], self.running[key])
            self.max_total = max(self.max_total, sum(self.running.values()))
            self.batches.append((key, table.num_rows))
        try:
            time.sleep(0.02)  # a slow disk: writes overlap if the writer lets them
            return super().append(key, table, **kw)
        finally:
            with self._lock:
                self.running[key] -= 1


def tick(key: SymbolKey, i: int, price: str = "61837.63") -> LiveTick:
    return LiveTick(key, i, T0 + i, price, "0.002", "buy", None, (T0 + i) * 1000)


def stored(store: TickStore, key: SymbolKey) -> list[int]:
    with store.connection(key) as con:
        return [r[0] for r in con.execute("SELECT trade_id FROM ticks ORDER BY 1").fetchall()]


async def test_full_batches_flush_one_write_per_symbol_at_a_time(tmp_path):
    store = ObservedStore(tmp_path)
    w = BatchWriter(store, lambda k: "test", batch_size=100, flush_interval_s=60)
    for i in range(1, 1001):
        w.add(tick(A, i))
        w.add(tick(B, i))
        if i % 50 == 0:
            await asyncio.sleep(0)  # let flushes start while ticks keep coming
    await w.flush_all()
    assert stored(store, A) == stored(store, B) == list(range(1, 1001))
    assert store.max_per_key[A] == store.max_per_key[B] == 1
    assert store.max_total == 2  # different symbols do write in parallel
    assert all(n >= 100 for _, n in store.batches[:-2])  # no tiny batches while busy
    assert w.stats.inserted == 2000 and w.stats.rows_written == 2000
    store.close()


async def test_a_lone_tick_is_flushed_after_the_interval(tmp_path):
    store = TickStore(tmp_path)
    w = BatchWriter(store, lambda k: "test", batch_size=100, flush_interval_s=0.2)
    timer = asyncio.create_task(w.run_timer(0.02))
    try:
        w.add(tick(A, 7))
        await asyncio.sleep(0.05)
        assert w.pending() == 1 and w.stats.flushes == 0
        await asyncio.sleep(0.4)
        assert w.pending() == 0 and w.stats.flushes == 1
        assert stored(store, A) == [7]
    finally:
        timer.cancel()
    store.close()


async def test_out_of_order_batches_are_sorted_and_refused_rows_reported(tmp_path):
    store = TickStore(tmp_path)
    w = BatchWriter(store, lambda k: "ws:test", batch_size=1000, flush_interval_s=60)
    refused = []
    commits = []
    w.refused_listeners.append(lambda k, lo, hi: refused.append((k, lo, hi)))
    w.commit_listeners.append(lambda k, times, at: commits.append((k, list(times))))
    for i in (5, 3, 4, 1, 2):
        w.add(tick(A, i))
    w.add(tick(A, 6, price="-1"))
    w.add_frame(QuarantinedFrame(A, "<garbage>", "not a combined-stream frame"))
    await w.flush(A)
    assert stored(store, A) == [1, 2, 3, 4, 5]
    assert refused == [(A, 1, 6)]
    assert commits == [(A, [T0 + i for i in range(1, 7)])]
    assert (w.stats.quarantined, w.stats.frames_quarantined) == (1, 1)
    with store.connection(A) as con:
        reasons = sorted(r[0] for r in con.execute("SELECT reason FROM quarantine").fetchall())
    assert reasons == ["non-positive price", "not a combined-stream frame"]
    store.close()


async def test_a_slow_store_pushes_back_instead_of_growing_memory(tmp_path):
    store = ObservedStore(tmp_path)  # each append sleeps 20 ms
    w = BatchWriter(store, lambda k: "test", batch_size=50, flush_interval_s=60, max_pending=120)
    peak = 0
    for i in range(1, 601):
        w.add(tick(A, i))
        peak = max(peak, w.pending())
        if w.pending() >= w.max_pending:
            await w.wait_for_room()
    await w.flush_all()
    assert peak == 120  # never more than max_pending ticks held
    assert w.stats.full_waits > 0
    assert stored(store, A) == list(range(1, 601))
    assert w.pending() == 0
    store.close()


async def test_flush_returns_while_the_stream_keeps_flowing(tmp_path):
    store = ObservedStore(tmp_path)  # each append sleeps 20 ms
    w = BatchWriter(store, lambda k: "test", batch_size=10_000, flush_interval_s=60)
    running = True

    async def stream() -> None:
        i = 0
        while running:
            i += 1
            w.add(tick(A, i))
            await asyncio.sleep(0.0005)

    producer = asyncio.create_task(stream())
    await asyncio.sleep(0.1)
    before = w._batches[A].added  # everything queued so far must be durable after flush()
    await asyncio.wait_for(w.flush(A), 5)
    durable = stored(store, A)
    running = False
    await producer
    assert len(durable) >= before and durable == list(range(1, len(durable) + 1))
    store.close()
