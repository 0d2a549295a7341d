"""The cryptofeed raw-trade feeds: what they subscribe to, where they connect, and how they
hand trades and bad frames over (cryptofeed's own objects, a recording sink)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cryptofeed.defines import TRADES
from cryptofeed.symbols import Symbols

from tapeflow.config.ingest import FeedSpec
from tapeflow.venues.binance.feeds import (
    BinanceFuturesRawTrades,
    BinanceRawTrades,
    ObservedWSConn,
    build_feed,
    normalized_symbol,
)
from tapeflow.venues.binance.messages import TradePayload


class RecordingSink:
    """Collects what a feed delivers (unit-test stand-in for the ingest service)."""

    def __init__(self) -> None:
        self.trades, self.bad, self.events = [], [], []

    async def on_trade(self, trade, receipt_timestamp):
        self.trades.append(trade)

    async def on_malformed(self, conn, frame, reason, symbol):
        self.bad.append((frame, reason, symbol))

    def on_connected(self, conn, *, reconnect):
        self.events.append(("open", reconnect))

    def on_disconnected(self, conn, reason):
        self.events.append(("lost", reason))


def test_normalized_symbols():
    assert normalized_symbol("spot", "BTCUSDT") == "BTC-USDT"
    assert normalized_symbol("usdm", "ETHUSDT") == "ETH-USDT-PERP"
    assert normalized_symbol("spot", "ETHBTC") == "ETH-BTC"


@pytest.mark.parametrize(
    ("market", "cls", "base", "path"),
    [
        ("spot", BinanceRawTrades, "wss://stream.binance.com:9443", "/stream"),
        ("usdm", BinanceFuturesRawTrades, "wss://fstream.binance.com", "/market/stream"),
    ],
)
def test_feeds_subscribe_to_raw_trades_and_connect_where_told(market, cls, base, path):
    sink = RecordingSink()
    spec = FeedSpec(market=market, symbols=("BTCUSDT", "ETHUSDT"))
    feed = build_feed(spec, sink, ws_url="ws://127.0.0.1:9/x", timeout_s=60)
    assert isinstance(feed, cls)
    assert feed.subscription == {"trade": ["BTCUSDT", "ETHUSDT"]}
    (conn, _, _) = feed.connect()[0]
    assert conn.address == f"{base}{path}?streams=btcusdt@trade/ethusdt@trade"
    wrapped = feed._wrap_connection(conn)
    assert isinstance(wrapped, ObservedWSConn)
    assert wrapped.address == f"ws://127.0.0.1:9/x{path}?streams=btcusdt@trade/ethusdt@trade"
    assert wrapped.subscription == conn.subscription
    # offline symbol table: no exchangeInfo needed
    assert Symbols.get(cls.id)[0][normalized_symbol(market, "BTCUSDT")] == "BTCUSDT"
    # without an override the exchange's own address is kept
    plain = build_feed(spec, sink, ws_url=None, timeout_s=60)
    assert plain._wrap_connection(plain.connect()[0][0]).address.startswith(base)


async def test_trade_frames_become_cryptofeed_trades_with_exact_fields(tape_aug):
    sink = RecordingSink()
    feed = build_feed(
        FeedSpec(market="usdm", symbols=("BTCUSDT", "ETHUSDT")), sink, ws_url=None, timeout_s=60
    )
    frames = [m for m in tape_aug.messages if m.market == "usdm"][:50]
    for m in frames:
        await feed.message_handler(m.payload.decode(), None, 1.0)
    assert not sink.bad
    assert len(sink.trades) == 50
    for m, t in zip(frames, sink.trades, strict=True):
        assert t.symbol == normalized_symbol("usdm", m.trade.symbol)
        assert t.id == str(m.trade.trade_id)
        assert t.price == Decimal(m.trade.price) and t.amount == Decimal(m.trade.quantity)
        assert t.side == m.trade.side
        assert t.type == "MARKET"
        assert isinstance(t.raw, TradePayload) and t.raw.p == m.trade.price


async def test_bad_frames_go_to_the_sink_and_never_raise():
    sink = RecordingSink()
    feed = build_feed(
        FeedSpec(market="spot", symbols=("BTCUSDT",)), sink, ws_url=None, timeout_s=60
    )
    good = (
        '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":7,'
        '"p":"1.5","q":"2","T":1,"m":true,"M":true}}'
    )
    frames = [
        "not json",
        good.replace('"p":"1.5",', ""),
        good.replace('"1.5"', '"abc"'),
        good.replace("btcusdt@trade", "xrpusdt@trade").replace("BTCUSDT", "XRPUSDT"),
        good,
    ]
    for f in frames:
        await feed.message_handler(f, None, 1.0)
    assert [t.id for t in sink.trades] == ["7"]
    reasons = [r for _, r, _ in sink.bad]
    assert reasons[0].startswith("not a combined-stream frame")
    assert "missing required field `p`" in reasons[1]
    assert reasons[2] == "price or quantity is not a decimal number"
    assert reasons[3] == "symbol 'XRPUSDT' is not subscribed"
    assert [s for _, _, s in sink.bad] == [None, "BTCUSDT", "BTCUSDT", None]
    assert feed.callbacks[TRADES]  # the cryptofeed callback path was used
