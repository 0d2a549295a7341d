"""The venue descriptor: what one exchange offers tapeflow, and how its trade ids behave.

A :class:`Venue` is plain data (no exchange code is imported by building one): its name, its
markets with the capabilities tapeflow has for each (:class:`Capability`), how its trade ids
relate to each other per store id space (:class:`IdModel`), how its error codes classify
(:class:`~tapeflow.venues.errors.ErrorCodes`) and which package implements its live parts.
The store, ingest, the sources and execution ask a venue instead of keeping their own
tables; :mod:`tapeflow.venues` holds the one registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import ModuleType

from tapeflow.model.errors import TapeflowError
from tapeflow.venues.errors import ErrorCodes


class IdModel(StrEnum):
    """How the trade ids of one id space relate to each other.

    * ``contiguous``: integers, one per trade, with no hole: every integer between two
      stored ids is a trade (Binance raw ``@trade`` ids ``t``). A jump is a loss, so gaps
      are computed from the ids and repaired by id.
    * ``aggregate_ranges``: integers, one per aggregate of trades at one price and time,
      contiguous themselves, each covering the raw ids ``first_trade_id..last_trade_id``
      (Binance ``@aggTrade`` ``a``/``f``/``l``). Gaps are computed on the aggregate ids.
    * ``opaque``: unique integers with no contiguity (hashes, sparse sequences shared by
      many symbols). Nothing can be told from a jump: the store reports no id gaps for them.
    """

    CONTIGUOUS = "contiguous"
    AGGREGATE_RANGES = "aggregate_ranges"
    OPAQUE = "opaque"

    @property
    def contiguous(self) -> bool:
        """True when a jump between consecutive ids means trades are missing."""
        return self is not IdModel.OPAQUE


class Capability(StrEnum):
    """A part of tapeflow a venue market may support."""

    STORE = "store"  # ticks may be stored and imported (every market has it)
    LIVE_FEED = "live feed"  # ingest's streaming trades (feeds module)
    REST_RECOVERY = "REST recovery"  # missed trades fetched by id (rest module)
    ARCHIVE = "archive download"  # daily public archives (archive module)
    TRADING = "trading"  # orders through ccxt (execution's adapter)
    USER_STREAM = "user-data stream"  # order events pushed by the exchange


#: The implementation module of a venue package that provides each capability, and what it
#: must export (see :mod:`tapeflow.venues.protocols`).
CAPABILITY_MODULES: dict[Capability, str] = {
    Capability.LIVE_FEED: "feeds",
    Capability.REST_RECOVERY: "rest",
    Capability.ARCHIVE: "archive",
    Capability.USER_STREAM: "user_stream",
}


class VenueCapabilityError(TapeflowError, ValueError):
    """A venue market was asked for something tapeflow does not have for it; the message
    names the venue, the missing capability and where it exists."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One market of a venue.

    Attributes:
        name: tapeflow's market name (``"spot"``, ``"usdm"``, ``"linear"``, ``"perp"``).
        capabilities: what tapeflow supports on it (always includes ``STORE``).
        ccxt_types: ccxt ``fetchMarkets`` types to load for trading (empty: no trading).
        ccxt_default_type: ccxt ``defaultType`` routing balance/positions/orders.
        contract: futures/perpetuals (margin, leverage, positions).
    """

    name: str
    capabilities: frozenset[Capability] = frozenset({Capability.STORE})
    ccxt_types: tuple[str, ...] = ()
    ccxt_default_type: str = "spot"
    contract: bool = False


@dataclass(frozen=True, slots=True)
class Venue:
    """One exchange as tapeflow sees it; see the module docstring.

    A market with a live feed or REST recovery needs contiguous ``trade`` ids (ingest's
    sequence tracker and recovery by id rely on them): building such a venue otherwise
    raises :class:`VenueCapabilityError`.

    Attributes:
        name: lower-case exchange id (``"binance"``), the first part of a ``SymbolKey``.
        markets: its markets by name.
        id_models: the id model of each store id space its ticks may use (``"trade"``,
            ``"agg_trade"``); a space not listed cannot be stored for this venue.
        ccxt_id: the ``ccxt.async_support`` class used for trading.
        errors: classification of the exchange's own error codes.
        package: the module holding its implementations (``tapeflow.venues.binance``), or
            None when it has only descriptive data (no feed, recovery, archive or stream).
    """

    name: str
    markets: Mapping[str, MarketSpec]
    id_models: Mapping[str, IdModel]
    ccxt_id: str
    errors: ErrorCodes = field(default_factory=ErrorCodes)
    package: str | None = None

    def __post_init__(self) -> None:
        for spec in self.markets.values():
            needs = spec.capabilities & {Capability.LIVE_FEED, Capability.REST_RECOVERY}
            model = self.id_models.get("trade")
            if needs and (model is None or not model.contiguous):
                raise VenueCapabilityError(
                    f"{self.name}/{spec.name}: {', '.join(sorted(c.value for c in needs))} "
                    "need contiguous trade ids (gaps are found and repaired by id); the "
                    "venue's 'trade' ids are "
                    f"{model.value if model else 'not declared'}"
                )

    def market(self, market: str) -> MarketSpec:
        """The market ``market`` of this venue.

        Raises:
            VenueCapabilityError: the venue has no such market (the message lists them).
        """
        spec = self.markets.get(market)
        if spec is None:
            raise VenueCapabilityError(
                f"unknown market {market!r} for {self.name}; known: "
                + ", ".join(sorted(self.markets))
            )
        return spec

    def supports(self, market: str, capability: Capability) -> bool:
        """Whether ``market`` exists and has ``capability``."""
        spec = self.markets.get(market)
        return spec is not None and capability in spec.capabilities

    def require(self, market: str, capability: Capability) -> MarketSpec:
        """The market spec, if it has ``capability``.

        Raises:
            VenueCapabilityError: naming the venue market, the missing capability and the
                markets of this venue that have it (if any).
        """
        spec = self.market(market)
        if capability not in spec.capabilities:
            having = [m for m, s in self.markets.items() if capability in s.capabilities]
            where = (
                f"{self.name} has it on: {', '.join(having)}"
                if having
                else f"{self.name} has it on no market"
            )
            raise VenueCapabilityError(
                f"{self.name}/{market} has no {capability.value} in tapeflow ({where})"
            )
        return spec

    def id_model(self, id_space: str) -> IdModel:
        """The id model of ``id_space`` on this venue.

        Raises:
            VenueCapabilityError: the venue's ticks never use that id space.
        """
        model = self.id_models.get(id_space)
        if model is None:
            raise VenueCapabilityError(
                f"{self.name} trades have no {id_space!r} ids; known id spaces: "
                + ", ".join(sorted(self.id_models))
            )
        return model

    def implementation(self, market: str, capability: Capability) -> ModuleType:
        """The module implementing ``capability`` (imported on first use: feeds load
        cryptofeed, REST recovery ccxt).

        Raises:
            VenueCapabilityError: as :meth:`require`.
        """
        self.require(market, capability)
        module = CAPABILITY_MODULES.get(capability)
        if self.package is None or module is None:
            raise VenueCapabilityError(
                f"{self.name}/{market}: {capability.value} has no implementation module"
            )
        return importlib.import_module(f"{self.package}.{module}")
