"""Raw trade history over Binance REST, through ccxt, for gap recovery.

Binance serves raw trades by id with ``GET /api/v3/historicalTrades`` (spot) and
``GET /fapi/v1/historicalTrades`` (USD-M): ``fromId`` = first id wanted, ``limit`` ≤ 1000,
ascending. Both need an API key header (security type MARKET_DATA; no signature). USD-M
returns only ``MARKET`` trades ("insurance fund trades and ADL trades won't be returned"),
so an id skipped by the answer is an id the REST API will never serve.

ccxt is imported lazily (:func:`load_ccxt`, in a worker thread): its package import loads
~200 exchange modules, seconds of CPU when bytecode caching is off, and compiling holds the
GIL, so the ingest service does it once before its feeds connect.

ccxt's ``fetch_trades`` parses prices into floats; the raw implicit endpoint methods
(``public_get_historicaltrades``, ``fapipublic_get_historicaltrades``) return the JSON as
sent, so prices and quantities stay exact strings. Network errors are retried with
exponential back-off (tenacity); other errors are reported as :class:`RestUnavailable`.
"""

from __future__ import annotations

import asyncio
import logging
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from tapeflow.venues.recovery import RangeFetch, RestTrade, RestUnavailable

log = logging.getLogger(__name__)


def _import_ccxt() -> tuple[ModuleType, ModuleType]:
    import ccxt.async_support as ccxt_async
    from ccxt.base import errors

    return ccxt_async, errors


async def load_ccxt() -> tuple[ModuleType, ModuleType]:
    """Import ccxt (``ccxt.async_support``, ``ccxt.base.errors``) in a worker thread."""
    return await asyncio.to_thread(_import_ccxt)


def point_urls(exchange: Any, base_url: str) -> None:
    """Point every REST API URL of a ccxt exchange at ``base_url``, keeping the paths
    (``https://fapi.binance.com/fapi/v1`` -> ``http://127.0.0.1:PORT/fapi/v1``)."""
    base = urlsplit(base_url)
    api = exchange.urls["api"]
    for name, url in list(api.items()):
        if isinstance(url, str):
            parts = urlsplit(url)
            path = base.path.rstrip("/") + parts.path
            api[name] = urlunsplit((base.scheme, base.netloc, path, parts.query, ""))


class TradeHistoryClient:
    """Raw trade history of one Binance market (``"spot"`` or ``"usdm"``) through ccxt; a
    :class:`~tapeflow.venues.recovery.TradeHistory`.

    Args:
        market: ``"spot"`` (ccxt ``binance``) or ``"usdm"`` (ccxt ``binanceusdm``).
        api_key: the MARKET_DATA API key, or None (then every fetch raises
            :class:`RestUnavailable`).
        base_url: replaces Binance's REST hosts (e.g. a local server), or None.
        page_limit: trades per request (≤ 1000).
        retries: attempts per request on network errors.
        rate_limit: keep ccxt's client-side rate limiter on.
        timeout_s: request timeout.
    """

    def __init__(
        self,
        market: str,
        *,
        api_key: SecretStr | None,
        base_url: str | None = None,
        page_limit: int = 1000,
        retries: int = 5,
        rate_limit: bool = True,
        timeout_s: float = 10.0,
    ) -> None:
        if market not in ("spot", "usdm"):
            raise ValueError(f"market must be 'spot' or 'usdm', got {market!r}")
        self.market = market
        self.page_limit = page_limit
        self.retries = retries
        self.requests = 0
        self._api_key = api_key
        self._base_url = base_url
        self._rate_limit = rate_limit
        self._timeout_ms = int(timeout_s * 1000)
        self._ex: Any = None
        self._errors: ModuleType | None = None
        self._call: Any = None

    async def _exchange(self) -> Any:
        if self._ex is None:
            ccxt_async, self._errors = await load_ccxt()
            cls = ccxt_async.binance if self.market == "spot" else ccxt_async.binanceusdm
            ex = cls(
                {
                    "apiKey": self._api_key.get_secret_value() if self._api_key else None,
                    "enableRateLimit": self._rate_limit,
                    "timeout": self._timeout_ms,
                    "options": {"fetchCurrencies": False, "fetchMargins": False},
                }
            )
            if self._base_url:
                point_urls(ex, self._base_url)
            self._call = (
                ex.public_get_historicaltrades
                if self.market == "spot"
                else ex.fapipublic_get_historicaltrades
            )
            self._ex = ex
        return self._ex

    async def warm_up(self) -> None:
        """Import ccxt now (:func:`load_ccxt`), before any feed connects."""
        await load_ccxt()

    async def close(self) -> None:
        """Release the HTTP session."""
        if self._ex is not None:
            await self._ex.close()

    async def _page(self, symbol: str, from_id: int, limit: int) -> list[RestTrade]:
        await self._exchange()
        errors = self._errors
        assert errors is not None  # ccxt's errors module, loaded by _exchange()
        params = {"symbol": symbol, "fromId": from_id, "limit": limit}
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(errors.NetworkError),
                stop=stop_after_attempt(self.retries),
                wait=wait_exponential(multiplier=0.2, max=10),
                reraise=True,
            ):
                with attempt:
                    self.requests += 1
                    rows = await self._call(params)
        except errors.NetworkError as exc:
            raise RestUnavailable(
                f"historicalTrades {symbol} fromId={from_id}: network error after "
                f"{self.retries} attempts: {type(exc).__name__}"
            ) from exc
        except errors.BaseError as exc:
            raise RestUnavailable(
                f"historicalTrades {symbol} fromId={from_id} refused: {type(exc).__name__}: "
                f"{str(exc)[:200]}"
            ) from exc
        try:
            return [
                RestTrade(
                    trade_id=int(r["id"]),
                    price=str(r["price"]),
                    quantity=str(r["qty"]),
                    time_ms=int(r["time"]),
                    is_buyer_maker=bool(r["isBuyerMaker"]),
                )
                for r in rows
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise RestUnavailable(
                f"historicalTrades {symbol} fromId={from_id}: unexpected answer ({exc!r})"
            ) from exc

    async def fetch_range(self, symbol: str, first_id: int, last_id: int | None) -> RangeFetch:
        """Every trade with ``first_id ≤ id ≤ last_id`` (``last_id`` None: up to the newest),
        paging by ``fromId``.

        Raises:
            RestUnavailable: no API key, a refused request, or network errors after retries.
        """
        if self._api_key is None:
            raise RestUnavailable(
                "no API key: Binance historicalTrades needs one (security type MARKET_DATA)"
            )
        out: list[RestTrade] = []
        cur = first_id
        covered = first_id - 1
        caught_up = False
        while last_id is None or cur <= last_id:
            want = self.page_limit if last_id is None else min(self.page_limit, last_id - cur + 1)
            page = await self._page(symbol, cur, want)
            page = [t for t in page if t.trade_id >= cur]  # tolerate an exchange echoing less
            if not page:
                caught_up = True
                break
            covered = max(covered, page[-1].trade_id)
            out.extend(t for t in page if last_id is None or t.trade_id <= last_id)
            if len(page) < want:
                caught_up = True
                break
            cur = page[-1].trade_id + 1
        return RangeFetch(trades=out, covered_to=covered, caught_up=caught_up)
