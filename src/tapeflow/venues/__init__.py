"""Venues as units: the one registry of the exchanges tapeflow knows, and what each supports.

Every exchange is one :class:`~tapeflow.venues.venue.Venue` (plain data: markets and their
capabilities, id model per id space, error codes, implementation package). The store's
exchange/market names, the execution adapter's ccxt mapping, ingest's live feeds and the
archive downloader all read :data:`VENUES`; ``docs/venues.md`` is the checklist for adding
one. Layering: this package imports ``tapeflow.model`` and ``tapeflow.config`` only; the
store, ingest, sources and execution call it, never the reverse.
"""

from __future__ import annotations

from tapeflow.venues.binance import BINANCE
from tapeflow.venues.others import BYBIT, HYPERLIQUID
from tapeflow.venues.venue import (
    Capability,
    IdModel,
    MarketSpec,
    Venue,
    VenueCapabilityError,
)

#: Every venue by name, in the order they are listed to users.
VENUES: dict[str, Venue] = {v.name: v for v in (BINANCE, BYBIT, HYPERLIQUID)}


def get_venue(name: str) -> Venue:
    """The venue called ``name`` (``"binance"``).

    Raises:
        VenueCapabilityError: unknown venue (the message lists the known ones).
    """
    venue = VENUES.get(name)
    if venue is None:
        raise VenueCapabilityError(f"unknown exchange {name!r}; known: {', '.join(sorted(VENUES))}")
    return venue


def markets_with(capability: Capability) -> list[tuple[str, str]]:
    """Every ``(exchange, market)`` having ``capability``, in registry order
    (``LIVE_FEED`` -> ``[("binance", "spot"), ("binance", "usdm")]``)."""
    return [
        (v.name, m)
        for v in VENUES.values()
        for m, spec in v.markets.items()
        if capability in spec.capabilities
    ]


def require(exchange: str, market: str, capability: Capability) -> Venue:
    """The venue, if ``exchange/market`` has ``capability``.

    Raises:
        VenueCapabilityError: unknown venue or market, or the capability is missing; the
            message names it and lists the venue markets that have it.
    """
    venue = VENUES.get(exchange)
    if venue is None or market not in venue.markets:
        known = ", ".join(f"{e}/{m}" for e, m in markets_with(Capability.STORE))
        raise VenueCapabilityError(f"unknown venue {exchange}/{market}; known: {known}")
    try:
        venue.require(market, capability)
    except VenueCapabilityError as exc:
        others = ", ".join(f"{e}/{m}" for e, m in markets_with(capability))
        raise VenueCapabilityError(f"{exc}; available on: {others or 'none'}") from None
    return venue


__all__ = [
    "VENUES",
    "Capability",
    "IdModel",
    "MarketSpec",
    "Venue",
    "VenueCapabilityError",
    "get_venue",
    "markets_with",
    "require",
]
