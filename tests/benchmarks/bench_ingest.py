"""Benchmark: live ingest of 100 symbols' real-format trade frames into the tick store.

Run on demand: ``.venv/bin/python tests/benchmarks/bench_ingest.py [--symbols 100]
[--per-symbol 2000] [--rate 50000] [--batch-size 5000] [--flush-interval 1.0]
[--write-concurrency 2] [--profile] [--skip-baselines]``.

Frames: the real Binance ``@trade`` frames of the hftbacktest captures (spot and USD-M
BTCUSDT/ETHUSDT, 2024-08-08), cloned onto ``--symbols`` symbols (half spot, half USD-M;
each clone keeps its source's real, contiguous ids, prices and quantities; only the symbol
is renamed), interleaved round-robin. The local Binance WebSocket server runs in a separate
process as the load generator (``coalesce=True``: frames due together go out in one socket
write; still one WebSocket message per trade) and stamps ``E``/``T`` with the wall clock when
it sends a frame, so latency = durable commit time (after ``TickStore.append`` returned)
minus send time.

Measured in the same run:

* **transport baseline**: a plain ``websockets`` client reading the same frames from the same
  server, without parsing: the most any consumer in this process could get;
* **store baseline**: ``TickStore.append`` of the same number of ticks in per-symbol batches
  (the size a flush makes at ``--rate``, and 2x, 4x) from 6 threads, no network;
* **ingest, as fast as possible**: the real pipeline (cryptofeed feeds -> queue -> batch
  writer -> store), server sending as fast as TCP lets it: sustained ticks/s;
* **ingest, paced** at ``--rate`` ticks/s: achieved rate and p50/p99 latency;
* where the time goes: CPU of the event-loop thread (websockets, cryptofeed, parsing, queue,
  batching) and of the other threads (``TickStore.append`` and DuckDB), per tick.

Each ingest run checks that every symbol stored exactly the ids sent (no loss, no doubles).
Goal: >= 50,000 ticks/s sustained, p99 <= 1.5 s, no loss.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import multiprocessing as mp
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tapeflow.ingest import FeedSpec, IngestService, IngestSettings  # noqa: E402
from tapeflow.ingest.records import LiveTick  # noqa: E402
from tapeflow.ingest.writer import ticks_table, tune_gil_switch_interval  # noqa: E402
from tapeflow.model.symbols import SymbolKey  # noqa: E402
from tapeflow.store import TickStore  # noqa: E402
from tests.servers.binance_ws import BinanceWsServer, Tape, TapeMessage  # noqa: E402
from tests.support.paths import HFT_DIR  # noqa: E402

SOURCES = (("spot", "btcusdt"), ("spot", "ethusdt"), ("usdm", "btcusdt"), ("usdm", "ethusdt"))


def symbol_names(n: int) -> list[tuple[str, str]]:
    """``(market, SYMBOL)`` of the benchmark symbols: half spot, half USD-M."""
    return [("spot" if i % 2 == 0 else "usdm", f"B{i:03d}USDT") for i in range(n)]


def build_tape(n_symbols: int, per_symbol: int, rate: float | None) -> Tape:
    """Round-robin frames of ``n_symbols`` clones, ``per_symbol`` each, at ``rate`` frames/s
    of exchange time (None: all at one instant, for as-fast-as-possible replays)."""
    real = Tape.from_session(HFT_DIR, "2024-08-08")
    by_source: dict[tuple[str, str], list[TapeMessage]] = {s: [] for s in SOURCES}
    for m in real.messages:
        by_source[(m.market, m.stream.split("@")[0])].append(m)
    clones = []
    for i, (market, name) in enumerate(symbol_names(n_symbols)):
        src = SOURCES[(i // 2) % 2 + (2 if market == "usdm" else 0)][1]
        frames = by_source[(market, src)]
        start = (i * 997) % max(1, len(frames) - per_symbol)  # clones differ in their window
        renames = (
            (f'"stream":"{src}@trade"'.encode(), f'"stream":"{name.lower()}@trade"'.encode()),
            (f'"s":"{src.upper()}"'.encode(), f'"s":"{name}"'.encode()),
        )
        clone = []
        for m in frames[start : start + per_symbol]:
            payload = m.payload
            for old, new in renames:
                payload = payload.replace(old, new)
            trade = dataclasses.replace(m.trade, symbol=name)
            clone.append(TapeMessage(0, market, f"{name.lower()}@trade", payload, trade))
        clones.append(clone)
    out = []
    for j in range(per_symbol):
        for clone in clones:
            if j < len(clone):
                ms = 0 if rate is None else int(len(out) * 1000 / rate)
                out.append(dataclasses.replace(clone[j], exchange_ms=ms))
    return Tape(out)


# -- the server process ------------------------------------------------------------------


def _server_main(pipe, n_symbols: int, per_symbol: int, rate: float | None) -> None:
    async def main() -> None:
        tape = build_tape(n_symbols, per_symbol, rate)
        async with BinanceWsServer(tape) as ws:
            pipe.send(("ready", ws.base_url, len(tape)))
            await asyncio.to_thread(pipe.recv)  # "go"
            await ws.wait_for_streams(tape.streams(), timeout=120)
            started, started_wall = time.perf_counter(), time.time()
            pipe.send(("started", started_wall))
            ws.start_replay(speed=None if rate is None else 1.0, stamp_now=True, coalesce=True)
            await ws.replay_finished()
            pipe.send(("done", time.perf_counter() - started, ws.stats.frames_sent, started_wall))
            await asyncio.to_thread(pipe.recv)  # "bye"

    asyncio.run(main())


class ServerProcess:
    """The WebSocket server with its tape, in a child process."""

    def __init__(self, n_symbols: int, per_symbol: int, rate: float | None) -> None:
        ctx = mp.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_server_main, args=(child, n_symbols, per_symbol, rate), daemon=True
        )
        self.proc.start()
        _, self.base_url, self.frames = self.pipe.recv()

    def go(self) -> None:
        self.pipe.send("go")

    async def started(self) -> float:
        """Wait until every stream is subscribed and the replay starts; its Unix time."""
        _, started_wall = await asyncio.to_thread(self.pipe.recv)
        return started_wall

    async def done(self) -> tuple[float, int, float]:
        """(replay seconds, frames sent, replay start as Unix time) once the tape ended."""
        _, seconds, sent, started_wall = await asyncio.to_thread(self.pipe.recv)
        return seconds, sent, started_wall

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pipe.send("bye")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


# -- phases ------------------------------------------------------------------------------


async def transport_baseline(args) -> float:
    """Frames/s a bare websockets client reads (no parsing)."""
    from websockets.asyncio.client import connect

    server = ServerProcess(args.symbols, args.per_symbol, None)
    names = symbol_names(args.symbols)
    count = 0
    first = last = 0.0

    async def read(market: str, path: str) -> None:
        nonlocal count, first, last
        streams = "/".join(f"{s.lower()}@trade" for m, s in names if m == market)
        async with connect(
            f"{server.base_url}/{market}{path}?streams={streams}", max_size=None, compression=None
        ) as c:
            async for _ in c:
                if not count:
                    first = time.perf_counter()
                count += 1
                last = time.perf_counter()
                if count == server.frames:
                    return

    readers = [
        asyncio.create_task(read("spot", "/stream")),
        asyncio.create_task(read("usdm", "/market/stream")),
    ]
    server.go()
    await server.started()
    await server.done()
    await asyncio.wait(readers, timeout=30)
    server.close()
    return count / max(last - first, 1e-9)


def store_baseline(args, batch: int) -> float:
    """Rows/s of TickStore.append with per-symbol batches of ``batch`` rows, 6 threads."""
    root = Path(tempfile.mkdtemp(prefix="bench_ingest_store_"))
    store = TickStore(root)
    keys = [SymbolKey("binance", m, s) for m, s in symbol_names(args.symbols)]
    per_key: dict[SymbolKey, list] = {}
    for k in keys:
        per_key[k] = []
        for start in range(0, args.per_symbol, batch):
            ids = range(1_000_000 + start, 1_000_000 + min(args.per_symbol, start + batch))
            ticks = [
                LiveTick(k, i, 1723161255342 + i % 1000, "61837.63", "0.002", "buy", None, 0)
                for i in ids
            ]
            per_key[k].append(ticks_table(ticks))
        store.append(k, per_key[k][0].slice(0, 0), id_space="trade")  # create the file
    started = time.perf_counter()
    rows = 0
    with ThreadPoolExecutor(6) as pool:
        for rnd in zip(*per_key.values(), strict=False):  # one batch per symbol, like a flush
            for r in pool.map(
                lambda kt: store.append(kt[0], kt[1], id_space="trade"), zip(keys, rnd, strict=True)
            ):
                rows += r.inserted
    seconds = time.perf_counter() - started
    store.close()
    shutil.rmtree(root, ignore_errors=True)
    return rows / seconds


async def ingest_run(args, rate: float | None, *, profile: bool = False) -> dict:
    """The real pipeline; returns throughput, latency percentiles, loss check."""
    server = ServerProcess(args.symbols, args.per_symbol, rate)
    root = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    store = TickStore(root)
    names = symbol_names(args.symbols)
    feeds = [
        FeedSpec(market=m, symbols=tuple(s for mm, s in names if mm == m)) for m in ("spot", "usdm")
    ]
    settings = IngestSettings(
        batch_size=args.batch_size,
        flush_interval_s=args.flush_interval,
        queue_size=args.queue_size,
        write_concurrency=args.write_concurrency,
        ws_url=server.base_url + "/{market}",
        rest_api_key_env="TAPEFLOW_BENCH_NO_KEY",
        status_interval_s=2.0,
    )
    prof = cProfile.Profile() if profile else None
    latencies: list[np.ndarray] = []
    committed = 0
    last_commit = 0.0
    first_commit = 0.0

    def on_commit(key, times, at_ms) -> None:
        nonlocal committed, last_commit, first_commit
        arr = np.asarray(times, dtype=np.int64)
        latencies.append(at_ms - arr)
        committed += len(times)
        last_commit = time.time()
        if not first_commit:
            first_commit = last_commit
            if prof:  # profile the steady state, not the start-up
                prof.enable()

    service = IngestService(feeds, settings, store, None, status=print)
    service.writer.commit_listeners.append(on_commit)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    me, child = psutil.Process(), psutil.Process(server.proc.pid)
    server.go()
    await server.started()  # ingest is up (files created, feeds subscribed): measure from here
    loop_tid = threading.get_native_id()
    threads0 = {t.id: t.user_time + t.system_time for t in me.threads()}
    cpu0 = (me.cpu_times(), child.cpu_times(), time.perf_counter())
    send_seconds, sent, replay_start = await server.done()
    deadline = time.perf_counter() + 60
    while committed < sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    if prof:
        prof.disable()
    t_me, t_child, t_wall = me.cpu_times(), child.cpu_times(), time.perf_counter() - cpu0[2]
    cpu_me = (t_me.user + t_me.system - cpu0[0].user - cpu0[0].system) / t_wall
    cpu_child = (t_child.user + t_child.system - cpu0[1].user - cpu0[1].system) / t_wall
    per_thread = {t.id: t.user_time + t.system_time - threads0.get(t.id, 0.0) for t in me.threads()}
    cpu_loop = per_thread.pop(loop_tid, 0.0) / t_wall
    cpu_threads = sum(per_thread.values()) / t_wall
    stop.set()
    await task
    server.close()
    # no loss, no doubles
    loss = 0
    for m, s in names:
        with store.connection(SymbolKey("binance", m, s)) as con:
            n, distinct, lo, hi = con.execute(
                "SELECT count(*), count(DISTINCT trade_id), min(trade_id), max(trade_id) FROM ticks"
            ).fetchall()[0]
        loss += args.per_symbol - n
        assert n == distinct == hi - lo + 1, (s, n, distinct, lo, hi)
    store.close()
    shutil.rmtree(root, ignore_errors=True)
    lat = np.concatenate(latencies) if latencies else np.zeros(1)
    result = {
        "sent": sent,
        "committed": committed,
        "loss": loss,
        "send_rate": sent / send_seconds,
        # between the first and the last durable commit (a steady stream that keeps up
        # commits at the rate it is sent); too short a window says nothing
        "rate": committed / (last_commit - first_commit)
        if last_commit - first_commit >= 2 * args.flush_interval
        else float("nan"),
        "end_to_end": committed / max(last_commit - replay_start, 1e-9),
        "p50": float(np.percentile(lat, 50)) / 1000,
        "p99": float(np.percentile(lat, 99)) / 1000,
        "max": float(lat.max()) / 1000,
        "backpressure": service.feed_stats.backpressure_waits,
        "store_waits": service.writer.stats.full_waits,
        "flushes": service.writer.stats.flushes,
        "write_s": service.writer.stats.write_seconds,
        "cpu_ingest": cpu_me,
        "cpu_loop": cpu_loop,
        "cpu_threads": cpu_threads,
        "us_per_tick_loop": cpu_loop * t_wall / max(committed, 1) * 1e6,
        "us_per_tick_threads": cpu_threads * t_wall / max(committed, 1) * 1e6,
        "cpu_server": cpu_child,
    }
    if prof:
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(25)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--per-symbol", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=50_000.0)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--flush-interval", type=float, default=1.0)
    ap.add_argument("--queue-size", type=int, default=100_000)
    ap.add_argument("--write-concurrency", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="cProfile the paced run")
    ap.add_argument("--skip-baselines", action="store_true")
    args = ap.parse_args()
    tune_gil_switch_interval()  # as ``tapeflow ingest`` does
    total = args.symbols * args.per_symbol
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (shared; figures move with it)")
    print(
        f"bench_ingest: {args.symbols} symbols x {args.per_symbol} real trade frames "
        f"= {total:,} ticks; batch {args.batch_size} / {args.flush_interval}s, "
        f"write concurrency {args.write_concurrency}, GIL switch interval "
        f"{sys.getswitchinterval() * 1000:.1f} ms"
    )
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        if not args.skip_baselines:
            transport = runner.run(transport_baseline(args))
            print(f"transport baseline (websockets client, no parsing): {transport:,.0f} frames/s")
            batch = max(1, int(args.rate / args.symbols * args.flush_interval))
            store_rate = 0.0
            for size in (batch, 2 * batch, 4 * batch):
                rate = store_baseline(args, size)
                store_rate = store_rate or rate
                print(
                    f"store baseline (TickStore.append, {size}-row batches per symbol, "
                    f"6 threads): {rate:,.0f} rows/s"
                )
        fast = runner.run(ingest_run(args, None))
        print(
            f"ingest, as fast as possible: {fast['rate']:,.0f} ticks/s sustained "
            f"(server sent {fast['send_rate']:,.0f}/s), loss {fast['loss']}, "
            f"back-pressure waits: feed {fast['backpressure']}, store {fast['store_waits']}; "
            f"flushes {fast['flushes']}, "
            f"time inside TickStore.append {fast['write_s']:.1f}s"
        )
        if not args.skip_baselines:
            print(
                f"  = {fast['rate'] / transport:.2f} x transport baseline, "
                f"{fast['rate'] / store_rate:.2f} x store baseline at the flush-sized batch"
            )
        paced = runner.run(ingest_run(args, args.rate, profile=args.profile))
        print(
            f"ingest, paced at {args.rate:,.0f} ticks/s: achieved {paced['rate']:,.0f} ticks/s "
            f"(first send -> last commit: {paced['end_to_end']:,.0f}/s) "
            f"(server sent {paced['send_rate']:,.0f}/s); latency exchange time -> durable "
            f"commit p50 {paced['p50']:.3f}s p99 {paced['p99']:.3f}s max {paced['max']:.3f}s; "
            f"loss {paced['loss']}; back-pressure waits: feed {paced['backpressure']}, "
            f"store {paced['store_waits']}; flushes {paced['flushes']}, time inside "
            f"TickStore.append {paced['write_s']:.1f}s"
        )
        for name, r in (("as fast as possible", fast), ("paced", paced)):
            print(
                f"  CPU while streaming ({name}): ingest process {r['cpu_ingest']:.0%} of a core "
                f"= event-loop thread {r['cpu_loop']:.0%} ({r['us_per_tick_loop']:.1f} us/tick: "
                f"websockets, cryptofeed, parsing, queue, batching) + other threads "
                f"{r['cpu_threads']:.0%} ({r['us_per_tick_threads']:.1f} us/tick: "
                f"TickStore.append, DuckDB); server process {r['cpu_server']:.0%}"
            )
        ok = paced["rate"] >= 50_000 and paced["p99"] <= 1.5 and paced["loss"] == 0
        print(f"goal (>= 50,000 ticks/s, p99 <= 1.5 s, no loss): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
