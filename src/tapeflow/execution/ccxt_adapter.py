"""The live exchange adapter: :class:`~tapeflow.execution.exchange.Exchange` over
``ccxt.async_support``.

One adapter serves one venue market with the ``trading`` capability in the registry
(:data:`tapeflow.venues.VENUES`: ``binance/spot``, ``binance/usdm``, ``bybit/spot``,
``bybit/linear``, ``hyperliquid/perp``); which ccxt class and market types it loads comes
from the venue's descriptor, not special code. Per adapter:

* **markets** are loaded with the fewest calls — only the venue's market types, no currency
  or margin-pair endpoints (Binance: ``/api/v3/exchangeInfo`` *or*
  ``/fapi/v1/exchangeInfo``, nothing signed);
* **precision**: quantities and prices go through ccxt's ``amount_to_precision`` /
  ``price_to_precision`` as strings; a quantity that is not a step multiple, or a limit
  order below the minimum notional, is refused before anything is sent; ccxt runs with
  ``number = str`` so every amount it returns is an exact decimal string;
* **retries**: network errors, timeouts, rate limits (HTTP 429/418, honouring
  ``Retry-After``) and exchange-unavailable errors (5xx, the venue's "status unknown" codes,
  :attr:`tapeflow.venues.venue.Venue.errors`) are retried with exponential backoff
  (tenacity); invalid orders, insufficient funds and authentication errors never are;
* **circuit breaker**: consecutive failures of the kind above open it
  (:mod:`tapeflow.execution.breaker`);
* **fees**: a filled (or partly filled) order whose answer carries no commission (Binance
  order queries, USD-M order and algo-order answers) gets it from the account's trades of
  that order (ccxt ``fetch_my_trades`` with ``orderId``: spot ``GET /api/v3/myTrades``,
  USD-M ``GET /fapi/v1/userTrades``), fetched once per answer;
* **no duplicate orders**: an order carries its deterministic client order id; if a send
  may have reached the exchange (timeout, 5xx, ...), the next attempt first asks for that
  client order id (Binance ``origClientOrderId``) and adopts the order it finds;
* **secrets**: API keys come from the environment only (:meth:`Credentials.from_env`);
  error messages are scrubbed of signatures and keys, and ccxt's exception (whose text
  holds the signed URL) is never chained.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async
from ccxt.base import errors as cx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from tapeflow.config.execution import BreakerSettings, RetrySettings
from tapeflow.execution.breaker import CircuitBreaker
from tapeflow.execution.errors import (
    CircuitOpenError,
    CredentialsMissing,
    DuplicateClientOrderId,
    ExchangeRequestError,
    OrderNotFound,
    OrderRejected,
    OrderStatusUnknown,
    TransientExchangeError,
    exchange_error_code,
    scrub,
)
from tapeflow.execution.markets import MarketRules, to_decimal
from tapeflow.model.orders import Balance, ExchangePosition, OrderRequest, OrderType, OrderUpdate
from tapeflow.model.records import OrderStatus
from tapeflow.model.symbols import InvalidSymbolError, SymbolKey
from tapeflow.venues import Capability, MarketSpec, Venue, require
from tapeflow.venues.errors import ErrorKind

log = logging.getLogger(__name__)
T = TypeVar("T")
ZERO = Decimal(0)


@dataclass(frozen=True)
class Credentials:
    """API credentials; never printed (``repr`` masks them).

    Attributes:
        api_key, secret: HMAC key pair (Binance, Bybit).
        wallet_address, private_key: wallet credentials (Hyperliquid).
    """

    api_key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    wallet_address: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, exchange: str, env: Mapping[str, str] | None = None) -> Credentials:
        """Read ``{EXCHANGE}_API_KEY`` / ``{EXCHANGE}_API_SECRET`` (and, for Hyperliquid,
        ``HYPERLIQUID_WALLET_ADDRESS`` / ``HYPERLIQUID_PRIVATE_KEY``) from ``env``
        (default ``os.environ``). Missing variables give None fields."""
        env = os.environ if env is None else env
        prefix = re.sub(r"[^A-Z0-9]", "_", exchange.upper())
        return cls(
            api_key=env.get(f"{prefix}_API_KEY") or None,
            secret=env.get(f"{prefix}_API_SECRET") or None,
            wallet_address=env.get(f"{prefix}_WALLET_ADDRESS") or None,
            private_key=env.get(f"{prefix}_PRIVATE_KEY") or None,
        )

    def secrets(self) -> list[str]:
        """The values to scrub from any text."""
        return [v for v in (self.api_key, self.secret, self.private_key) if v]

    def ccxt_config(self) -> dict[str, str]:
        """The ccxt constructor fields that are set."""
        pairs = {
            "apiKey": self.api_key,
            "secret": self.secret,
            "walletAddress": self.wallet_address,
            "privateKey": self.private_key,
        }
        return {k: v for k, v in pairs.items() if v}

    def __repr__(self) -> str:
        present = [k for k, v in self.ccxt_config().items() if v]
        return f"Credentials({', '.join(present) or 'none'}: ***)"


_CCXT_STATUS: dict[str, OrderStatus] = {
    "open": "open",
    "closed": "filled",
    "canceled": "canceled",
    "cancelled": "canceled",
    "expired": "canceled",
    "rejected": "rejected",
}


class CcxtExchange:
    """A live venue through ccxt; see the module docstring.

    Build it with :meth:`create`. Args (of the constructor, for tests and composition):
        venue: the venue (registry descriptor).
        market: its market traded here (must have the ``trading`` capability).
        client: a configured ``ccxt.async_support`` exchange.
        retry, breaker_settings: retry and circuit-breaker parameters.
        credentials: used only to scrub their values from messages.
    """

    def __init__(
        self,
        venue: Venue,
        market: str,
        client: ccxt_async.Exchange,
        *,
        retry: RetrySettings | None = None,
        breaker_settings: BreakerSettings | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.venue = venue
        self.spec: MarketSpec = venue.require(market, Capability.TRADING)
        self.name = f"{venue.name}/{market}"
        self.client = client
        self.retry = retry or RetrySettings()
        bs = breaker_settings or BreakerSettings()
        self.breaker = CircuitBreaker(
            f"exchange {self.name}",
            failure_threshold=bs.failure_threshold,
            cooldown_s=bs.cooldown_s,
        )
        self._secrets = (credentials or Credentials()).secrets()
        self._rules: dict[SymbolKey, MarketRules] = {}
        self._by_ccxt_symbol: dict[str, SymbolKey] = {}
        self._backoff = wait_exponential(
            multiplier=self.retry.initial_wait_s,
            exp_base=self.retry.multiplier,
            max=self.retry.max_wait_s,
        )

    @classmethod
    def create(
        cls,
        exchange: str,
        market: str,
        *,
        credentials: Credentials | None = None,
        require_credentials: bool = True,
        api_base_url: str | None = None,
        timeout_ms: int = 10_000,
        retry: RetrySettings | None = None,
        breaker: BreakerSettings | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> CcxtExchange:
        """An adapter for ``exchange/market``.

        Args:
            credentials: default :meth:`Credentials.from_env` of ``exchange``.
            require_credentials: raise if none are found (live trading); False allows a
                keyless adapter for public market rules.
            api_base_url: send every API group to this scheme+host instead (e.g. a local
                test server ``http://127.0.0.1:PORT``), keeping each group's path.
            timeout_ms: per-request timeout.
            options: extra ccxt ``options`` merged over the defaults.

        Raises:
            VenueCapabilityError (a ValueError): unknown venue, or no trading on it in the
                registry (the message names the capability).
            CredentialsMissing: credentials required but absent (the message names the
                environment variables, never values).
        """
        venue = require(exchange, market, Capability.TRADING)
        spec = venue.markets[market]
        creds = credentials if credentials is not None else Credentials.from_env(exchange)
        if require_credentials and not creds.ccxt_config():
            prefix = re.sub(r"[^A-Z0-9]", "_", exchange.upper())
            names = (
                f"{prefix}_WALLET_ADDRESS and {prefix}_PRIVATE_KEY"
                if exchange == "hyperliquid"
                else f"{prefix}_API_KEY and {prefix}_API_SECRET"
            )
            raise CredentialsMissing(f"live trading on {exchange} needs {names} in the environment")
        config: dict[str, Any] = {
            **creds.ccxt_config(),
            "enableRateLimit": True,
            "timeout": timeout_ms,
            "options": {
                "fetchMarkets": {"types": list(spec.ccxt_types)},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "defaultType": spec.ccxt_default_type,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
                **(options or {}),
            },
        }
        client = getattr(ccxt_async, venue.ccxt_id)(config)
        client.number = str  # exact decimal strings, never floats
        if api_base_url is not None:
            base = api_base_url.rstrip("/")
            client.urls["api"] = _rebase(client.urls["api"], base)
        return cls(venue, market, client, retry=retry, breaker_settings=breaker, credentials=creds)

    # -- plumbing ------------------------------------------------------------------------

    def _translate(self, exc: BaseException) -> ExchangeRequestError:
        text = str(exc)
        msg = scrub(f"{self.name}: {type(exc).__name__}: {text}", self._secrets)
        code = exchange_error_code(text)
        known = self.venue.errors.classify(code, text)
        if isinstance(exc, cx.OrderNotFound) or known is ErrorKind.NOT_FOUND:
            return OrderNotFound(msg, kind="not_found", code=code)
        if known is ErrorKind.DUPLICATE:
            return DuplicateClientOrderId(msg, kind="duplicate", code=code)
        if (
            isinstance(exc, (cx.DDoSProtection, cx.RateLimitExceeded))
            or known is ErrorKind.RATE_LIMIT
        ):
            return TransientExchangeError(
                msg, kind="rate_limit", code=code, retry_after_s=self._retry_after()
            )
        if isinstance(exc, cx.RequestTimeout):
            return TransientExchangeError(msg, kind="timeout", code=code)
        if isinstance(exc, cx.ExchangeNotAvailable) or known is ErrorKind.STATUS_UNKNOWN:
            return TransientExchangeError(msg, kind="unavailable", code=code)
        if isinstance(exc, (cx.NetworkError, cx.BadResponse)):
            return TransientExchangeError(msg, kind="network", code=code)
        if isinstance(exc, cx.InsufficientFunds) or known is ErrorKind.INSUFFICIENT_FUNDS:
            return OrderRejected(msg, kind="insufficient_funds", code=code)
        if isinstance(exc, cx.AuthenticationError):
            return OrderRejected(msg, kind="auth", code=code)
        if isinstance(exc, (cx.InvalidOrder, cx.BadRequest, cx.BadSymbol)):
            return OrderRejected(msg, kind="invalid_order", code=code)
        return OrderRejected(msg, kind="rejected", code=code)

    def _retry_after(self) -> float | None:
        headers = getattr(self.client, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def _wait(self, state: RetryCallState) -> float:
        base = self._backoff(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        hint = getattr(exc, "retry_after_s", None)
        if hint:
            return max(base, min(hint, self.retry.max_retry_after_s))
        return base

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientExchangeError),
            reraise=True,
            before_sleep=self._log_retry,
        )

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.2fs",
            self.name,
            state.attempt_number,
            exc,
            state.upcoming_sleep,
        )

    async def _once(self, fn: Callable[..., Awaitable[T]], *args: Any, admitted: bool = False) -> T:
        """One request through the breaker, ccxt errors translated (never chained)."""
        if not admitted:
            self.breaker.before_call()
        try:
            result = await fn(*args)
        except cx.BaseError as exc:
            err = self._translate(exc)
        else:
            self.breaker.record_success()
            return result
        if isinstance(err, TransientExchangeError):
            self.breaker.record_failure(err.kind)
        else:
            self.breaker.record_success()  # the exchange answered; the request was bad
        raise err

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """A request with retries (transient errors only) through the breaker."""
        async for attempt in self._retrying():
            with attempt:
                return await self._once(fn, *args)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- markets -------------------------------------------------------------------------

    async def load_markets(self) -> dict[SymbolKey, MarketRules]:
        """Load the venue's markets (one exchangeInfo-style call per market type).

        Raises:
            TransientExchangeError / OrderRejected / CircuitOpenError: as for any request.
        """
        markets = await self._call(self.client.load_markets, True)
        mode = getattr(self.client, "precisionMode", 4)
        rules: dict[SymbolKey, MarketRules] = {}
        for m in markets.values():
            if self.spec.contract:
                if not (m.get("contract") and m.get("linear")):
                    continue
            elif not m.get("spot"):
                continue
            try:
                key = SymbolKey(self.venue.name, self.spec.name, m["id"])
                rules[key] = MarketRules.from_ccxt(key, m, precision_mode=mode)
            except (InvalidSymbolError, ValueError) as exc:
                log.debug("%s: market %s skipped: %s", self.name, m.get("id"), exc)
        self._rules = rules
        self._by_ccxt_symbol = {r.ccxt_symbol: k for k, r in rules.items()}
        log.info("%s: %d markets loaded", self.name, len(rules))
        return dict(rules)

    def market(self, key: SymbolKey) -> MarketRules:
        """Rules of ``key``.

        Raises:
            OrderRejected: markets not loaded, or ``key`` not a market of this venue.
        """
        rules = self._rules.get(key)
        if rules is None:
            why = "markets not loaded" if not self._rules else "unknown market"
            raise OrderRejected(f"{self.name}: {why}: {key}", kind="invalid_order")
        return rules

    # -- orders --------------------------------------------------------------------------

    def _order_args(
        self, req: OrderRequest, rules: MarketRules
    ) -> tuple[str, str, str, str | None, dict]:
        symbol = rules.ccxt_symbol
        amount = self.client.amount_to_precision(symbol, format(req.quantity, "f"))
        if Decimal(amount) != req.quantity:
            raise OrderRejected(
                f"{self.name} {req.key}: quantity {req.quantity} is not a multiple of the "
                f"step {rules.amount_step}",
                kind="invalid_order",
            )
        price = None
        if req.price is not None:
            price = self.client.price_to_precision(symbol, format(req.price, "f"))
            problem = rules.check_order(req.quantity, Decimal(price))
            if problem:
                raise OrderRejected(f"{self.name} {req.key}: {problem}", kind="invalid_order")
        params: dict[str, Any] = {"clientOrderId": req.client_order_id}
        if req.order_type.startswith("stop"):
            params["triggerPrice"] = self.client.price_to_precision(
                symbol, format(req.stop_price, "f")
            )
        if req.reduce_only and rules.contract:
            params["reduceOnly"] = True
        ccxt_type = "limit" if req.order_type in ("limit", "stop_limit") else "market"
        return symbol, ccxt_type, amount, price, params

    def _conditional(self, rules: MarketRules, order_type: OrderType | None) -> bool:
        return bool(rules.contract and order_type in ("stop_market", "stop_limit"))

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Send an order, at most once per client order id.

        Between retries, if the previous attempt may have reached the exchange, the order is
        first looked up by its client order id; if found, it is returned and nothing is
        sent. A duplicate-id rejection is answered by the same lookup.

        Raises:
            OrderRejected: invalid order, insufficient funds, auth (nothing placed).
            CircuitOpenError: the breaker was open before anything was sent.
            OrderStatusUnknown: a send may have reached the exchange and every lookup
                failed; look the order up before deciding anything.
        """
        rules = self.market(request.key)
        symbol, ccxt_type, amount, price, params = self._order_args(request, rules)
        maybe_sent = False

        async def attempt() -> tuple[Mapping[str, Any], OrderUpdate]:
            nonlocal maybe_sent
            if maybe_sent:
                found = await self._lookup(request.key, request.client_order_id, request.order_type)
                if found is not None:
                    log.warning(
                        "%s: order %s found after a failed send; not resent",
                        self.name,
                        request.client_order_id,
                    )
                    return found
            self.breaker.before_call()
            maybe_sent = True
            raw = await self._once(
                self.client.create_order,
                symbol,
                ccxt_type,
                request.side,
                amount,
                price,
                dict(params),
                admitted=True,
            )
            return raw, self._to_update(
                raw, request.key, rules, request.order_type, request.client_order_id
            )

        failure: ExchangeRequestError | CircuitOpenError
        try:
            async for retry_state in self._retrying():
                with retry_state:
                    raw, update = await attempt()
            try:
                return await self._with_trade_fees(raw, update, rules)
            except (ExchangeRequestError, CircuitOpenError) as exc:
                log.warning(
                    "%s: fees of order %s unknown (%s); left as recorded",
                    self.name,
                    update.client_order_id,
                    exc,
                )
                return update
        except DuplicateClientOrderId as exc:
            found = await self.fetch_order(
                request.key, request.client_order_id, order_type=request.order_type
            )
            if found is not None:
                return found
            failure = exc
        except (TransientExchangeError, CircuitOpenError) as exc:
            if not maybe_sent:
                raise
            failure = exc
        raise OrderStatusUnknown(
            f"{self.name}: order {request.client_order_id} may exist: {failure}",
            client_order_id=request.client_order_id,
        )

    async def _lookup(
        self, key: SymbolKey, cid: str, order_type: OrderType | None
    ) -> tuple[Mapping[str, Any], OrderUpdate] | None:
        """One lookup by client order id (no retries; transient errors propagate): the
        ccxt order and its update (fees as the answer gives them)."""
        rules = self.market(key)
        kinds = (
            [self._conditional(rules, order_type)]
            if order_type is not None or not rules.contract
            else [False, True]
        )
        for conditional in kinds:
            params: dict[str, Any] = {"clientOrderId": cid}
            if conditional:
                params["trigger"] = True
            try:
                raw = await self._once(self.client.fetch_order, "", rules.ccxt_symbol, params)
            except OrderNotFound:
                continue
            return raw, self._to_update(raw, key, rules, order_type, cid)
        return None

    async def fetch_order(
        self, key: SymbolKey, client_order_id: str, *, order_type: OrderType | None = None
    ) -> OrderUpdate | None:
        """The order with this client order id, or None if the exchange has none. Without
        ``order_type`` on a contract market, conditional (algo) orders are searched too.

        Raises:
            TransientExchangeError (after retries), CircuitOpenError, OrderRejected.
        """
        async for attempt in self._retrying():
            with attempt:
                found = await self._lookup(key, client_order_id, order_type)
        if found is None:
            return None
        return await self._with_trade_fees(*found, self.market(key))

    async def cancel_order(
        self, key: SymbolKey, client_order_id: str, *, order_type: OrderType | None = None
    ) -> OrderUpdate:
        """Cancel by client order id.

        Raises:
            OrderNotFound: no such open order. OrderRejected, TransientExchangeError.
        """
        rules = self.market(key)
        params: dict[str, Any] = {"clientOrderId": client_order_id}
        if self._conditional(rules, order_type):
            params["trigger"] = True
        raw = await self._call(self.client.cancel_order, "", rules.ccxt_symbol, params)
        update = await self._with_trade_fees(
            raw, self._to_update(raw, key, rules, order_type, client_order_id), rules
        )
        if update.status not in ("canceled", "filled"):
            # Binance's algo cancel answers only {"code": "200", "msg": "success"}
            return await self.fetch_order(key, client_order_id, order_type=order_type) or update
        return update

    async def fetch_open_orders(self, key: SymbolKey | None = None) -> list[OrderUpdate]:
        """Open orders (plain and, on contract markets, conditional), all or of one symbol."""
        symbol = self.market(key).ccxt_symbol if key is not None else None
        params = {"type": self.spec.ccxt_default_type}
        raws = list(await self._call(self.client.fetch_open_orders, symbol, None, None, params))
        if self.spec.contract:
            raws += await self._call(
                self.client.fetch_open_orders, symbol, None, None, {**params, "trigger": True}
            )
        out = []
        for raw in raws:
            okey = self._key_of(raw.get("symbol"))
            if okey is not None:
                rules = self._rules[okey]
                update = self._to_update(raw, okey, rules, None)
                out.append(await self._with_trade_fees(raw, update, rules))
        return out

    # -- account -------------------------------------------------------------------------

    async def fetch_balance(self) -> dict[str, Balance]:
        """Balances by asset (futures: margin balance = wallet + unrealized P&L)."""
        raw = await self._call(self.client.fetch_balance)
        out = {}
        for asset, total in (raw.get("total") or {}).items():
            tot = to_decimal(total)
            if tot is None:
                continue
            free = to_decimal((raw.get("free") or {}).get(asset)) or ZERO
            used = to_decimal((raw.get("used") or {}).get(asset)) or ZERO
            out[asset] = Balance(asset, free, used, tot)
        return out

    async def fetch_positions(self) -> list[ExchangePosition]:
        """Open futures positions (spot: empty)."""
        if not self.spec.contract:
            return []
        raws = await self._call(self.client.fetch_positions)
        out = []
        for p in raws:
            qty = to_decimal(p.get("contracts")) or ZERO
            key = self._key_of(p.get("symbol"))
            if key is None or qty == 0:
                continue
            out.append(
                ExchangePosition(
                    key=key,
                    direction="short" if p.get("side") == "short" else "long",
                    quantity=abs(qty),
                    entry_price=to_decimal(p.get("entryPrice")) or ZERO,
                    leverage=to_decimal(p.get("leverage")),
                    unrealized_pnl=to_decimal(p.get("unrealizedPnl")) or ZERO,
                )
            )
        return out

    async def set_leverage(self, key: SymbolKey, leverage: Decimal) -> None:
        """Set the account leverage of a futures symbol (no-op on spot)."""
        rules = self.market(key)
        if rules.contract:
            await self._call(self.client.set_leverage, int(leverage), rules.ccxt_symbol)

    # -- user-data stream ----------------------------------------------------------------

    def _listen_key_calls(self) -> tuple[Callable[..., Awaitable[Any]], ...]:
        if not self.venue.supports(self.spec.name, Capability.USER_STREAM):
            raise OrderRejected(f"{self.name}: no user-data stream", kind="invalid_order")
        events = self.venue.implementation(self.spec.name, Capability.USER_STREAM)
        return events.listen_key_methods(self.client, self.spec.name)

    async def create_listen_key(self) -> str:
        """Open a Binance user-data stream: spot ``POST /api/v3/userDataStream``, USD-M
        ``POST /fapi/v1/listenKey`` (through ccxt's implicit methods, API-key header). The
        listen key is valid for 60 minutes unless kept alive; it is secret-like (never log
        it in full).

        Raises:
            OrderRejected: not a Binance spot/USD-M venue, or the key was refused.
            TransientExchangeError (after retries), CircuitOpenError.
        """
        create, _ = self._listen_key_calls()
        answer = await self._call(create, {})
        key = answer.get("listenKey") if isinstance(answer, Mapping) else None
        if not key:
            raise OrderRejected(f"{self.name}: no listenKey in the answer", kind="rejected")
        self._secrets.append(str(key))
        return str(key)

    async def keep_alive_listen_key(self, listen_key: str) -> None:
        """Extend ``listen_key`` by 60 minutes (spot ``PUT /api/v3/userDataStream``, USD-M
        ``PUT /fapi/v1/listenKey``).

        Raises:
            as :meth:`create_listen_key` (an expired key: OrderRejected, code -1125).
        """
        _, keep = self._listen_key_calls()
        events = self.venue.implementation(self.spec.name, Capability.USER_STREAM)
        await self._call(keep, events.keep_alive_params(self.spec.name, listen_key))

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()

    # -- conversion ----------------------------------------------------------------------

    def _key_of(self, ccxt_symbol: str | None) -> SymbolKey | None:
        return self._by_ccxt_symbol.get(ccxt_symbol) if ccxt_symbol else None

    def _to_update(
        self,
        raw: Mapping[str, Any],
        key: SymbolKey,
        rules: MarketRules,
        order_type: OrderType | None,
        client_order_id: str | None = None,
    ) -> OrderUpdate:
        filled = to_decimal(raw.get("filled")) or ZERO
        average = to_decimal(raw.get("average"))
        cost = to_decimal(raw.get("cost"))
        if average is None and filled > 0 and cost:
            average = cost / filled
        status = _CCXT_STATUS.get(str(raw.get("status")), "open")
        if status == "open" and filled > 0:
            status = "partially_filled"
        trigger = to_decimal(raw.get("triggerPrice"))
        kind: OrderType = order_type or (
            (
                "stop_limit"
                if raw.get("type") in ("limit", "stop", "stop_loss_limit")
                else "stop_market"
            )
            if trigger
            else ("limit" if raw.get("type") == "limit" else "market")
        )
        if status == "filled" and filled == 0:  # a conditional order that triggered
            status = "open"
        fee, fee_asset = self._fee_in_quote(raw, rules, average)
        ts_ms = raw.get("lastUpdateTimestamp") or raw.get("timestamp")
        return OrderUpdate(
            key=key,
            client_order_id=str(raw.get("clientOrderId") or client_order_id or ""),
            exchange_order_id=str(raw["id"]) if raw.get("id") is not None else None,
            status=status,
            side=raw.get("side") or "buy",
            order_type=kind,
            quantity=to_decimal(raw.get("amount")) or filled,
            filled=filled,
            average_price=average,
            fee=fee,
            fee_asset=fee_asset,
            price=to_decimal(raw.get("price")) if kind in ("limit", "stop_limit") else None,
            stop_price=trigger,
            reduce_only=bool(raw.get("reduceOnly")),
            triggered=trigger is not None and (filled > 0 or raw.get("status") == "closed"),
            ts=datetime.fromtimestamp(int(ts_ms) / 1000, UTC) if ts_ms else datetime.now(UTC),
        )

    async def _with_trade_fees(
        self, raw: Mapping[str, Any], update: OrderUpdate, rules: MarketRules
    ) -> OrderUpdate:
        """``update`` with its fee from the account's trades of the order when it has
        filled something and the answer carried no fees (Binance order queries, USD-M order
        and algo-order answers): one ``fetch_my_trades(symbol, orderId=…)`` call (spot
        ``GET /api/v3/myTrades``, USD-M ``GET /fapi/v1/userTrades``; a conditional order's
        trades are those of its ``actualOrderId``), with retries, through the breaker.
        Commissions are summed by :meth:`_fee_in_quote` at the order's average price.

        Raises:
            TransientExchangeError (after retries), CircuitOpenError, OrderRejected.
        """
        if update.filled <= 0 or update.fee is not None:
            return update
        info = raw.get("info") or {}
        order_id = info.get("actualOrderId") or raw.get("id")
        if not order_id:
            return update
        trades = await self._call(
            self.client.fetch_my_trades, rules.ccxt_symbol, None, None, {"orderId": order_id}
        )
        fees = [fee for t in trades for fee in (t.get("fees") or [t.get("fee")]) if fee]
        fee, fee_asset = self._fee_in_quote({"fees": fees}, rules, update.average_price)
        if fee is None:
            return update
        return dataclasses.replace(update, fee=fee, fee_asset=fee_asset)

    @staticmethod
    def _fee_in_quote(
        raw: Mapping[str, Any], rules: MarketRules, average: Decimal | None
    ) -> tuple[Decimal | None, str | None]:
        """Sum of the order's fees in the quote asset: quote fees as they are, base-asset
        fees (Binance spot buys) at the average price; fees in other assets (BNB) are left
        out (their asset is returned). ``(None, None)`` when the answer carries no fees."""
        fees = raw.get("fees") or ([raw["fee"]] if raw.get("fee") else [])
        if not fees:
            return None, None
        total = ZERO
        other = None
        for f in fees:
            cost = to_decimal(f.get("cost")) or ZERO
            cur = f.get("currency")
            if cur == rules.quote or cur is None:
                total += cost
            elif cur == rules.base and average is not None:
                total += cost * average
            elif cost:
                other = cur
        return total, other or rules.quote


def _rebase(urls: Any, base: str) -> Any:
    """Every URL in ccxt's ``urls['api']`` (str or nested dict) with scheme and host
    replaced by ``base``."""
    if isinstance(urls, str):
        return re.sub(r"^https?://[^/]+", base, urls)
    if isinstance(urls, dict):
        return {k: _rebase(v, base) for k, v in urls.items()}
    return urls
