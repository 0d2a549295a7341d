"""Binance's user-data stream: where it is, and which of its events settle an order.

* **listen key**: spot ``POST``/``PUT /api/v3/userDataStream``, USD-M
  ``POST``/``PUT /fapi/v1/listenKey`` (API-key header), through ccxt's implicit methods
  (:func:`listen_key_methods`);
* **websocket**: ``<base>/ws/<listenKey>``, base :data:`WS_BASES` per market (or a
  configured one, or a local server's, :func:`ws_base`);
* **events** (:func:`order_event`): spot ``executionReport`` (client order id ``c``, or
  ``C`` — the original id — on a cancel; status ``X``), USD-M ``ORDER_TRADE_UPDATE``
  (``o.c``, ``o.X``) and ``ALGO_UPDATE`` (conditional orders: ``o.caid``, ``o.X``); an
  event whose status is in :data:`SETTLING` settles the order (:func:`settling_order`).

The stream itself (listen key keepalive, reconnects, re-sync) is execution's
:class:`tapeflow.execution.user_stream.UserStream`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

#: Binance's websocket base per market.
WS_BASES = {"spot": "wss://stream.binance.com:9443", "usdm": "wss://fstream.binance.com"}
#: Order statuses after which a resting order is looked up and booked.
SETTLING = frozenset(
    {"FILLED", "PARTIALLY_FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"}
    | {"FINISHED"}  # a USD-M conditional (algo) order that triggered and ended
)


def ws_base(market: str, configured: str | None, api_url: str | None) -> str:
    """The websocket base: ``configured``, else the ``api_url`` host (``http`` →
    ``ws``) when REST goes to a local server, else Binance's for ``market``.

    Raises:
        ValueError: no base known for ``market``.
    """
    if configured:
        return configured.rstrip("/")
    if api_url:
        return "ws" + api_url.rstrip("/").removeprefix("http")
    if market not in WS_BASES:
        raise ValueError(f"no user-data stream for market {market!r}; known: {sorted(WS_BASES)}")
    return WS_BASES[market]


def order_event(raw: bytes | str) -> tuple[str, str] | None:
    """``(client order id, status)`` of an order event, or None for any other message.

    Spot ``executionReport``: ``c`` (``C`` when it is a cancel), ``X``; USD-M
    ``ORDER_TRADE_UPDATE``: ``o.c``, ``o.X``; ``ALGO_UPDATE``: ``o.caid``, ``o.X``
    (Binance user-data stream documentation).

    Raises:
        msgspec.DecodeError: not JSON.
    """
    msg: Any = msgspec.json.decode(raw)
    if not isinstance(msg, dict):
        return None
    kind = msg.get("e")
    if kind == "executionReport":
        cid = msg.get("C") if msg.get("X") == "CANCELED" and msg.get("C") else msg.get("c")
        status = msg.get("X")
    elif kind in ("ORDER_TRADE_UPDATE", "ALGO_UPDATE"):
        o = msg.get("o")
        if not isinstance(o, dict):
            return None
        cid = o.get("caid") if kind == "ALGO_UPDATE" else o.get("c")
        status = o.get("X")
    else:
        return None
    if isinstance(cid, str) and isinstance(status, str) and cid:
        return cid, status
    return None


def settling_order(raw: bytes | str) -> str | None:
    """The client order id of an order event that ends or fills the order (status in
    :data:`SETTLING`), else None.

    Raises:
        msgspec.DecodeError: not JSON.
    """
    event = order_event(raw)
    return event[0] if event is not None and event[1] in SETTLING else None


def listen_key_methods(
    client: Any, market: str
) -> tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]]:
    """``(create, keep_alive)``: the ccxt implicit methods of ``client`` (a
    ``ccxt.async_support.binance``) that create and extend a listen key on ``market``."""
    if market == "spot":  # POST/PUT /api/v3/userDataStream (API-key header)
        return (client.publicPostUserDataStream, client.publicPutUserDataStream)
    return (client.fapiPrivatePostListenKey, client.fapiPrivatePutListenKey)


def keep_alive_params(market: str, listen_key: str) -> dict[str, str]:
    """The keepalive request's parameters: spot names the key, USD-M extends the
    account's one key."""
    return {"listenKey": listen_key} if market == "spot" else {}
