"""Benchmark: concurrent batch writes to 200 symbols through the connection pool.

Run on demand: ``.venv/bin/python tests/benchmarks/bench_pool.py``.

Each scenario runs in its own subprocess so its peak RSS is its own. The parent builds the
tick batches from a real capture and hands them over as an Arrow IPC file, so a child holds
only what the store needs (no test helpers, no parsed JSON):

* ``pool limit 200``: 200 symbols, all attached to the one pooled DuckDB instance, with
  ``TickStore``'s default settings (memory limit included);
* ``pool limit 50``: the same load forcing LRU eviction (DETACH/ATTACH) all the time;
* baseline ``naive connect``: one ``duckdb.connect(file)`` per symbol (a separate DuckDB
  instance each, default settings), the same appends through the same SQL path.

Prints ticks/s and peak RSS for each, and the ratios against the baseline. The bound the
README states: under 512 MB peak RSS with 200 symbols open under write load.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SYMBOLS = 200
ROUNDS = 30
BATCH = 1000
THREADS = 8


def make_batches():
    import pyarrow as pa
    import pyarrow.compute as pc

    from tests.store.conftest import read_capture_trades, trades_to_table
    from tests.support.paths import HFT_DIR

    base = trades_to_table(read_capture_trades(HFT_DIR / "usdm" / "btcusdt_20240808.gz"))
    base = base.slice(0, BATCH)
    first = base.column("trade_id")[0].as_py()
    out = []
    for r in range(ROUNDS):
        ids = pc.add(pc.subtract(base.column("trade_id"), first), r * BATCH + 1)
        out.append(base.set_column(0, "trade_id", ids.cast(pa.int64())))
    return out


def write_batches(path: Path) -> None:
    """The benchmark's batches, one record batch per round, as an Arrow IPC file."""
    import pyarrow as pa

    batches = make_batches()
    with pa.ipc.new_file(str(path), batches[0].schema) as writer:
        for b in batches:
            writer.write_table(b)


def read_batches(path: Path) -> list:
    import pyarrow as pa

    with pa.ipc.open_file(str(path)) as reader:
        return [pa.Table.from_batches([reader.get_batch(i)]) for i in range(ROUNDS)]


def run_pool(limit: int, batches_path: Path) -> dict:
    from tapeflow.model.symbols import SymbolKey
    from tapeflow.store import TickStore

    batches = read_batches(batches_path)
    root = Path(tempfile.mkdtemp())
    store = TickStore(root, pool_limit=limit)
    keys = [SymbolKey("binance", "usdm", f"S{i:03d}USDT") for i in range(SYMBOLS)]
    for k in keys:  # create the files first; the timed part is steady-state writing
        store.append(k, batches[0], id_space="trade")
    t0 = time.perf_counter()

    def work(r: int, k):
        return store.append(k, batches[r], id_space="trade").inserted

    inserted = 0
    with ThreadPoolExecutor(THREADS) as ex:
        for r in range(1, ROUNDS):
            inserted += sum(ex.map(lambda k, r=r: work(r, k), keys))
    elapsed = time.perf_counter() - t0
    stats = store.stats()
    store.close()
    return {
        "ticks": inserted,
        "ticks_per_s": inserted / elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "evictions": stats.evictions,
    }


def run_naive(batches_path: Path) -> dict:
    import threading

    import duckdb

    from tapeflow.store.migrations import migrate
    from tapeflow.store.ticks import append_ticks, conform

    batches = [conform(b) for b in read_batches(batches_path)]
    root = Path(tempfile.mkdtemp())
    cons, locks, max_ids = [], [], []
    for i in range(SYMBOLS):
        con = duckdb.connect(str(root / f"s{i}.duckdb"))
        migrate(con)
        _, m = append_ticks(con, batches[0], source=None, max_stored_id=None)
        cons.append(con)
        locks.append(threading.Lock())
        max_ids.append(m)
    t0 = time.perf_counter()

    def work(r: int, i: int) -> int:
        with locks[i]:
            res, max_ids[i] = append_ticks(
                cons[i], batches[r], source=None, max_stored_id=max_ids[i]
            )
        return res.inserted

    inserted = 0
    with ThreadPoolExecutor(THREADS) as ex:
        for r in range(1, ROUNDS):
            inserted += sum(ex.map(lambda i, r=r: work(r, i), range(SYMBOLS)))
    elapsed = time.perf_counter() - t0
    for con in cons:
        con.close()
    return {
        "ticks": inserted,
        "ticks_per_s": inserted / elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "evictions": 0,
    }


def main() -> None:
    if len(sys.argv) > 2:  # child process: one scenario, JSON on stdout
        kind, batches_path = sys.argv[1], Path(sys.argv[2])
        out = run_naive(batches_path) if kind == "naive" else run_pool(int(kind), batches_path)
        print(json.dumps(out))
        return
    repo = Path(__file__).resolve().parents[2]
    batches_path = Path(tempfile.mkdtemp()) / "batches.arrow"
    write_batches(batches_path)
    results = {}
    for kind, label in (
        ("naive", "baseline naive connect"),
        ("200", "pool limit 200"),
        ("50", "pool limit 50"),
    ):
        proc = subprocess.run(
            [sys.executable, __file__, kind, str(batches_path)],
            capture_output=True,
            text=True,
            cwd=repo,
            check=True,
        )
        results[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    base = results["baseline naive connect"]
    print(f"{SYMBOLS} symbols, {ROUNDS - 1} rounds x {BATCH}-tick batches, {THREADS} threads")
    print(
        f"{'scenario':26} {'ticks/s':>12} {'x baseline':>10} {'peak RSS MB':>12} "
        f"{'x baseline':>10} {'evictions':>9}"
    )
    for label, r in results.items():
        print(
            f"{label:26} {r['ticks_per_s']:12,.0f} {r['ticks_per_s'] / base['ticks_per_s']:10.2f}"
            f" {r['peak_rss_mb']:12.0f} {r['peak_rss_mb'] / base['peak_rss_mb']:10.2f}"
            f" {r['evictions']:9d}"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
