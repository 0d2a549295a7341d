"""REST trade history (real ccxt against the local Binance server) and gap recovery outcomes
in the ledger: filled, unfillable (ids REST never serves), still detected (REST unusable)."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import SecretStr

from tapeflow.ingest.ledger import missing_ranges, open_gaps
from tapeflow.ingest.recovery import GapRecovery, RecoveryOutcome, rest_table
from tapeflow.ingest.sequence import GapRequest
from tapeflow.ingest.writer import BatchWriter
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tapeflow.venues.binance.rest import TradeHistoryClient
from tapeflow.venues.recovery import RestTrade, RestUnavailable
from tests.servers.binance_rest import make_app, running_server

K = SymbolKey("binance", "usdm", "BTCUSDT")
pytestmark = pytest.mark.timeout(120)


def _client(url: str | None, *, key: str | None = "k", **kw) -> TradeHistoryClient:
    return TradeHistoryClient(
        "usdm",
        api_key=SecretStr(key) if key else None,
        base_url=url,
        rate_limit=False,
        **kw,
    )


async def test_fetch_range_pages_by_from_id_and_keeps_exact_strings(tape_aug):
    truth = tape_aug.trades()[("usdm", "BTCUSDT")]
    async with running_server(make_app(trades_by_symbol=tape_aug.trades())) as url:
        client = _client(url)
        try:
            a, b = truth[5].trade_id, truth[2504].trade_id
            got = await client.fetch_range("BTCUSDT", a, b)
            assert client.requests == 3  # 1000 + 1000 + 500
            assert [
                (t.trade_id, t.price, t.quantity, t.time_ms, t.is_buyer_maker) for t in got.trades
            ] == [
                (t.trade_id, t.price, t.quantity, t.time_ms, t.is_buyer_maker)
                for t in truth[5:2505]
            ]
            assert got.covered_to == b and not got.caught_up
            tail = await client.fetch_range("BTCUSDT", truth[-10].trade_id, None)
            assert [t.trade_id for t in tail.trades] == [t.trade_id for t in truth[-10:]]
            assert tail.caught_up
        finally:
            await client.close()


async def test_fetch_without_key_or_server_is_reported_not_raised_raw():
    client = _client(None, key=None)
    with pytest.raises(RestUnavailable, match="no API key"):
        await client.fetch_range("BTCUSDT", 1, 2)
    down = _client("http://127.0.0.1:9", retries=2)  # nothing listens on port 9
    try:
        with pytest.raises(RestUnavailable, match="network error after 2 attempts"):
            await down.fetch_range("BTCUSDT", 1, 2)
        assert down.requests == 2
    finally:
        await down.close()


def _seed(store: TickStore, trades, skip: set[int]) -> None:
    rows = [
        RestTrade(t.trade_id, t.price, t.quantity, t.time_ms, t.is_buyer_maker)
        for t in trades
        if t.trade_id not in skip
    ]
    store.append(K, rest_table(rows, market="usdm"), id_space="trade", source="seed")


def _ledger(store: TickStore):
    with store.connection(K) as con:
        return con.execute(
            "SELECT first_missing_id, last_missing_id, status, reason FROM gap_ledger ORDER BY 1"
        ).fetchall()


async def _recover(store, client, req) -> RecoveryOutcome:
    writer = BatchWriter(store, lambda k: "test")
    rec = GapRecovery(store, writer, {"usdm": client}, retry_later_s=3600)
    outcomes = []
    await rec.submit(req, lambda r, o: outcomes.append(o))
    await rec.close(5)
    return outcomes[0]


async def test_hole_is_filled_over_rest(tape_aug, tmp_path):
    trades = tape_aug.trades()[("usdm", "BTCUSDT")][:3000]
    hole = {t.trade_id for t in trades[1000:2200]}
    store = TickStore(tmp_path)
    _seed(store, trades, hole)
    a, b = min(hole), max(hole)
    async with running_server(make_app(trades_by_symbol={("usdm", "BTCUSDT"): trades})) as url:
        out = await _recover(store, _client(url), GapRequest(K, a - 50, b + 50, "test jump"))
    assert out.filled == [(a, b)] and out.recovered == len(hole)
    assert missing_ranges(store, K, trades[0].trade_id, trades[-1].trade_id) == []
    [(lo, hi, status, reason)] = _ledger(store)
    assert (lo, hi, status) == (a, b, "filled")
    assert reason == "test jump; 1200 trades fetched over REST"
    with store.connection(K) as con:  # REST rows carry the USD-M trade type and exact values
        assert con.execute("SELECT count(*) FROM ticks WHERE trade_type = 'MARKET'").fetchall()[0][
            0
        ] == len(trades)
    store.close()


async def test_ids_rest_never_serves_are_unfillable(tape_aug, tmp_path):
    trades = tape_aug.trades()[("usdm", "BTCUSDT")][:400]
    # Binance USD-M REST omits insurance-fund trades: one of them falls in the hole
    insurance = trades[210].trade_id
    served = [
        dataclasses.replace(t, trade_type="INSURANCE_FUND") if t.trade_id == insurance else t
        for t in trades
    ]
    hole = {t.trade_id for t in trades[200:220]}
    store = TickStore(tmp_path)
    _seed(store, trades, hole)
    async with running_server(make_app(trades_by_symbol={("usdm", "BTCUSDT"): served})) as url:
        out = await _recover(store, _client(url), GapRequest(K, min(hole), max(hole), "jump"))
    assert out.unfillable == [(min(hole), max(hole))] and out.recovered == 19
    assert missing_ranges(store, K, min(hole), max(hole)) == [(insurance, insurance)]
    [(_, _, status, reason)] = _ledger(store)
    assert status == "unfillable"
    assert reason.endswith(
        f"1 ids not served by REST historicalTrades (USD-M serves MARKET trades only): {insurance}"
    )
    store.close()


async def test_without_api_key_the_gap_stays_detected_for_the_next_start(tape_aug, tmp_path):
    trades = tape_aug.trades()[("usdm", "BTCUSDT")][:300]
    hole = {t.trade_id for t in trades[100:110]}
    store = TickStore(tmp_path)
    _seed(store, trades, hole)
    out = await _recover(store, _client(None, key=None), GapRequest(K, min(hole), max(hole), "j"))
    assert out.pending == [(min(hole), max(hole))]
    [(lo, hi, reason)] = open_gaps(store, K)
    assert (lo, hi) == (min(hole), max(hole))
    assert "10 ids not fetched yet (no API key" in reason
    store.close()


async def test_late_ticks_resolve_a_jump_without_rest(tape_aug, tmp_path):
    trades = tape_aug.trades()[("usdm", "BTCUSDT")][:100]
    store = TickStore(tmp_path)
    _seed(store, trades, set())  # everything arrived after all
    client = _client("http://127.0.0.1:9")
    out = await _recover(
        store, client, GapRequest(K, trades[10].trade_id, trades[20].trade_id, "jump", 0.05)
    )
    assert (out.filled, out.unfillable, out.pending) == ([], [], [])
    assert client.requests == 0 and _ledger(store) == []
    store.close()
