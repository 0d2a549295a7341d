"""REST recovery of missed trades: what a venue's trade-history client returns, and the
protocol ingest's gap recovery calls.

A venue market with the ``REST recovery`` capability has a ``rest`` module exporting
``TradeHistoryClient(market, *, api_key, base_url, page_limit, retries, rate_limit,
timeout_s)``, a :class:`TradeHistory`. Recovery by id needs an id model with contiguity
(:attr:`tapeflow.venues.venue.IdModel.contiguous`): ids are asked for by range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tapeflow.model.errors import TapeflowError


@dataclass(frozen=True, slots=True)
class RestTrade:
    """One trade from a venue's trade history (Binance ``historicalTrades``).

    Attributes:
        trade_id: trade id (in the venue's ``trade`` id space).
        price: exact decimal string.
        quantity: exact decimal string (base asset).
        time_ms: trade time, ms since the Unix epoch (UTC).
        is_buyer_maker: True when the aggressor (taker) sold.
    """

    trade_id: int
    price: str
    quantity: str
    time_ms: int
    is_buyer_maker: bool


@dataclass(frozen=True, slots=True)
class RangeFetch:
    """What REST returned for an id range.

    Attributes:
        trades: trades with ids in the asked range, ascending, each once.
        covered_to: highest id the answers reached (may exceed the range end); ids up to it
            that are not in ``trades`` are not served by the REST API. ``first - 1`` if
            nothing was returned.
        caught_up: the last answer was shorter than asked: the exchange has no later trade
            yet.
    """

    trades: list[RestTrade]
    covered_to: int
    caught_up: bool


class RestUnavailable(TapeflowError):
    """Trade history could not be fetched (no API key, refused request, network down after
    the retries). The message is safe to log and store (no secrets)."""


class TradeHistory(Protocol):
    """A trade-history client of one venue market (Binance:
    :class:`tapeflow.venues.binance.rest.TradeHistoryClient`)."""

    requests: int

    async def warm_up(self) -> None:
        """Do slow first-time work (imports) now, before the feeds connect."""
        ...

    async def fetch_range(self, symbol: str, first_id: int, last_id: int | None) -> RangeFetch:
        """Every trade with ``first_id <= id <= last_id`` (``last_id`` None: up to the
        newest).

        Raises:
            RestUnavailable: no credentials, a refused request, network errors after retries.
        """
        ...

    async def close(self) -> None:
        """Release the HTTP session."""
        ...
