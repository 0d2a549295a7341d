"""A local Binance REST server (spot ``/api/v3``, USD-M ``/fapi/v1``) serving real trades.

Enough of the public market-data API for ccxt and for gap recovery, with Binance's
semantics:

* ``GET /api/v3/ping|time|exchangeInfo``, ``GET /fapi/v1/ping|time|exchangeInfo``:
  exchange info with real-looking filters (``PRICE_FILTER`` first, as Binance and cryptofeed
  expect; ``LOT_SIZE``, ``MARKET_LOT_SIZE``, ``NOTIONAL`` / ``MIN_NOTIONAL``, ...);
* ``GET .../historicalTrades?symbol=&fromId=&limit=``: raw trades with id ≥ ``fromId``,
  ascending, ``limit`` default 500, max 1000; without ``fromId`` the most recent ``limit``.
  Needs an ``X-MBX-APIKEY`` header (Binance security type MARKET_DATA). USD-M serves
  ``MARKET`` trades only (Binance: "insurance fund trades and ADL trades won't be
  returned");
* ``GET .../trades?symbol=&limit=``: the most recent ``limit`` trades;
* ``GET .../aggTrades?symbol=&fromId=&startTime=&endTime=&limit=``: aggregate trades built
  from the raw trades (consecutive fills of one taker at one price and time);
* errors as Binance: HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}`` etc.

Only trades that have *happened* are visible: ``clock_ms`` (e.g. the WebSocket replay's
clock) hides trades whose time is later, so REST and the stream agree like on a live
exchange.

Extension point (the execution engineer adds signed trading routes on top):
:func:`make_app` returns a plain :class:`aiohttp.web.Application` (add routes to it before
starting it), :func:`running_server` serves any app and yields its base URL, and
:func:`spot_exchange_info` / :func:`usdm_exchange_info` / :func:`symbol_filters` build the
exchangeInfo payloads.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from aiohttp import web

from tests.servers.binance_ws import RecordedTrade

QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB")

#: Filters per (market, symbol), as Binance published them in 2024 (the recordings' time).
#: PRICE_FILTER must stay first (cryptofeed reads ``filters[0]['tickSize']``).
_FILTERS: dict[tuple[str, str], list[dict]] = {
    ("spot", "BTCUSDT"): [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01000000",
            "maxPrice": "1000000.00000000",
            "tickSize": "0.01000000",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00001000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00001000",
        },
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.00000000",
            "maxQty": "83.05436778",
            "stepSize": "0.00000000",
        },
        {
            "filterType": "TRAILING_DELTA",
            "minTrailingAboveDelta": 10,
            "maxTrailingAboveDelta": 2000,
            "minTrailingBelowDelta": 10,
            "maxTrailingBelowDelta": 2000,
        },
        {
            "filterType": "PERCENT_PRICE_BY_SIDE",
            "bidMultiplierUp": "5",
            "bidMultiplierDown": "0.2",
            "askMultiplierUp": "5",
            "askMultiplierDown": "0.2",
            "avgPriceMins": 5,
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ],
    ("spot", "XRPETH"): [  # as configs/markets/binance.yaml
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.00000010",
            "maxPrice": "1000.00000000",
            "tickSize": "0.00000010",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "1.00000000",
            "maxQty": "90000000.00000000",
            "stepSize": "1.00000000",
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "0.00100000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
    ],
    ("spot", "ETHUSDT"): [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01000000",
            "maxPrice": "1000000.00000000",
            "tickSize": "0.01000000",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00010000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00010000",
        },
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.00000000",
            "maxQty": "1730.69262451",
            "stepSize": "0.00000000",
        },
        {
            "filterType": "TRAILING_DELTA",
            "minTrailingAboveDelta": 10,
            "maxTrailingAboveDelta": 2000,
            "minTrailingBelowDelta": 10,
            "maxTrailingBelowDelta": 2000,
        },
        {
            "filterType": "PERCENT_PRICE_BY_SIDE",
            "bidMultiplierUp": "5",
            "bidMultiplierDown": "0.2",
            "askMultiplierUp": "5",
            "askMultiplierDown": "0.2",
            "avgPriceMins": 5,
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ],
    ("usdm", "BTCUSDT"): [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "556.80",
            "maxPrice": "4529764",
            "tickSize": "0.10",
        },
        {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": "1.0500",
            "multiplierDown": "0.9500",
            "multiplierDecimal": "4",
        },
    ],
    ("usdm", "ETHUSDT"): [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "39.86",
            "maxPrice": "306177",
            "tickSize": "0.01",
        },
        {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "10000", "stepSize": "0.001"},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.001",
            "maxQty": "2000",
            "stepSize": "0.001",
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {"filterType": "MIN_NOTIONAL", "notional": "20"},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": "1.0500",
            "multiplierDown": "0.9500",
            "multiplierDecimal": "4",
        },
    ],
}

_USDM_PRECISION = {"BTCUSDT": (2, 3), "ETHUSDT": (2, 3)}  # pricePrecision, quantityPrecision


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTCUSDT"`` -> ``("BTC", "USDT")`` by the known quote assets.

    Raises:
        ValueError: no known quote asset ends the symbol.
    """
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"cannot split {symbol!r} into base and quote")


def symbol_filters(market: str, symbol: str) -> list[dict]:
    """Binance filters for ``symbol``: the recorded symbols' real values; other symbols
    (synthetic benchmark ones) get BTCUSDT's."""
    found = _FILTERS.get((market, symbol)) or _FILTERS[(market, "BTCUSDT")]
    return [dict(f) for f in found]


def tick_size(market: str, symbol: str) -> str:
    """The ``PRICE_FILTER`` tick size of ``symbol``."""
    return symbol_filters(market, symbol)[0]["tickSize"]


_RATE_LIMITS_SPOT = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]
_RATE_LIMITS_USDM = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def spot_symbol_info(symbol: str) -> dict:
    """One ``symbols[]`` entry of spot ``GET /api/v3/exchangeInfo``."""
    base, quote = split_symbol(symbol)
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": symbol_filters("spot", symbol),
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": [
            "EXPIRE_TAKER",
            "EXPIRE_MAKER",
            "EXPIRE_BOTH",
        ],
    }


def usdm_symbol_info(symbol: str) -> dict:
    """One ``symbols[]`` entry of USD-M ``GET /fapi/v1/exchangeInfo`` (a perpetual)."""
    base, quote = split_symbol(symbol)
    price_precision, qty_precision = _USDM_PRECISION.get(symbol, (2, 3))
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": price_precision,
        "quantityPrecision": qty_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": symbol_filters("usdm", symbol),
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def spot_exchange_info(symbols: Iterable[str], *, server_time_ms: int | None = None) -> dict:
    """Spot ``GET /api/v3/exchangeInfo`` payload for ``symbols``."""
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms if server_time_ms is not None else _now_ms(),
        "rateLimits": _RATE_LIMITS_SPOT,
        "exchangeFilters": [],
        "symbols": [spot_symbol_info(s) for s in symbols],
    }


def usdm_exchange_info(symbols: Iterable[str], *, server_time_ms: int | None = None) -> dict:
    """USD-M ``GET /fapi/v1/exchangeInfo`` payload for ``symbols``."""
    syms = list(symbols)
    assets = sorted({split_symbol(s)[1] for s in syms})
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms if server_time_ms is not None else _now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": _RATE_LIMITS_USDM,
        "exchangeFilters": [],
        "assets": [
            {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets
        ],
        "symbols": [usdm_symbol_info(s) for s in syms],
    }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- trade history --------------------------------------------------------------------------


@dataclass
class _AggTrade:
    agg_id: int
    price: str
    quantity: Decimal
    first_id: int
    last_id: int
    time_ms: int
    is_buyer_maker: bool


class TradeHistory:
    """The trades of one market and symbol, indexed for Binance's paging.

    Args:
        trades: the symbol's trades (any order; ids unique).
        market_only: serve only ``MARKET`` (or untyped) trades from the raw-trade routes,
            as Binance USD-M does.
    """

    def __init__(self, trades: Sequence[RecordedTrade], *, market_only: bool) -> None:
        ordered = sorted(trades, key=lambda t: t.trade_id)
        self.all = ordered
        self.served = [t for t in ordered if not market_only or t.trade_type in (None, "MARKET")]
        self.ids = [t.trade_id for t in self.served]
        self.times = [t.time_ms for t in self.served]
        self.aggs = _aggregate(ordered)
        self.agg_ids = [a.agg_id for a in self.aggs]
        self.agg_times = [a.time_ms for a in self.aggs]

    def visible(self, clock_ms: int | None) -> int:
        """How many served trades have happened by ``clock_ms`` (a prefix, by time)."""
        return len(self.served) if clock_ms is None else bisect.bisect_right(self.times, clock_ms)

    def visible_aggs(self, clock_ms: int | None) -> int:
        """How many aggregate trades have happened by ``clock_ms``."""
        if clock_ms is None:
            return len(self.aggs)
        return bisect.bisect_right(self.agg_times, clock_ms)


def _aggregate(trades: Sequence[RecordedTrade]) -> list[_AggTrade]:
    """Aggregate trades as Binance does: consecutive fills at one price, time and taker side
    (one taker order), ids counting up from the first trade id of the symbol."""
    out: list[_AggTrade] = []
    for t in trades:
        last = out[-1] if out else None
        if (
            last is not None
            and last.last_id + 1 == t.trade_id
            and last.price == t.price
            and last.time_ms == t.time_ms
            and last.is_buyer_maker == t.is_buyer_maker
        ):
            last.quantity += Decimal(t.quantity)
            last.last_id = t.trade_id
            continue
        base = trades[0].trade_id
        out.append(
            _AggTrade(
                agg_id=base + len(out),
                price=t.price,
                quantity=Decimal(t.quantity),
                first_id=t.trade_id,
                last_id=t.trade_id,
                time_ms=t.time_ms,
                is_buyer_maker=t.is_buyer_maker,
            )
        )
    return out


TRADES_KEY = web.AppKey("trades", dict)
CLOCK_KEY = web.AppKey("clock", object)
API_KEYS_KEY = web.AppKey("api_keys", object)
STATS_KEY = web.AppKey("stats", Counter)
SYMBOLS_KEY = web.AppKey("symbols", dict)


class BinanceError(Exception):
    """A Binance error response: HTTP ``status`` and body ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def _param_int(request: web.Request, name: str, *, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 20:
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)


def _limit(request: web.Request, *, default: int = 500, maximum: int = 1000) -> int:
    limit = _param_int(request, "limit", default=default)
    if limit is None or not 1 <= limit <= maximum:
        raise BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def _history(request: web.Request, market: str) -> TradeHistory:
    symbol = request.query.get("symbol", "")
    if not symbol:
        raise BinanceError(
            400,
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        )
    if symbol not in request.app[SYMBOLS_KEY][market]:
        raise BinanceError(400, -1121, "Invalid symbol.")
    return request.app[TRADES_KEY].get((market, symbol)) or TradeHistory([], market_only=False)


def _clock(request: web.Request) -> int | None:
    clock = request.app[CLOCK_KEY]
    return None if clock is None else int(clock())


def _raw_trade_json(t: RecordedTrade, market: str) -> dict:
    quote_qty = Decimal(t.price) * Decimal(t.quantity)
    row = {
        "id": t.trade_id,
        "price": t.price,
        "qty": t.quantity,
        "quoteQty": str(quote_qty.quantize(Decimal("1e-8")) if market == "spot" else quote_qty),
        "time": t.time_ms,
        "isBuyerMaker": t.is_buyer_maker,
    }
    if market == "spot":
        row["isBestMatch"] = True
    return row


def _check_api_key(request: web.Request) -> None:
    keys = request.app[API_KEYS_KEY]
    if keys is None:
        return
    key = request.headers.get("X-MBX-APIKEY", "")
    if not key or (keys and key not in keys):
        raise BinanceError(401, -2014, "API-key format invalid.")


def _routes(market: str, prefix: str) -> list[web.RouteDef]:
    async def ping(request: web.Request) -> web.Response:
        request.app[STATS_KEY][f"{prefix}/ping"] += 1
        return web.json_response({})

    async def server_time(request: web.Request) -> web.Response:
        request.app[STATS_KEY][f"{prefix}/time"] += 1
        return web.json_response({"serverTime": _now_ms()})

    async def exchange_info(request: web.Request) -> web.Response:
        request.app[STATS_KEY][f"{prefix}/exchangeInfo"] += 1
        symbols = request.app[SYMBOLS_KEY][market]
        wanted = request.query.get("symbol")
        if wanted is not None:
            if wanted not in symbols:
                raise BinanceError(400, -1121, "Invalid symbol.")
            symbols = [wanted]
        build = spot_exchange_info if market == "spot" else usdm_exchange_info
        return web.json_response(build(symbols))

    async def historical_trades(request: web.Request) -> web.Response:
        request.app[STATS_KEY][f"{prefix}/historicalTrades"] += 1
        _check_api_key(request)
        hist = _history(request, market)
        limit = _limit(request)
        from_id = _param_int(request, "fromId")
        end = hist.visible(_clock(request))
        if from_id is None:
            start = max(0, end - limit)
        else:
            start = bisect.bisect_left(hist.ids, from_id, 0, end)
        rows = [_raw_trade_json(t, market) for t in hist.served[start : min(end, start + limit)]]
        return web.json_response(rows)

    async def recent_trades(request: web.Request) -> web.Response:
        request.app[STATS_KEY][f"{prefix}/trades"] += 1
        hist = _history(request, market)
        limit = _limit(request)
        end = hist.visible(_clock(request))
        rows = [_raw_trade_json(t, market) for t in hist.served[max(0, end - limit) : end]]
        return web.json_response(rows)

    async def agg_trades(request: web.Request) -> web.Response:
        request.app[STATS_KEY][f"{prefix}/aggTrades"] += 1
        hist = _history(request, market)
        limit = _limit(request)
        from_id = _param_int(request, "fromId")
        start_time = _param_int(request, "startTime")
        end_time = _param_int(request, "endTime")
        end = hist.visible_aggs(_clock(request))
        if from_id is not None:
            start = bisect.bisect_left(hist.agg_ids, from_id, 0, end)
        elif start_time is not None:
            start = bisect.bisect_left(hist.agg_times, start_time, 0, end)
        else:
            start = max(0, end - limit)
        if end_time is not None:
            end = bisect.bisect_right(hist.agg_times, end_time, 0, end)
        rows = []
        for a in hist.aggs[start : min(end, start + limit)]:
            row = {
                "a": a.agg_id,
                "p": a.price,
                "q": str(a.quantity),
                "f": a.first_id,
                "l": a.last_id,
                "T": a.time_ms,
                "m": a.is_buyer_maker,
            }
            if market == "spot":
                row["M"] = True
            rows.append(row)
        return web.json_response(rows)

    return [
        web.get(f"{prefix}/ping", ping),
        web.get(f"{prefix}/time", server_time),
        web.get(f"{prefix}/exchangeInfo", exchange_info),
        web.get(f"{prefix}/historicalTrades", historical_trades),
        web.get(f"{prefix}/trades", recent_trades),
        web.get(f"{prefix}/aggTrades", agg_trades),
    ]


@web.middleware
async def _binance_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except BinanceError as exc:
        return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)


def make_app(
    *,
    trades_by_symbol: Mapping[tuple[str, str], Sequence[RecordedTrade]] | None = None,
    symbols: Mapping[str, Iterable[str]] | None = None,
    clock_ms: Callable[[], int] | None = None,
    api_keys: Collection[str] | None = (),
) -> web.Application:
    """The Binance REST app.

    Args:
        trades_by_symbol: trades served per ``(market, SYMBOL)``, market ``"spot"`` or
            ``"usdm"``.
        symbols: extra listed symbols per market (``{"spot": ["BTCUSDT"]}``); the symbols of
            ``trades_by_symbol`` are always listed.
        clock_ms: the exchange's current time in ms; trades after it are not served yet.
            None serves every trade.
        api_keys: accepted ``X-MBX-APIKEY`` values for ``historicalTrades``; empty = any
            non-empty key; None = no key needed.

    Returns:
        An application; add routes before serving it (see :func:`running_server`).
        ``app[STATS_KEY]`` counts requests per route.
    """
    trades_by_symbol = trades_by_symbol or {}
    listed: dict[str, list[str]] = {"spot": [], "usdm": []}
    for market, sym in trades_by_symbol:
        listed[market].append(sym)
    for market, syms in (symbols or {}).items():
        listed[market].extend(syms)
    app = web.Application(middlewares=[_binance_errors])
    app[SYMBOLS_KEY] = {m: sorted(set(v)) for m, v in listed.items()}
    app[TRADES_KEY] = {
        k: TradeHistory(v, market_only=k[0] == "usdm") for k, v in trades_by_symbol.items()
    }
    app[CLOCK_KEY] = clock_ms
    app[API_KEYS_KEY] = None if api_keys is None else frozenset(api_keys)
    app[STATS_KEY] = Counter()
    app.add_routes(_routes("spot", "/api/v3") + _routes("usdm", "/fapi/v1"))
    return app


@asynccontextmanager
async def running_server(
    app: web.Application, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host`` (a free port by default); yields ``http://host:port``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()
