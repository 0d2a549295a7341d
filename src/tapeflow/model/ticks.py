"""One exchange trade as it travels from a feed or a recording to the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tapeflow.model.symbols import SymbolKey


@dataclass(frozen=True, slots=True)
class TradeTick:
    """One exchange trade (time & sales print).

    Attributes:
        key: the symbol it belongs to.
        trade_id: exchange trade id (raw or aggregate, see the store's ``id_space``).
        ts: exchange trade time, UTC.
        price: quote per base unit, exact.
        quantity: base quantity, exact.
        side: aggressor (taker) side, ``"buy"`` or ``"sell"``.
        trade_type: Binance USD-M ``X`` (``MARKET``, ``INSURANCE_FUND``, ``ADL``, ``NA``) or None.
    """

    key: SymbolKey
    trade_id: int
    ts: datetime
    price: Decimal
    quantity: Decimal
    side: str
    trade_type: str | None = None
