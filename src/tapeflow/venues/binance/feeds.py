"""Cryptofeed feeds for Binance raw trades (``@trade``), observed and endpoint-configurable.

cryptofeed 3.x's Binance TRADES channel subscribes to ``@aggTrade`` and keeps aggregate ids.
Ingest needs the raw trade ids (contiguous per symbol, so completeness is checkable), so the
feeds here subscribe to ``<symbol>@trade`` instead and parse ``"e":"trade"`` frames:

* the trade id is Binance's raw ``t`` (id space ``"trade"``); price, quantity, trade time
  and the USD-M trade type ``X`` are kept exactly as sent;
* a frame that cannot be parsed never raises into cryptofeed (which would drop and reopen
  the connection): it goes to the sink's ``on_malformed`` with the reason;
* every WebSocket connection is wrapped to report opens (first or re-connect) and losses,
  and its address can be pointed at another base (a local test server: plain ``ws://`` is
  allowed here, which cryptofeed's own connection refuses);
* symbols are registered offline (``Symbols.set``), so no exchangeInfo request is made.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from cryptofeed.connection import AsyncConnection, WSAsyncConn
from cryptofeed.defines import BUY, SELL, TRADES
from cryptofeed.exceptions import UnsupportedSymbol
from cryptofeed.exchanges.binance import Binance
from cryptofeed.exchanges.binance_futures import BinanceFutures
from cryptofeed.feed import Feed
from cryptofeed.symbols import Symbols
from cryptofeed.types import Trade

from tapeflow.venues.binance.messages import MalformedFrame, NotATradeFrame, decode_trade_frame
from tapeflow.venues.feeds import FeedSink, FeedTarget

log = logging.getLogger(__name__)

#: Quote assets used to split native symbols into cryptofeed's ``BASE-QUOTE`` names.
QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


class ObservedWSConn(WSAsyncConn):
    """A cryptofeed WebSocket connection that reports opens and losses to a sink, and may
    connect to another address than the exchange's.

    Args:
        inner: the connection cryptofeed built (its id, subscription and options are kept).
        address: the address to connect to.
        sink: receives ``on_connected`` / ``on_disconnected``.
    """

    def __init__(self, inner: WSAsyncConn, address: str, sink: FeedSink) -> None:
        # WSAsyncConn.__init__ refuses non-wss addresses; set its fields directly instead
        AsyncConnection.__init__(self, inner.id, subscription=inner.subscription)
        self.address = address
        self.ws_kwargs = inner.ws_kwargs
        self._sink = sink
        self._opened = 0
        self._live = False

    async def _open(self) -> None:
        await super()._open()
        self._opened += 1
        self._live = True
        self._sink.on_connected(self, reconnect=self._opened > 1)

    async def close(self) -> None:
        ws = self.conn
        was_live, self._live = self._live, False
        await super().close()
        if was_live:
            code = getattr(ws, "close_code", None)
            why = getattr(ws, "close_reason", None) or ""
            reason = f"closed (code {code}{': ' + why if why else ''})" if code else "closed"
            self._sink.on_disconnected(self, reason)


if TYPE_CHECKING:
    _FeedBase = Feed  # the mixin's self is always a cryptofeed Feed
else:
    _FeedBase = object


class _RawTradesMixin(_FeedBase):
    """Shared by the spot and USD-M raw-trade feeds (mixed in before the cryptofeed class)."""

    def __init__(self, *, sink: FeedSink, ws_url: str | None = None, **kwargs) -> None:
        self._sink = sink
        self._ws_url = ws_url
        super().__init__(**kwargs)

    def _wrap_connection(self, conn: AsyncConnection) -> AsyncConnection:
        if not isinstance(conn, WSAsyncConn):
            return conn
        address = conn.address
        if self._ws_url is not None:
            base = self.address
            assert isinstance(base, str)  # one base URL per Binance market
            if not address.startswith(base):
                raise ValueError(f"{self.id}: unexpected stream address {address!r}")
            address = self._ws_url + address[len(base) :]
        return ObservedWSConn(conn, address, self._sink)

    async def message_handler(self, msg: str, conn: AsyncConnection, timestamp: float) -> None:
        """Parse a frame; trades go to the TRADES callbacks, bad frames to the sink."""
        try:
            _, p = decode_trade_frame(msg)
        except NotATradeFrame:
            # not subscribed by ingest; leave other channels to cryptofeed's own parsing
            await super().message_handler(msg, conn, timestamp)
            return
        except MalformedFrame as exc:
            await self._sink.on_malformed(conn, msg, exc.reason, exc.symbol)
            return
        try:
            trade = Trade(
                self.id,
                self.exchange_symbol_to_std_symbol(p.s),
                SELL if p.m else BUY,
                Decimal(p.q),
                Decimal(p.p),
                p.T / 1000.0,
                id=str(p.t),
                type=p.X,
                raw=p,
            )
        except InvalidOperation:
            await self._sink.on_malformed(
                conn, msg, "price or quantity is not a decimal number", p.s
            )
            return
        except UnsupportedSymbol:
            await self._sink.on_malformed(conn, msg, f"symbol {p.s!r} is not subscribed", None)
            return
        await self.callback(TRADES, trade, timestamp)


class BinanceRawTrades(_RawTradesMixin, Binance):
    """Binance spot, TRADES on raw ``@trade`` frames."""

    # a plain class attribute as in cryptofeed, whose base class declares it ``NotImplemented``
    websocket_channels = {  # type: ignore[assignment]  # noqa: RUF012
        **Binance.websocket_channels,
        TRADES: "trade",
    }


class BinanceFuturesRawTrades(_RawTradesMixin, BinanceFutures):
    """Binance USD-M futures, TRADES on raw ``@trade`` frames (routed to ``/market``)."""

    websocket_channels = {  # noqa: RUF012  (a plain class attribute, as in cryptofeed)
        **BinanceFutures.websocket_channels,
        TRADES: "trade",
    }


FEED_CLASSES: dict[str, type[Feed]] = {
    "spot": BinanceRawTrades,
    "usdm": BinanceFuturesRawTrades,
}


def normalized_symbol(market: str, symbol: str) -> str:
    """cryptofeed's name for a native symbol: ``BTC-USDT`` (spot), ``BTC-USDT-PERP`` (USD-M)."""
    name = symbol
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            name = f"{symbol[: -len(quote)]}-{quote}"
            break
    return f"{name}-PERP" if market == "usdm" else name


def register_symbols(feed_cls: type[Feed], mapping: dict[str, str]) -> None:
    """Add ``{normalized: native}`` to cryptofeed's symbol table for ``feed_cls`` (offline:
    no exchangeInfo request). Existing entries are kept."""
    known: dict[str, str] = {}
    info: dict = {}
    if Symbols.populated(feed_cls.id):
        known, info = Symbols.get(feed_cls.id)
    Symbols.set(feed_cls.id, {**known, **mapping}, info)


def build_feed(spec: FeedTarget, sink: FeedSink, *, ws_url: str | None, timeout_s: float) -> Feed:
    """The cryptofeed feed for ``spec``: TRADES on raw trades, reconnecting forever.

    Args:
        spec: the market and its native symbols (ingest's ``FeedSpec``).
        sink: receives trades (cryptofeed callback), bad frames and connection events.
        ws_url: WebSocket base address replacing the exchange's, or None.
        timeout_s: reconnect a connection silent this long (cryptofeed's watchdog).
    """
    cls = FEED_CLASSES[spec.market]
    mapping = {normalized_symbol(spec.market, s): s for s in spec.symbols}
    register_symbols(cls, mapping)
    return cls(
        symbols=list(mapping),
        channels=[TRADES],
        callbacks={TRADES: sink.on_trade},
        retries=-1,
        timeout=timeout_s,
        timeout_interval=min(30.0, timeout_s),
        sink=sink,
        ws_url=ws_url,
    )
