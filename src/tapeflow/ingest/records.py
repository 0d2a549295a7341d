"""The records that travel from the feeds' sinks to the batch writer on the bounded queue."""

from __future__ import annotations

from dataclasses import dataclass

from tapeflow.model.symbols import SymbolKey


@dataclass(slots=True)
class LiveTick:
    """One trade taken off a feed, on its way to the batch writer.

    Attributes:
        key: the symbol.
        trade_id: raw exchange trade id.
        time_ms: exchange trade time, ms since the Unix epoch (UTC).
        price: exact decimal string as the exchange sent it.
        quantity: exact decimal string.
        side: aggressor (taker) side, ``"buy"`` or ``"sell"``.
        trade_type: USD-M ``X`` or None.
        local_us: local receive time, µs since the Unix epoch (UTC).
    """

    key: SymbolKey
    trade_id: int
    time_ms: int
    price: str
    quantity: str
    side: str
    trade_type: str | None
    local_us: int


@dataclass(slots=True)
class QuarantinedFrame:
    """A frame refused before it became a tick, kept verbatim with the reason."""

    key: SymbolKey
    raw: str
    reason: str
