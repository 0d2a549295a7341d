"""The local Binance servers speak the real wire formats (checked with real clients: aiohttp,
websockets and ccxt), so the ingest tests exercise real code paths."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import ccxt.async_support as ccxt_async
import pytest
import websockets
from websockets.asyncio.client import connect

from tapeflow.venues.binance.rest import point_urls
from tests.servers.binance_rest import make_app, running_server, symbol_filters
from tests.servers.binance_ws import BinanceWsServer, Tape

KEY = {"X-MBX-APIKEY": "k"}


@pytest.fixture
async def rest(tape_aug):
    app = make_app(trades_by_symbol=tape_aug.trades())
    async with running_server(app) as url, aiohttp.ClientSession(url) as http:
        yield http


async def _get(http, path, headers=None, **params):
    async with http.get(path, params=params, headers=headers) as r:
        return r.status, await r.json()


async def test_historical_trades_pages_by_from_id_like_binance(rest, tape_aug):
    truth = tape_aug.trades()[("usdm", "BTCUSDT")]
    first = truth[0].trade_id
    status, rows = await _get(
        rest, "/fapi/v1/historicalTrades", KEY, symbol="BTCUSDT", fromId=first + 10
    )
    assert status == 200 and len(rows) == 500  # Binance's default limit
    assert [r["id"] for r in rows] == [t.trade_id for t in truth[10:510]]
    t = truth[10]
    assert rows[0] == {
        "id": t.trade_id,
        "price": t.price,
        "qty": t.quantity,
        "quoteQty": str(Decimal(t.price) * Decimal(t.quantity)),
        "time": t.time_ms,
        "isBuyerMaker": t.is_buyer_maker,
    }
    _, rows = await _get(
        rest, "/fapi/v1/historicalTrades", KEY, symbol="BTCUSDT", fromId=first, limit=1000
    )
    assert len(rows) == 1000 and rows[-1]["id"] == first + 999
    _, recent = await _get(rest, "/api/v3/historicalTrades", KEY, symbol="ETHUSDT", limit=3)
    spot_eth = tape_aug.trades()[("spot", "ETHUSDT")]
    assert [r["id"] for r in recent] == [t.trade_id for t in spot_eth[-3:]]
    assert recent[0]["isBestMatch"] is True and len(recent[0]["quoteQty"].split(".")[1]) == 8


@pytest.mark.parametrize(
    ("path", "headers", "params", "status", "code"),
    [
        ("/api/v3/historicalTrades", None, {"symbol": "BTCUSDT"}, 401, -2014),
        ("/api/v3/historicalTrades", KEY, {}, 400, -1102),
        ("/api/v3/historicalTrades", KEY, {"symbol": "DOGEUSDT"}, 400, -1121),
        ("/api/v3/historicalTrades", KEY, {"symbol": "BTCUSDT", "limit": "1001"}, 400, -1130),
        ("/fapi/v1/historicalTrades", KEY, {"symbol": "BTCUSDT", "fromId": "x1"}, 400, -1100),
        ("/fapi/v1/aggTrades", None, {"symbol": "BTCUSDT", "limit": "0"}, 400, -1130),
        ("/api/v3/exchangeInfo", None, {"symbol": "NOPEUSDT"}, 400, -1121),
    ],
)
async def test_bad_requests_get_binance_errors(rest, path, headers, params, status, code):
    got_status, body = await _get(rest, path, headers, **params)
    assert got_status == status
    assert body["code"] == code and isinstance(body["msg"], str)


async def test_agg_trades_partition_the_raw_trades(rest, tape_aug):
    truth = tape_aug.trades()[("spot", "BTCUSDT")]
    aggs, from_id = [], None
    while True:
        params = {"symbol": "BTCUSDT", "limit": 1000}
        if from_id is not None:
            params["fromId"] = from_id
        else:
            params["startTime"] = truth[0].time_ms
        _, page = await _get(rest, "/api/v3/aggTrades", **params)
        aggs += page
        if len(page) < 1000:
            break
        from_id = page[-1]["a"] + 1
    # contiguous aggregate ids; f..l ranges cover every raw id once; volumes add up exactly
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + len(aggs)))
    assert [i for a in aggs for i in range(a["f"], a["l"] + 1)] == [t.trade_id for t in truth]
    assert sum(Decimal(a["q"]) for a in aggs) == sum(Decimal(t.quantity) for t in truth)
    assert len(aggs) < len(truth)  # some fills really were aggregated


async def test_clock_hides_trades_that_have_not_happened(tape_aug):
    truth = tape_aug.trades()
    usdm = truth[("usdm", "BTCUSDT")]
    cut = usdm[100].time_ms
    app = make_app(trades_by_symbol=truth, clock_ms=lambda: cut)
    async with running_server(app) as url, aiohttp.ClientSession(url) as http:
        _, rows = await _get(
            http,
            "/fapi/v1/historicalTrades",
            KEY,
            symbol="BTCUSDT",
            fromId=usdm[0].trade_id,
            limit=1000,
        )
    assert rows and all(r["time"] <= cut for r in rows)
    assert rows[-1]["id"] == max(t.trade_id for t in usdm if t.time_ms <= cut)


def test_filters_fit_the_recorded_trades(tape_aug, tape_jul):
    for tape in (tape_aug, tape_jul):
        for (market, symbol), trades in tape.trades().items():
            price_filter, lot = symbol_filters(market, symbol)[:2]
            tick, step = Decimal(price_filter["tickSize"]), Decimal(lot["stepSize"])
            assert price_filter["filterType"] == "PRICE_FILTER" and lot["filterType"] == "LOT_SIZE"
            for t in trades[::50]:
                assert Decimal(t.price) % tick == 0, (market, symbol, t.price)
                assert Decimal(t.quantity) % step == 0, (market, symbol, t.quantity)


async def test_ccxt_loads_markets_and_reads_trades(tape_aug):
    app = make_app(trades_by_symbol=tape_aug.trades())
    async with running_server(app) as url:
        ex = ccxt_async.binance(
            {
                "options": {
                    "fetchMarkets": {"types": ["spot", "linear"]},
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                }
            }
        )
        point_urls(ex, url)
        try:
            markets = await ex.load_markets()
            assert markets["BTC/USDT"]["precision"]["price"] == 0.01
            assert markets["BTC/USDT:USDT"]["precision"]["price"] == 0.1
            assert markets["BTC/USDT:USDT"]["limits"]["cost"]["min"] == 100
            trades = await ex.fetch_trades("ETH/USDT:USDT", limit=5)  # aggTrades
            assert len(trades) == 5 and all(t["symbol"] == "ETH/USDT:USDT" for t in trades)
        finally:
            await ex.close()


async def test_ws_server_honours_url_and_live_subscriptions_and_drops(tape_aug):
    tape = Tape([m for m in tape_aug.messages if m.market == "spot"][:300])
    async with BinanceWsServer(tape) as ws:
        async with connect(ws.url("spot") + "/stream?streams=btcusdt@trade") as c:
            await c.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 7}))
            assert json.loads(await c.recv()) == {"result": None, "id": 7}
            await c.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
            assert json.loads(await c.recv()) == {
                "result": ["btcusdt@trade", "ethusdt@trade"],
                "id": 8,
            }
            ws.start_replay(speed=None)
            got = [json.loads(await c.recv()) for _ in range(len(tape))]
            assert [g["data"]["t"] for g in got] == [m.trade.trade_id for m in tape.messages]
            await ws.replay_finished()
            assert ws.drop(0.5) == 1
            with pytest.raises(websockets.ConnectionClosed):
                await c.recv()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(ws.url("spot") + "/stream?streams=btcusdt@trade")
        assert refused.value.response.status_code == 503
        await asyncio.sleep(0.6)
        async with connect(ws.url("spot") + "/stream?streams=btcusdt@trade"):
            pass  # accepted again after the outage
