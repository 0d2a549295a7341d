"""Live feeds: what a venue's feed module provides and what it delivers to.

A venue market with the ``live feed`` capability has a ``feeds`` module exporting

* ``build_feed(spec, sink, *, ws_url, timeout_s)`` -> a cryptofeed ``Feed`` of TRADES for
  ``spec`` (a :class:`FeedTarget`), delivering to ``sink`` (a :class:`FeedSink`);
* ``normalized_symbol(market, symbol)`` -> cryptofeed's name of a native symbol (the
  ``symbol`` of the ``Trade`` objects the feed delivers).

Each delivered cryptofeed ``Trade`` carries, as ``raw``, a :class:`RawTrade` with the
exchange's exact values. Ingest (:mod:`tapeflow.ingest.service`) reaches the module through
:meth:`tapeflow.venues.venue.Venue.implementation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # cryptofeed is imported by the feed modules only
    from cryptofeed.connection import AsyncConnection
    from cryptofeed.types import Trade


class FeedTarget(Protocol):
    """What a feed is built for (ingest's ``FeedSpec`` is one)."""

    @property
    def market(self) -> str:
        """The venue's market (``"spot"``)."""
        ...

    @property
    def symbols(self) -> Sequence[str]:
        """Native symbols, upper case."""
        ...


class RawTrade(Protocol):
    """The exact trade a feed hands over as cryptofeed ``Trade.raw``."""

    @property
    def trade_id(self) -> int:
        """Exchange trade id (``trade`` id space)."""
        ...

    @property
    def time_ms(self) -> int:
        """Exchange trade time, ms since the Unix epoch (UTC)."""
        ...

    @property
    def price(self) -> str:
        """Exact decimal string."""
        ...

    @property
    def quantity(self) -> str:
        """Exact decimal string (base asset, contracts for inverse markets)."""
        ...

    @property
    def trade_type(self) -> str | None:
        """The venue's trade type (Binance USD-M ``X``) or None."""
        ...


class FeedSink(Protocol):
    """Where a raw-trade feed delivers (implemented by the ingest service)."""

    async def on_trade(self, trade: Trade, receipt_timestamp: float) -> None:
        """cryptofeed TRADES callback; ``trade.raw`` is a :class:`RawTrade`."""

    async def on_malformed(
        self, conn: AsyncConnection, frame: str, reason: str, symbol: str | None
    ) -> None:
        """A frame that could not be parsed (kept verbatim with ``reason``)."""

    def on_connected(self, conn: AsyncConnection, *, reconnect: bool) -> None:
        """A WebSocket connection opened (``reconnect``: it had been open before)."""

    def on_disconnected(self, conn: AsyncConnection, reason: str) -> None:
        """An open WebSocket connection closed (for any reason, including stop)."""
