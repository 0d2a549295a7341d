"""Binance's user-data stream for the local trading server, added to an application that
has :func:`tests.servers.binance_trading.add_trading_routes` by :func:`add_user_stream`.

Binance semantics implemented (https://developers.binance.com, "User Data Streams"):

* listen keys: spot ``POST /api/v3/userDataStream`` → ``{"listenKey": …}`` and ``PUT``
  with ``listenKey`` (form body) → ``{}``; USD-M ``POST /fapi/v1/listenKey`` and ``PUT
  /fapi/v1/listenKey`` (the key of the API key); both need only the ``X-MBX-APIKEY`` header
  (``-2014``/``-2015`` otherwise); an unknown key on ``PUT`` is ``-1125`` "This listenKey
  does not exist."; a ``POST`` while a key of that market is live returns the same key;
* websocket ``/ws/<listenKey>`` (an unknown key is refused with HTTP 400); every order
  the trading server creates or changes is pushed to the sockets of its market: spot
  ``executionReport`` (``c`` the client order id; on a cancel ``C`` the original id and
  ``x``/``X`` ``CANCELED``), USD-M ``ORDER_TRADE_UPDATE`` for plain orders and
  ``ALGO_UPDATE`` for conditional (algo) orders (``caid``, ``X`` the algo status, ``ai``
  / ``ap`` / ``aq`` of the order it triggered).

For tests: :meth:`UserStreams.drop` closes every socket at once (the events of orders that
change before the client reconnects are lost, as on a real disconnect); ``keepalives``
counts the ``PUT``s; faults injected on these paths with
:meth:`TradingState.inject <tests.servers.binance_trading.TradingState.inject>` apply.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.servers.binance_rest import BinanceError
from tests.servers.binance_trading import ServerOrder, TradingState

STREAMS_KEY = web.AppKey("user_streams", object)
_DROP = object()


@dataclass
class UserStreams:
    """Listen keys and open sockets of the local server.

    Attributes:
        keys: live listen key → market (``spot``/``usdm``).
        sockets: open sockets: ``(market, queue of outgoing events)``.
        sent: every event pushed (to at least one socket), in order.
        connections: websocket connections accepted.
    """

    state: TradingState
    keys: dict[str, str] = field(default_factory=dict)
    sockets: list[tuple[str, asyncio.Queue]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0

    def keepalives(self, market: str) -> int:
        """``PUT`` requests received for ``market``'s listen key."""
        path = "/api/v3/userDataStream" if market == "spot" else "/fapi/v1/listenKey"
        return self.state.count("PUT", path)

    def drop(self) -> None:
        """Close every open socket now (the client sees the connection end)."""
        for _, queue in self.sockets:
            queue.put_nowait(_DROP)
        self.sockets.clear()

    def push(self, o: ServerOrder) -> None:
        """Queue the event of order ``o`` for the sockets of its market."""
        event = _spot_event(o, self.state) if o.market == "spot" else _usdm_event(o, self.state)
        targets = [q for market, q in self.sockets if market == o.market]
        for queue in targets:
            queue.put_nowait(event)
        if targets:
            self.sent.append(event)


def _spot_event(o: ServerOrder, state: TradingState) -> dict[str, Any]:
    avg = o.cum_quote / o.executed if o.executed else 0
    cancel = o.status == "CANCELED"
    return {
        "e": "executionReport",
        "E": state.clock_ms(),
        "s": o.symbol,
        "c": f"web_{o.order_id}" if cancel else o.client_order_id,
        "S": o.side,
        "o": o.type,
        "f": o.time_in_force,
        "q": f"{o.quantity:.8f}",
        "p": f"{o.price:.8f}",
        "P": f"{o.stop_price:.8f}",
        "C": o.client_order_id if cancel else "",
        "x": "TRADE" if o.executed else ("CANCELED" if cancel else o.status),
        "X": o.status,
        "r": "NONE",
        "i": o.order_id,
        "l": f"{o.executed:.8f}",
        "z": f"{o.executed:.8f}",
        "L": f"{avg:.8f}",
        "n": f"{o.commission:.8f}",
        "N": o.commission_asset or None,
        "T": o.update_ms,
        "Z": f"{o.cum_quote:.8f}",
    }


def _usdm_event(o: ServerOrder, state: TradingState) -> dict[str, Any]:
    avg = o.cum_quote / o.executed if o.executed else 0
    now = state.clock_ms()
    if o.algo:
        return {
            "e": "ALGO_UPDATE",
            "T": o.update_ms,
            "E": now,
            "o": {
                "caid": o.client_order_id,
                "aid": o.order_id,
                "at": "CONDITIONAL",
                "o": o.type,
                "s": o.symbol,
                "S": o.side,
                "ps": "BOTH",
                "f": o.time_in_force,
                "q": str(o.quantity),
                "X": o.status,
                "ai": str(o.actual_order_id or ""),
                "ap": str(avg),
                "aq": str(o.executed),
                "act": "MARKET" if o.actual_order_id else "0",
                "tp": str(o.stop_price),
                "p": str(o.price),
                "V": "EXPIRE_MAKER",
                "wt": "CONTRACT_PRICE",
                "pm": "NONE",
                "cp": False,
                "pP": False,
                "R": o.reduce_only,
                "tt": o.update_ms if o.triggered else 0,
                "gtd": 0,
            },
        }
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": now,
        "T": o.update_ms,
        "o": {
            "s": o.symbol,
            "c": o.client_order_id,
            "S": o.side,
            "o": o.type,
            "f": o.time_in_force,
            "q": str(o.quantity),
            "p": str(o.price),
            "ap": str(avg),
            "sp": str(o.stop_price),
            "x": "TRADE" if o.executed else o.status,
            "X": o.status,
            "i": o.order_id,
            "l": str(o.executed),
            "z": str(o.executed),
            "L": str(avg),
            "N": o.commission_asset or "USDT",
            "n": str(o.commission),
            "T": o.update_ms,
            "R": o.reduce_only,
            "ps": "BOTH",
        },
    }


def _api_key(request: web.Request, state: TradingState) -> None:
    key = request.headers.get("X-MBX-APIKEY")
    if not key:
        raise BinanceError(401, -2014, "API-key format invalid.")
    if not hmac.compare_digest(key, state.api_key):
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def _routes(streams: UserStreams) -> list[web.RouteDef]:
    state = streams.state

    def listen_key(market: str):
        async def handler(request: web.Request) -> web.Response:
            fault = state._fault(request.method, request.path)
            if fault is not None and fault.kind == "status":
                return web.Response(status=fault.status, text="<html>Service Unavailable</html>")
            _api_key(request, state)
            params = dict(parse_qsl(await request.text(), keep_blank_values=True))
            state.requests.append((request.method, request.path, params))
            live = next((k for k, m in streams.keys.items() if m == market), None)
            if request.method == "POST":
                if live is None:
                    live = secrets.token_urlsafe(48)
                    streams.keys[live] = market
                return web.json_response({"listenKey": live})
            wanted = params.get("listenKey") if market == "spot" else live
            if not wanted or streams.keys.get(wanted) != market:
                raise BinanceError(400, -1125, "This listenKey does not exist.")
            return web.json_response({})

        return handler

    async def websocket(request: web.Request) -> web.StreamResponse:
        market = streams.keys.get(request.match_info["key"])
        if market is None:
            raise web.HTTPBadRequest(text="invalid listen key")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        queue: asyncio.Queue = asyncio.Queue()
        streams.sockets.append((market, queue))
        streams.connections += 1
        reader = asyncio.create_task(_drain(ws))
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():  # the client went away
                    getter.cancel()
                    break
                event = getter.result()
                if event is _DROP:
                    break
                await ws.send_json(event)
        finally:
            reader.cancel()
            if (market, queue) in streams.sockets:
                streams.sockets.remove((market, queue))
            await ws.close()
        return ws

    spot, usdm = listen_key("spot"), listen_key("usdm")
    return [
        web.post("/api/v3/userDataStream", spot),
        web.put("/api/v3/userDataStream", spot),
        web.post("/fapi/v1/listenKey", usdm),
        web.put("/fapi/v1/listenKey", usdm),
        web.get("/ws/{key}", websocket),
    ]


async def _drain(ws: web.WebSocketResponse) -> None:
    async for msg in ws:  # pings are answered by aiohttp; nothing else is expected
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


def add_user_stream(app: web.Application, state: TradingState) -> UserStreams:
    """Add the listen-key routes and ``/ws/<listenKey>`` to ``app``; order changes of
    ``state`` are pushed from now on. Returns the streams (for tests)."""
    streams = UserStreams(state)
    state.listeners.append(streams.push)
    app[STREAMS_KEY] = streams

    async def close_sockets(_: web.Application) -> None:
        streams.drop()

    app.on_shutdown.append(close_sockets)
    app.add_routes(_routes(streams))
    return streams
