"""Signed Binance trading endpoints for the local REST server (spot ``/api/v3``, USD-M
``/fapi``), added to :func:`tests.servers.binance_rest.make_app` by
:func:`add_trading_routes`.

Binance semantics implemented (https://developers.binance.com, "Endpoint security type"
and "SIGNED endpoint security"):

* every route here is SIGNED: the ``X-MBX-APIKEY`` header must name a known key
  (``-2014`` "API-key format invalid." / ``-2015`` "Invalid API-key, IP, or permissions for
  action.", HTTP 401), ``signature`` must be the hex HMAC-SHA256 of *totalParams* — the raw
  query string followed by the raw request body, without the ``signature`` parameter —
  keyed with the secret (``-1022`` "Signature for this request is not valid.", HTTP 400),
  and ``timestamp`` must lie within ``recvWindow`` (default 5000 ms) of the server clock
  (``-1021``);
* orders: create / query / cancel by ``orderId`` or client order id (``newClientOrderId``
  on create, ``origClientOrderId`` on query and cancel; USD-M conditional orders through
  ``/fapi/v1/algoOrder`` with ``clientAlgoId``), a client order id that is already used
  by an open order is rejected (spot ``-2010`` "Duplicate order sent.", USD-M ``-4116``
  "ClientOrderId is duplicated."), a finished order's id may be reused (as on Binance);
  filters ``LOT_SIZE``, ``PRICE_FILTER`` and ``NOTIONAL``/``MIN_NOTIONAL`` (``-1013``,
  ``-4164``), insufficient balance (``-2010``) or margin (``-2019``);
* market orders fill at once at the symbol's current price (:meth:`TradingState.set_price`);
  spot commission 0.1 % in the received asset, USD-M 0.04 % in USDT; limit orders fill
  at once only if marketable; stop orders rest until a price set by
  :meth:`TradingState.set_price` (a test-driven price, or the recorded trades a test
  replays through it) reaches their stop price (sell: at or below, buy: at or above): a
  ``STOP_LOSS``/``STOP_MARKET`` then fills at that price, a ``STOP_LOSS_LIMIT``/``STOP``
  works as a limit order from that price on; a USD-M conditional (algo) order that fills
  ends ``FINISHED`` with its ``actualOrderId``, ``executedQty`` and ``avgPrice``; one that
  cannot fill (a reduce-only stop with no position left) ends ``EXPIRED``;
* account trades (each fill the server makes is one trade, with the commission it
  charged): spot ``GET /api/v3/myTrades``, USD-M ``GET /fapi/v1/userTrades`` (by
  ``symbol``, optionally ``orderId`` — a conditional order's trades carry its
  ``actualOrderId``);
* account: spot ``/api/v3/account``; USD-M ``/fapi/v2|v3/account``, ``/fapi/v2|v3/balance``,
  ``/fapi/v2|v3/positionRisk``, ``/fapi/v1/leverageBracket``, ``POST /fapi/v1/leverage``.

Fault injection per test (:meth:`TradingState.inject`): an HTTP status (5xx, 418, 429 with
``Retry-After``) before or after the request is executed, or a hang (the client times out)
before or after execution — "after" is the lost-answer case where the order exists but the
client never hears about it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.servers.binance_rest import BinanceError, split_symbol, symbol_filters

CLIENT_ID_RULE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
SPOT_FEE = Decimal("0.001")
USDM_FEE = Decimal("0.0004")
#: Binance charges and reports commissions to 8 decimals.
COMMISSION_STEP = Decimal("1e-8")
TRADING_KEY = web.AppKey("trading_state", object)


@dataclass
class Fault:
    """One injected fault.

    Attributes:
        method, path: which requests it hits (``path`` is a prefix, ``method`` may be "*").
        kind: ``status`` (answer ``status`` without executing), ``status_after`` (execute,
            then answer ``status``), ``hang`` (sleep ``seconds`` without executing),
            ``hang_after`` (execute, then sleep — the answer is lost).
        times: how many matching requests it hits.
    """

    method: str
    path: str
    kind: str
    status: int = 503
    seconds: float = 5.0
    retry_after: int | None = None
    times: int = 1


@dataclass
class ServerOrder:
    """An order as the server keeps it."""

    market: str
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal
    stop_price: Decimal
    time_in_force: str
    reduce_only: bool
    algo: bool
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    commission_asset: str = ""
    time_ms: int = 0
    update_ms: int = 0
    triggered: bool = False
    actual_order_id: int | None = None
    realized_pnl: Decimal = Decimal(0)


@dataclass
class TradingState:
    """Accounts, orders, prices and faults of the fake exchange.

    Attributes:
        api_key, secret: the one accepted key pair.
        spot_balances: free balances per asset.
        wallet: USD-M wallet balance (USDT).
        positions: USD-M net position per symbol: ``(signed quantity, entry price)``.
        prices: current price per ``(market, symbol)`` (market orders fill there).
        requests: every request received: ``(method, path, params)``.
    """

    api_key: str = "test-api-key-0123456789"
    secret: str = "test-secret-abcdefghijklmnopqrstuvwxyz"
    spot_balances: dict[str, Decimal] = field(
        default_factory=lambda: {"USDT": Decimal(10_000), "BTC": Decimal(0), "ETH": Decimal(0)}
    )
    wallet: Decimal = Decimal(10_000)
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    prices: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    orders: list[ServerOrder] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    #: called with every order created or changed (the user-data stream pushes these)
    listeners: list[Callable[[ServerOrder], None]] = field(default_factory=list)
    recv_window_ms: int = 5000
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    _next_id: int = 1000

    def set_price(self, market: str, symbol: str, price: str | Decimal) -> None:
        """The price market orders of ``symbol`` fill at from now on; resting stop orders
        this price reaches trigger (and fill, see the module docstring)."""
        self.prices[(market, symbol)] = Decimal(price)
        _match_stops(self, market, symbol)

    def notify(self, o: ServerOrder) -> None:
        """Tell every listener that ``o`` was created or changed."""
        for listener in self.listeners:
            listener(o)

    def inject(self, method: str, path: str, kind: str, **kw: Any) -> Fault:
        """Add a :class:`Fault`; returns it (its ``times`` counts down)."""
        fault = Fault(method, path, kind, **kw)
        self.faults.append(fault)
        return fault

    def orders_with(self, client_order_id: str) -> list[ServerOrder]:
        """Every order ever created with this client order id."""
        return [o for o in self.orders if o.client_order_id == client_order_id]

    def count(self, method: str, path: str) -> int:
        """Requests received for ``method path``."""
        return sum(1 for m, p, _ in self.requests if m == method and p == path)

    def _fault(self, method: str, path: str) -> Fault | None:
        for f in self.faults:
            if f.times > 0 and f.method in ("*", method) and path.startswith(f.path):
                f.times -= 1
                return f
        return None

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id


# -- signing ---------------------------------------------------------------------------------


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` pair (Binance signs everything else, in order)."""
    sig = None
    kept = []
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            sig = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), sig


async def _verified_params(request: web.Request, state: TradingState) -> dict[str, str]:
    key = request.headers.get("X-MBX-APIKEY")
    if not key:
        raise BinanceError(401, -2014, "API-key format invalid.")
    if not hmac.compare_digest(key, state.api_key):
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    query, q_sig = _strip_signature(request.query_string)
    body, b_sig = _strip_signature(await request.text())
    signature = q_sig or b_sig
    total = query + body  # Binance: totalParams = query string concatenated with the body
    expected = hmac.new(state.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(signature.lower(), expected):
        raise BinanceError(400, -1022, "Signature for this request is not valid.")
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.update(parse_qsl(body, keep_blank_values=True))
    ts = params.get("timestamp")
    if ts is None or not ts.isdigit():
        raise BinanceError(
            400,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        )
    now = state.clock_ms()
    window = int(params.get("recvWindow", state.recv_window_ms))
    if int(ts) > now + 1000 or now - int(ts) > window:
        raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return params


def _signed(state: TradingState, execute: Callable[..., Any]):
    """Wrap a route: faults, signature check, request log, JSON answer."""

    async def handler(request: web.Request) -> web.StreamResponse:
        fault = state._fault(request.method, request.path)
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            return _fault_response(fault)
        params = await _verified_params(request, state)
        state.requests.append((request.method, request.path, params))
        result = execute(state, params)
        if fault is not None and fault.kind == "hang_after":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "status_after":
            return _fault_response(fault)
        return web.json_response(result)

    return handler


def _fault_response(fault: Fault) -> web.Response:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
    if fault.status in (418, 429):
        body = {
            "code": -1003,
            "msg": "Too many requests; current limit of IP is 1200 requests "
            "per minute. Please use the websocket for live updates to avoid polling the API.",
        }
        return web.json_response(body, status=fault.status, headers=headers)
    return web.Response(
        status=fault.status, text="<html>Service Unavailable</html>", headers=headers
    )


# -- order logic -----------------------------------------------------------------------------


def _dec(params: dict[str, str], name: str, default: str | None = None) -> Decimal | None:
    raw = params.get(name, default)
    if raw is None or raw == "":
        return None
    try:
        return Decimal(raw)
    except ArithmeticError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def _filters(market: str, symbol: str) -> dict[str, dict]:
    return {f["filterType"]: f for f in symbol_filters(market, symbol)}


def _check_filters(
    market: str, symbol: str, qty: Decimal, price: Decimal | None, ref_price: Decimal
) -> None:
    flt = _filters(market, symbol)
    lot = flt["LOT_SIZE"]
    if (
        qty < Decimal(lot["minQty"])
        or qty > Decimal(lot["maxQty"])
        or (qty % Decimal(lot["stepSize"]) != 0)
    ):
        raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
    if price is not None and price % Decimal(flt["PRICE_FILTER"]["tickSize"]) != 0:
        raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
    notional = qty * (price if price is not None else ref_price)
    if market == "spot":
        if notional < Decimal(flt["NOTIONAL"]["minNotional"]):
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
    elif notional < Decimal(flt["MIN_NOTIONAL"]["notional"]):
        raise BinanceError(
            400,
            -4164,
            f"Order's notional must be no smaller than {flt['MIN_NOTIONAL']['notional']} "
            "(unless you choose reduce only).",
        )


def _symbol(state: TradingState, market: str, params: dict[str, str]) -> str:
    symbol = params.get("symbol", "")
    if not symbol:
        raise BinanceError(
            400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    if (market, symbol) not in state.prices:
        raise BinanceError(400, -1121, "Invalid symbol.")
    return symbol


def _find(
    state: TradingState, market: str, symbol: str, params: dict[str, str], *, algo: bool = False
) -> ServerOrder:
    cid = params.get("clientAlgoId" if algo else "origClientOrderId")
    oid = params.get("algoId" if algo else "orderId")
    if cid is None and oid is None:
        raise BinanceError(
            400, -1102, "Param orderId or origClientOrderId must be sent, but both were empty/null!"
        )
    for o in reversed(state.orders):
        if o.market != market or o.symbol != symbol or o.algo != algo:
            continue
        if (cid is not None and o.client_order_id == cid) or (
            oid is not None and str(o.order_id) == oid
        ):
            return o
    raise BinanceError(400, -2013, "Order does not exist.")


def _new_order(
    state: TradingState, market: str, params: dict[str, str], *, algo: bool = False
) -> ServerOrder:
    symbol = _symbol(state, market, params)
    side = params.get("side", "")
    otype = params.get("type", "")
    if side not in ("BUY", "SELL"):
        raise BinanceError(
            400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed."
        )
    cid_key = "clientAlgoId" if algo else "newClientOrderId"
    cid = params.get(cid_key) or f"server-{state.next_id()}"
    if not CLIENT_ID_RULE.fullmatch(cid):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{cid_key}'; "
            "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )
    for o in state.orders:
        if (
            o.market == market
            and o.client_order_id == cid
            and o.status in ("NEW", "PARTIALLY_FILLED")
        ):
            if market == "spot":
                raise BinanceError(400, -2010, "Duplicate order sent.")
            raise BinanceError(400, -4116, "ClientOrderId is duplicated.")
    qty = _dec(params, "quantity")
    if qty is None:
        raise BinanceError(
            400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
        )
    price = _dec(params, "price")
    stop = _dec(params, "triggerPrice" if algo else "stopPrice")
    ref = state.prices[(market, symbol)]
    reduce_only = params.get("reduceOnly", "false").lower() == "true"
    if not reduce_only:
        _check_filters(market, symbol, qty, price, ref)
    now = state.clock_ms()
    order = ServerOrder(
        market=market,
        symbol=symbol,
        order_id=state.next_id(),
        client_order_id=cid,
        side=side,
        type=otype,
        quantity=qty,
        price=price or Decimal(0),
        stop_price=stop or Decimal(0),
        time_in_force=params.get("timeInForce", "GTC"),
        reduce_only=reduce_only,
        algo=algo,
        time_ms=now,
        update_ms=now,
    )
    marketable = otype == "MARKET" or (
        otype == "LIMIT" and ((side == "BUY" and price >= ref) or (side == "SELL" and price <= ref))
    )
    if marketable:
        fill = ref if otype == "MARKET" else (min(price, ref) if side == "BUY" else max(price, ref))
        if market == "spot":
            _fill_spot(state, order, fill)
        else:
            _fill_usdm(state, order, fill)
    state.orders.append(order)
    state.notify(order)
    return order


def _fill_spot(state: TradingState, o: ServerOrder, price: Decimal) -> None:
    base, quote = split_symbol(o.symbol)
    bal = state.spot_balances
    notional = o.quantity * price
    if o.side == "BUY":
        if bal.get(quote, Decimal(0)) < notional:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested action.")
        fee = o.quantity * SPOT_FEE  # buyer pays in the asset received
        bal[quote] -= notional
        bal[base] = bal.get(base, Decimal(0)) + o.quantity - fee
        o.commission, o.commission_asset = fee, base
    else:
        if bal.get(base, Decimal(0)) < o.quantity:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested action.")
        fee = (notional * SPOT_FEE).quantize(COMMISSION_STEP)  # charged to 8 decimals
        bal[base] -= o.quantity
        bal[quote] = bal.get(quote, Decimal(0)) + notional - fee
        o.commission, o.commission_asset = fee, quote
    o.executed, o.cum_quote, o.status = o.quantity, notional, "FILLED"


def _fill_usdm(state: TradingState, o: ServerOrder, price: Decimal) -> None:
    held, entry = state.positions.get(o.symbol, (Decimal(0), Decimal(0)))
    delta = o.quantity if o.side == "BUY" else -o.quantity
    if o.reduce_only:
        if held == 0 or (held > 0) == (delta > 0):
            raise BinanceError(400, -2022, "ReduceOnly Order is rejected.")
        if abs(delta) > abs(held):
            delta = -held
    lev = Decimal(state.leverage.get(o.symbol, 20))
    closing = min(abs(delta), abs(held)) if held and (held > 0) != (delta > 0) else Decimal(0)
    opening = abs(delta) - closing
    fee = abs(delta) * price * USDM_FEE
    used = sum(
        (abs(q) * e / Decimal(state.leverage.get(s, 20)) for s, (q, e) in state.positions.items()),
        Decimal(0),
    )
    if opening and opening * price / lev + fee > state.wallet - used:
        raise BinanceError(400, -2019, "Margin is insufficient.")
    realized = Decimal(0)
    if closing:
        realized = (price - entry) * closing * (1 if held > 0 else -1)
        held = held + (closing if held < 0 else -closing)
    if opening:
        signed = opening if delta > 0 else -opening
        entry = (
            price if held == 0 else (abs(held) * entry + opening * price) / (abs(held) + opening)
        )
        held += signed
    if held == 0:
        state.positions.pop(o.symbol, None)
    else:
        state.positions[o.symbol] = (held, entry)
    state.wallet += realized - fee
    o.executed, o.cum_quote, o.status = abs(delta), abs(delta) * price, "FILLED"
    o.commission, o.commission_asset, o.realized_pnl = fee, "USDT", realized


def _match_stops(state: TradingState, market: str, symbol: str) -> None:
    """Trigger and fill the resting stop orders of ``symbol`` at its current price."""
    price = state.prices[(market, symbol)]
    for o in list(state.orders):
        if o.market != market or o.symbol != symbol or o.status != "NEW" or not o.stop_price:
            continue
        sell = o.side == "SELL"
        if not o.triggered:
            if not ((sell and price <= o.stop_price) or (not sell and price >= o.stop_price)):
                continue
            o.triggered = True
            o.update_ms = state.clock_ms()
        limit = o.type in ("STOP_LOSS_LIMIT", "STOP")
        if limit and ((sell and price < o.price) or (not sell and price > o.price)):
            continue  # works as a limit order from now on
        fill = price if not limit else (max(price, o.price) if sell else min(price, o.price))
        try:
            if market == "spot":
                _fill_spot(state, o, fill)
            else:
                _fill_usdm(state, o, fill)
        except BinanceError:
            o.status = "EXPIRED"
        o.update_ms = state.clock_ms()
        if o.algo and o.status == "FILLED":
            o.status, o.actual_order_id = "FINISHED", state.next_id()
        state.notify(o)


def _spot_json(o: ServerOrder, *, full: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": f"{o.price:.8f}",
        "origQty": f"{o.quantity:.8f}",
        "executedQty": f"{o.executed:.8f}",
        "cummulativeQuoteQty": f"{o.cum_quote:.8f}",
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "stopPrice": f"{o.stop_price:.8f}",
        "workingTime": o.time_ms,
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "origQuoteOrderQty": "0.00000000",
    }
    if full:
        d["transactTime"] = o.update_ms
        d["fills"] = (
            [
                {
                    "price": f"{o.cum_quote / o.executed:.8f}",
                    "qty": f"{o.executed:.8f}",
                    "commission": f"{o.commission:.8f}",
                    "commissionAsset": o.commission_asset,
                    "tradeId": o.order_id,
                }
            ]
            if o.executed
            else []
        )
    else:
        d.update(
            time=o.time_ms,
            updateTime=o.update_ms,
            isWorking=o.status == "NEW",
            icebergQty="0.00000000",
        )
    return d


def _usdm_json(o: ServerOrder) -> dict[str, Any]:
    avg = o.cum_quote / o.executed if o.executed else Decimal(0)
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": str(o.price),
        "avgPrice": str(avg),
        "origQty": str(o.quantity),
        "executedQty": str(o.executed),
        "cumQty": str(o.executed),
        "cumQuote": str(o.cum_quote),
        "timeInForce": o.time_in_force,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": str(o.stop_price),
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": o.time_ms,
        "updateTime": o.update_ms,
    }


def _algo_json(o: ServerOrder) -> dict[str, Any]:
    return {
        "algoId": o.order_id,
        "clientAlgoId": o.client_order_id,
        "algoType": "CONDITIONAL",
        "orderType": o.type,
        "symbol": o.symbol,
        "side": o.side,
        "positionSide": "BOTH",
        "timeInForce": o.time_in_force,
        "quantity": str(o.quantity),
        "algoStatus": o.status,
        "triggerPrice": str(o.stop_price),
        "price": str(o.price),
        "icebergQuantity": None,
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": "CONTRACT_PRICE",
        "priceMatch": "NONE",
        "closePosition": False,
        "priceProtect": False,
        "reduceOnly": o.reduce_only,
        "createTime": o.time_ms,
        "updateTime": o.update_ms,
        "triggerTime": o.update_ms if o.triggered else 0,
        "goodTillDate": 0,
        "actualOrderId": str(o.actual_order_id or ""),
        "executedQty": str(o.executed),
        "avgPrice": str(o.cum_quote / o.executed if o.executed else Decimal(0)),
    }


def _cancel(o: ServerOrder, state: TradingState) -> None:
    if o.status not in ("NEW", "PARTIALLY_FILLED"):
        raise BinanceError(400, -2011, "Unknown order sent.")
    o.status = "CANCELED"
    o.update_ms = state.clock_ms()
    state.notify(o)


def _trades(state: TradingState, market: str, params: dict[str, str]) -> list[ServerOrder]:
    """The filled orders of ``params['symbol']`` (one trade each), optionally of one
    ``orderId`` (a conditional order's trade has its ``actualOrderId``)."""
    symbol = _symbol(state, market, params)
    oid = params.get("orderId")
    return [
        o
        for o in state.orders
        if o.market == market
        and o.symbol == symbol
        and o.executed
        and (oid is None or str(_trade_order_id(o)) == oid)
    ]


def _trade_order_id(o: ServerOrder) -> int:
    return o.actual_order_id if o.algo and o.actual_order_id else o.order_id


def _spot_trade_json(o: ServerOrder) -> dict[str, Any]:
    """A spot ``GET /api/v3/myTrades`` entry."""
    return {
        "symbol": o.symbol,
        "id": o.order_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "price": f"{o.cum_quote / o.executed:.8f}",
        "qty": f"{o.executed:.8f}",
        "quoteQty": f"{o.cum_quote:.8f}",
        "commission": f"{o.commission:.8f}",
        "commissionAsset": o.commission_asset,
        "time": o.update_ms,
        "isBuyer": o.side == "BUY",
        "isMaker": False,
        "isBestMatch": True,
    }


def _usdm_trade_json(o: ServerOrder) -> dict[str, Any]:
    """A USD-M ``GET /fapi/v1/userTrades`` entry."""
    return {
        "buyer": o.side == "BUY",
        "commission": f"{o.commission:.8f}",
        "commissionAsset": o.commission_asset,
        "id": o.order_id,
        "maker": False,
        "orderId": _trade_order_id(o),
        "price": str(o.cum_quote / o.executed),
        "qty": str(o.executed),
        "quoteQty": str(o.cum_quote),
        "realizedPnl": f"{o.realized_pnl:.8f}",
        "side": o.side,
        "positionSide": "BOTH",
        "symbol": o.symbol,
        "time": o.update_ms,
    }


# -- routes ----------------------------------------------------------------------------------


def _spot_routes(state: TradingState) -> list[web.RouteDef]:
    def create(s: TradingState, p: dict[str, str]) -> dict:
        return _spot_json(_new_order(s, "spot", p), full=True)

    def query(s: TradingState, p: dict[str, str]) -> dict:
        return _spot_json(_find(s, "spot", _symbol(s, "spot", p), p))

    def cancel(s: TradingState, p: dict[str, str]) -> dict:
        o = _find(s, "spot", _symbol(s, "spot", p), p)
        _cancel(o, s)
        return _spot_json(o)

    def open_orders(s: TradingState, p: dict[str, str]) -> list:
        sym = p.get("symbol")
        return [
            _spot_json(o)
            for o in s.orders
            if o.market == "spot" and o.status == "NEW" and (sym is None or o.symbol == sym)
        ]

    def account(s: TradingState, p: dict[str, str]) -> dict:
        locked: dict[str, Decimal] = {}
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": s.clock_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": a, "free": f"{v:.8f}", "locked": f"{locked.get(a, Decimal(0)):.8f}"}
                for a, v in sorted(s.spot_balances.items())
            ],
            "permissions": ["SPOT"],
            "uid": 1,
        }

    return [
        web.post("/api/v3/order", _signed(state, create)),
        web.get("/api/v3/order", _signed(state, query)),
        web.delete("/api/v3/order", _signed(state, cancel)),
        web.get("/api/v3/openOrders", _signed(state, open_orders)),
        web.get("/api/v3/account", _signed(state, account)),
        web.get(
            "/api/v3/myTrades",
            _signed(state, lambda s, p: [_spot_trade_json(o) for o in _trades(s, "spot", p)]),
        ),
    ]


def _usdm_routes(state: TradingState) -> list[web.RouteDef]:
    def create(s: TradingState, p: dict[str, str]) -> dict:
        return _usdm_json(_new_order(s, "usdm", p))

    def query(s: TradingState, p: dict[str, str]) -> dict:
        return _usdm_json(_find(s, "usdm", _symbol(s, "usdm", p), p))

    def cancel(s: TradingState, p: dict[str, str]) -> dict:
        o = _find(s, "usdm", _symbol(s, "usdm", p), p)
        _cancel(o, s)
        return _usdm_json(o)

    def open_orders(s: TradingState, p: dict[str, str]) -> list:
        sym = p.get("symbol")
        return [
            _usdm_json(o)
            for o in s.orders
            if o.market == "usdm"
            and not o.algo
            and o.status == "NEW"
            and (sym is None or o.symbol == sym)
        ]

    def algo_create(s: TradingState, p: dict[str, str]) -> dict:
        if p.get("algoType") != "CONDITIONAL":
            raise BinanceError(400, -1102, "Mandatory parameter 'algoType' was not sent.")
        return _algo_json(_new_order(s, "usdm", p, algo=True))

    def algo_query(s: TradingState, p: dict[str, str]) -> dict:
        return _algo_json(_find(s, "usdm", _symbol(s, "usdm", p), p, algo=True))

    def algo_cancel(s: TradingState, p: dict[str, str]) -> dict:
        o = _find(s, "usdm", _symbol(s, "usdm", p), p, algo=True)
        _cancel(o, s)
        return {
            "algoId": o.order_id,
            "clientAlgoId": o.client_order_id,
            "code": "200",
            "msg": "success",
        }

    def algo_open(s: TradingState, p: dict[str, str]) -> list:
        sym = p.get("symbol")
        return [
            _algo_json(o)
            for o in s.orders
            if o.market == "usdm"
            and o.algo
            and o.status == "NEW"
            and (sym is None or o.symbol == sym)
        ]

    def _upnl(s: TradingState, sym: str, q: Decimal, e: Decimal) -> Decimal:
        return (s.prices[("usdm", sym)] - e) * q

    def account(s: TradingState, p: dict[str, str]) -> dict:
        upnl = sum((_upnl(s, k, q, e) for k, (q, e) in s.positions.items()), Decimal(0))
        im = sum(
            (
                abs(q) * s.prices[("usdm", k)] / Decimal(s.leverage.get(k, 20))
                for k, (q, e) in s.positions.items()
            ),
            Decimal(0),
        )
        margin = s.wallet + upnl
        now = s.clock_ms()
        asset = {
            "asset": "USDT",
            "walletBalance": f"{s.wallet:.8f}",
            "unrealizedProfit": f"{upnl:.8f}",
            "marginBalance": f"{margin:.8f}",
            "maintMargin": "0.00000000",
            "initialMargin": f"{im:.8f}",
            "positionInitialMargin": f"{im:.8f}",
            "openOrderInitialMargin": "0.00000000",
            "crossWalletBalance": f"{s.wallet:.8f}",
            "crossUnPnl": f"{upnl:.8f}",
            "availableBalance": f"{margin - im:.8f}",
            "maxWithdrawAmount": f"{margin - im:.8f}",
            "updateTime": now,
            "marginAvailable": True,
        }
        return {
            "totalInitialMargin": f"{im:.8f}",
            "totalMaintMargin": "0.00000000",
            "totalWalletBalance": f"{s.wallet:.8f}",
            "totalUnrealizedProfit": f"{upnl:.8f}",
            "totalMarginBalance": f"{margin:.8f}",
            "totalPositionInitialMargin": f"{im:.8f}",
            "totalOpenOrderInitialMargin": "0.00000000",
            "totalCrossWalletBalance": f"{s.wallet:.8f}",
            "totalCrossUnPnl": f"{upnl:.8f}",
            "availableBalance": f"{margin - im:.8f}",
            "maxWithdrawAmount": f"{margin - im:.8f}",
            "assets": [asset],
            "positions": [
                {
                    "symbol": k,
                    "positionSide": "BOTH",
                    "positionAmt": str(q),
                    "unrealizedProfit": f"{_upnl(s, k, q, e):.8f}",
                    "isolatedMargin": "0",
                    "isolatedWallet": "0",
                    "notional": str(q * s.prices[("usdm", k)]),
                    "initialMargin": "0",
                    "maintMargin": "0",
                    "updateTime": now,
                }
                for k, (q, e) in s.positions.items()
            ],
        }

    def balance(s: TradingState, p: dict[str, str]) -> list:
        acct = account(s, p)
        return [
            {
                "accountAlias": "SgsR",
                "asset": "USDT",
                "balance": acct["totalWalletBalance"],
                "crossWalletBalance": acct["totalWalletBalance"],
                "crossUnPnl": acct["totalUnrealizedProfit"],
                "availableBalance": acct["availableBalance"],
                "maxWithdrawAmount": acct["maxWithdrawAmount"],
                "marginAvailable": True,
                "updateTime": s.clock_ms(),
            }
        ]

    def position_risk(s: TradingState, p: dict[str, str]) -> list:
        sym = p.get("symbol")
        out = []
        for k, (q, e) in s.positions.items():
            if sym is not None and k != sym:
                continue
            mark = s.prices[("usdm", k)]
            lev = Decimal(s.leverage.get(k, 20))
            out.append(
                {
                    "symbol": k,
                    "positionSide": "BOTH",
                    "positionAmt": str(q),
                    "entryPrice": str(e),
                    "breakEvenPrice": str(e),
                    "markPrice": str(mark),
                    "unRealizedProfit": f"{_upnl(s, k, q, e):.8f}",
                    "liquidationPrice": "0",
                    "isolatedMargin": "0",
                    "notional": str(q * mark),
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": f"{abs(q) * mark / lev:.8f}",
                    "maintMargin": "0",
                    "positionInitialMargin": f"{abs(q) * mark / lev:.8f}",
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": s.clock_ms(),
                }
            )
        return out

    def brackets(s: TradingState, p: dict[str, str]) -> list:
        syms = sorted({k for (m, k) in s.prices if m == "usdm"})
        return [
            {
                "symbol": k,
                "notionalCoef": 1.0,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": 125,
                        "notionalCap": 50000,
                        "notionalFloor": 0,
                        "maintMarginRatio": 0.004,
                        "cum": 0.0,
                    },
                    {
                        "bracket": 2,
                        "initialLeverage": 100,
                        "notionalCap": 600000,
                        "notionalFloor": 50000,
                        "maintMarginRatio": 0.005,
                        "cum": 50.0,
                    },
                ],
            }
            for k in syms
        ]

    def set_leverage(s: TradingState, p: dict[str, str]) -> dict:
        sym = _symbol(s, "usdm", p)
        lev = int(p.get("leverage", "0"))
        if not 1 <= lev <= 125:
            raise BinanceError(400, -4028, "Leverage is not valid")
        s.leverage[sym] = lev
        return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": sym}

    return [
        web.post("/fapi/v1/order", _signed(state, create)),
        web.get("/fapi/v1/order", _signed(state, query)),
        web.delete("/fapi/v1/order", _signed(state, cancel)),
        web.get("/fapi/v1/openOrders", _signed(state, open_orders)),
        web.post("/fapi/v1/algoOrder", _signed(state, algo_create)),
        web.get("/fapi/v1/algoOrder", _signed(state, algo_query)),
        web.delete("/fapi/v1/algoOrder", _signed(state, algo_cancel)),
        web.get("/fapi/v1/openAlgoOrders", _signed(state, algo_open)),
        web.get("/fapi/v2/account", _signed(state, account)),
        web.get("/fapi/v3/account", _signed(state, account)),
        web.get("/fapi/v2/balance", _signed(state, balance)),
        web.get("/fapi/v3/balance", _signed(state, balance)),
        web.get("/fapi/v2/positionRisk", _signed(state, position_risk)),
        web.get("/fapi/v3/positionRisk", _signed(state, position_risk)),
        web.get("/fapi/v1/leverageBracket", _signed(state, brackets)),
        web.post("/fapi/v1/leverage", _signed(state, set_leverage)),
        web.get(
            "/fapi/v1/userTrades",
            _signed(state, lambda s, p: [_usdm_trade_json(o) for o in _trades(s, "usdm", p)]),
        ),
    ]


def add_trading_routes(app: web.Application, state: TradingState) -> None:
    """Add the signed spot and USD-M trading routes to a :func:`make_app` application."""
    app[TRADING_KEY] = state
    app.add_routes(_spot_routes(state) + _usdm_routes(state))
