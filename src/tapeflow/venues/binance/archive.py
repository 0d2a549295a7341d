"""Binance's public trade archives (data.binance.vision): where each daily file is.

``{BASE_URL}/data/{spot|futures/um|futures/cm}/daily/{trades|aggTrades}/{SYMBOL}/
{SYMBOL}-{kind}-{YYYY-MM-DD}.zip``, with a ``.zip.CHECKSUM`` next to it (``<sha256 hex>
<file name>``). The downloader is :mod:`tapeflow.sources.download`; the file format's
reader :mod:`tapeflow.sources.binance_archive`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from tapeflow.model.symbols import SymbolKey
from tapeflow.venues import Capability, require

BASE_URL = "https://data.binance.vision"
#: The archive's folder per tapeflow market.
MARKET_PATHS = {"spot": "spot", "usdm": "futures/um", "coinm": "futures/cm"}


@dataclass(frozen=True, slots=True)
class ArchiveRef:
    """One daily archive of one symbol."""

    market: str  # "spot" | "usdm" | "coinm"
    symbol: str
    kind: str  # "trades" | "aggTrades"
    day: date

    @property
    def filename(self) -> str:
        """``{SYMBOL}-{kind}-{YYYY-MM-DD}.zip``."""
        return f"{self.symbol}-{self.kind}-{self.day.isoformat()}.zip"

    @property
    def url_path(self) -> str:
        """The path under :data:`BASE_URL` (``data/futures/um/daily/trades/...``)."""
        return f"data/{MARKET_PATHS[self.market]}/daily/{self.kind}/{self.symbol}/{self.filename}"


def archive_refs(
    market: str, symbol: str, start: date, end: date, *, agg: bool = False
) -> list[ArchiveRef]:
    """Daily archives from ``start`` to ``end`` inclusive (UTC days).

    Raises:
        ValueError: unknown market, invalid symbol or ``end`` before ``start``
            (:class:`~tapeflow.venues.venue.VenueCapabilityError`: a market without
            archives).
    """
    SymbolKey("binance", market, symbol)  # validates market and symbol
    require("binance", market, Capability.ARCHIVE)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    kind = "aggTrades" if agg else "trades"
    return [
        ArchiveRef(market, symbol, kind, start + timedelta(days=i))
        for i in range((end - start).days + 1)
    ]
