"""End-to-end ingest under faults, on the real Binance recordings.

Each scenario runs the real cryptofeed feeds and ccxt REST client against the local Binance
WebSocket and REST servers, then asserts that the stored trade ids equal the source ids
exactly (none missing, none doubled) and that the 1-minute candles equal the source's.
"""

from __future__ import annotations

import pytest

from tapeflow.model.events import ConnectionLost, ConnectionRestored, GapDetected
from tapeflow.model.symbols import SymbolKey
from tests.ingest.conftest import assert_exact, ingest_harness

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("session", ["aug", "jul"])
async def test_clean_replay_of_every_recorded_symbol(
    session, tape_aug, tape_jul, tmp_path, api_key_env
):
    tape = tape_aug if session == "aug" else tape_jul
    truth = tape.trades()
    async with ingest_harness(tape, tmp_path / "data", api_key_env=api_key_env) as h:
        await h.replay(speed=None)
        await h.settle()
        await h.finish()
        stored = assert_exact(h.store, truth)

    total = sum(len(v) for v in truth.values())
    svc = h.service
    assert svc.feed_stats.received == total
    assert svc.writer.stats.inserted == total
    assert svc.writer.stats.duplicates == 0
    assert svc.feed_stats.malformed == 0
    assert svc.recovery.stats.requests == 0
    assert h.rest_calls["/api/v3/historicalTrades"] + h.rest_calls["/fapi/v1/historicalTrades"] == 0
    assert all(not s.ledger and not s.quarantine for s in stored.values())
    # every tick went to the bus, per symbol
    assert h.ticks_published == {SymbolKey("binance", m, s): len(v) for (m, s), v in truth.items()}
    assert not h.events[ConnectionLost]
    assert h.status_lines and h.status_lines[-1].startswith("ingest stopped")


async def test_ws_drop_mid_stream_is_refilled_over_rest(tape_aug, tmp_path, api_key_env):
    tape = tape_aug
    truth = tape.trades()
    drop_at = tape.index_at_fraction(0.45)
    async with ingest_harness(tape, tmp_path / "data", api_key_env=api_key_env) as h:
        await h.replay(speed=60.0, on_index={drop_at: lambda: h.ws.drop(2.0)})
        await h.settle()
        await h.finish()
        stored = assert_exact(h.store, truth)

    # trades were really lost to the WebSocket and came back over REST
    lost = {(m.market, m.trade.symbol, m.trade.trade_id) for m in h.ws.unsent}
    assert len(lost) > 100
    assert h.ws.stats.dropped == 2  # the spot and the USD-M connection
    rs = h.service.recovery.stats
    assert rs.trades_recovered >= len(lost)
    assert h.rest_calls["/api/v3/historicalTrades"] > 0
    assert h.rest_calls["/fapi/v1/historicalTrades"] > 0

    # ledger: detected -> filled, covering every lost trade
    filled = {}
    for key, s in stored.items():
        assert s.ledger, f"{key}: no gap ledger entry"
        assert all(status == "filled" for _, _, status, _ in s.ledger), s.ledger
        filled[key] = [(a, b) for a, b, _, _ in s.ledger]
    for market, symbol, tid in lost:
        ranges = filled[SymbolKey("binance", market, symbol)]
        assert any(a <= tid <= b for a, b in ranges), (market, symbol, tid)

    # events: each connection lost once, restored once with exactly the ledger's ranges
    lost_events = h.events[ConnectionLost]
    restored = h.events[ConnectionRestored]
    assert sorted(e.feed for e in lost_events) == ["binance/spot", "binance/usdm"]
    assert sorted(e.feed for e in restored) == ["binance/spot", "binance/usdm"]
    event_gaps = sorted((k, a, b) for e in restored for k, a, b in e.gaps)
    ledger_gaps = sorted((k, a, b) for k, rs_ in filled.items() for a, b in rs_)
    assert event_gaps == ledger_gaps
    assert sum(e.trades_recovered for e in restored) == rs.trades_recovered
    assert len(h.events[GapDetected]) == len(ledger_gaps)
    assert h.service.feed_stats.reconnects == 2


async def test_duplicate_and_out_of_order_messages(tape_aug, tmp_path, api_key_env):
    truth = tape_aug.trades()
    tape, dups = tape_aug.with_duplicates(400, seed=11)
    tape, moved = tape.with_reordering(400, seed=12)
    assert tape.trades() == truth  # the faults carry no new trade
    async with ingest_harness(tape, tmp_path / "data", api_key_env=api_key_env) as h:
        await h.replay(speed=None)
        await h.settle()
        await h.finish()
        stored = assert_exact(h.store, truth)

    svc = h.service
    ws, rs = svc.writer.stats, svc.recovery.stats
    total = sum(len(v) for v in truth.values())
    assert svc.feed_stats.received == total + len(dups)
    # every extra copy was absorbed by the store's idempotency: the injected duplicates,
    # plus the late stream copy of any reordered trade that REST had already refilled
    assert ws.inserted + rs.trades_recovered == total
    assert ws.duplicates == len(dups) + rs.trades_recovered
    assert ws.conflicts == 0
    assert svc.tracker.late >= len(moved)
    assert svc.tracker.jumps >= 1
    assert rs.resolved_by_stream >= 1
    assert all(st == "filled" for s in stored.values() for _, _, st, _ in s.ledger)


async def test_malformed_messages_are_quarantined_and_the_stream_continues(
    tape_aug, tmp_path, api_key_env
):
    truth = tape_aug.trades()
    kinds = {"bad_json": 3, "missing_field": 3, "negative_price": 3, "garbage": 3}
    tape, injected = tape_aug.with_malformed(kinds, seed=5)
    async with ingest_harness(tape, tmp_path / "data", api_key_env=api_key_env, truth=truth) as h:
        await h.replay(speed=None)
        await h.settle()
        await h.finish()
        stored = assert_exact(h.store, truth)  # the corrupted trades came back over REST

    svc = h.service
    # the connections never dropped: bad frames do not kill the stream
    assert not h.events[ConnectionLost]
    assert svc.feed_stats.reconnects == 0
    assert svc.feed_stats.malformed == 9  # bad JSON, missing field, garbage
    assert svc.writer.stats.frames_quarantined == 9
    assert svc.writer.stats.quarantined == 3  # negative prices, refused by the store

    rows = [(key, raw, reason) for key, s in stored.items() for raw, reason, _ in s.quarantine]
    # the store keeps each distinct (record, reason) once: identical garbage frames on one
    # connection (attributed to that connection's first symbol) make one row
    garbage_conns = {i.market for i in injected if i.kind == "garbage"}
    assert len(rows) == 9 + len(garbage_conns)
    reasons = sorted(reason.split(":")[0] for _, _, reason in rows)
    assert reasons.count("non-positive price") == 3
    assert reasons.count("invalid trade payload") == 3  # missing field "p"
    assert reasons.count("not a combined-stream frame") == 3 + len(garbage_conns)
    garbage = [(k, reason) for k, raw, reason in rows if raw == "<html>502 Bad Gateway</html>"]
    assert {k.market for k, _ in garbage} == garbage_conns
    assert all("unattributed frame" in reason for _, reason in garbage)
    for inj in injected:
        if inj.kind in ("bad_json", "missing_field"):
            key = SymbolKey("binance", inj.market, inj.stream.split("@")[0].upper())
            assert any(k == key and raw == inj.payload.decode() for k, raw, _ in rows), inj
        if inj.trade_id is not None:  # its trade was lost to the stream: refilled over REST
            key = SymbolKey("binance", inj.market, inj.stream.split("@")[0].upper())
            assert any(
                a <= inj.trade_id <= b and st == "filled" for a, b, st, _ in stored[key].ledger
            ), inj
    assert all(st == "filled" for s in stored.values() for _, _, st, _ in s.ledger)
