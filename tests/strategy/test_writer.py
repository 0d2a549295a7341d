"""The decision-log writer: batches per symbol, writes in the background, keeps what fails."""

import time
from datetime import UTC, datetime, timedelta

from tapeflow.model.symbols import SymbolKey
from tapeflow.strategy.decision_log import Decision, read_decisions
from tapeflow.strategy.levels import LevelResult
from tapeflow.strategy.writer import DecisionWriter
from tests.strategy.recordings import XRPETH

T0 = datetime(2019, 10, 12, 12, 0, tzinfo=UTC)


def decision(key: SymbolKey, minute: int) -> Decision:
    level = LevelResult("regime", False, f"ranging: test {minute}", {"adx": 10.0 + minute})
    return Decision(key, T0 + timedelta(minutes=minute), "1m", "test", datetime.now(UTC), (level,))


def test_background_thread_writes_batches_and_close_writes_the_rest(recorded_store):
    writer = DecisionWriter(recorded_store, interval_s=0.2)
    writer.start()
    for m in range(5):
        writer.add(decision(XRPETH, m))
    deadline = time.monotonic() + 10
    while writer.written < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.written == 5 and writer.pending == 0
    writer.add(decision(XRPETH, 5))
    writer.close()  # stops the thread, writes the last one
    assert writer.written == 6
    with recorded_store.connection(XRPETH) as con:
        rows = read_decisions(con, last=10)
    assert [r["reason"] for r in rows] == [f"ranging: test {m}" for m in range(5, -1, -1)]
    assert rows[0]["levels"]["regime"]["metrics"]["adx"] == 15.0


def test_max_pending_writes_inline_and_failures_are_kept(recorded_store):
    writer = DecisionWriter(recorded_store, max_pending=3)
    for m in range(3):
        writer.add(decision(XRPETH, m))
    assert writer.written == 3  # the third add wrote the queue
    missing = SymbolKey("binance", "spot", "NOSUCHUSDT")
    writer.add(decision(missing, 0))
    assert writer.flush() == 0
    assert writer.failures == 1 and writer.pending == 1  # kept for the next attempt
