"""Symbol keys: which exchange, market and native symbol a tick belongs to.

A :class:`SymbolKey` is the only way a symbol becomes a path. Every part is validated
against a closed set (exchange, market) or a strict pattern (symbol) *before* any path is
built, so user input such as ``"../etc"``, ``"btc/usdt"`` or ``""`` can never escape the
store root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tapeflow.model.errors import TapeflowError

#: Exchanges and the markets tapeflow knows for each. ``market`` names follow the
#: exchanges' own product lines: Binance spot, USD-M (linear) and COIN-M (inverse) futures;
#: Bybit spot, linear and inverse contracts.
MARKETS: dict[str, frozenset[str]] = {
    "binance": frozenset({"spot", "usdm", "coinm"}),
    "bybit": frozenset({"spot", "linear", "inverse"}),
    "hyperliquid": frozenset({"perp"}),
}

#: Native exchange symbols: upper-case letters and digits, optionally one ``_`` suffix part
#: (Binance COIN-M ``BTCUSD_PERP``, dated futures ``BTCUSDT_240927``). 2–40 characters.
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}(?:_[A-Z0-9]{1,9})?$")

#: File name of the per-symbol database inside ``{root}/{exchange}/{market}/{symbol}/``.
DB_FILENAME = "trading.duckdb"


class InvalidSymbolError(TapeflowError, ValueError):
    """Raised when an exchange, market or symbol string is not acceptable."""


@dataclass(frozen=True, slots=True, order=True)
class SymbolKey:
    """Identity of one per-symbol store: ``binance/usdm/BTCUSDT``.

    Attributes:
        exchange: lower-case exchange id from :data:`MARKETS` (``"binance"``).
        market: market of that exchange (``"spot"``, ``"usdm"``, ``"coinm"``, ...).
        symbol: the exchange's native symbol, upper case (``"BTCUSDT"``).

    Raises:
        InvalidSymbolError: on construction, if any part is not valid.
    """

    exchange: str
    market: str
    symbol: str

    def __post_init__(self) -> None:
        validate_symbol(self.exchange, self.market, self.symbol)

    @classmethod
    def parse(cls, text: str) -> SymbolKey:
        """Parse ``"exchange/market/SYMBOL"`` (also ``:`` separated); exchange and market
        are lower-cased and the symbol spelled by :func:`normalize_symbol`
        (``"Binance/USDM/btcusdt"`` -> ``binance/usdm/BTCUSDT``).

        Raises:
            InvalidSymbolError: if the text does not have three valid parts.
        """
        parts = re.split(r"[/:]", text.strip()) if isinstance(text, str) else []
        if len(parts) != 3:
            raise InvalidSymbolError(
                f"expected 'exchange/market/SYMBOL' (e.g. 'binance/usdm/BTCUSDT'), got {text!r}"
            )
        exchange, market, symbol = parts
        return cls(exchange.strip().lower(), market.strip().lower(), normalize_symbol(symbol))

    @property
    def alias(self) -> str:
        """A SQL identifier unique to this key, used to ATTACH its database."""
        return f"{self.exchange}__{self.market}__{self.symbol}".lower()

    def path(self, root: str | Path) -> Path:
        """The database file ``{root}/{exchange}/{market}/{symbol}/trading.duckdb``."""
        return Path(root) / self.exchange / self.market / self.symbol / DB_FILENAME

    def __str__(self) -> str:
        return f"{self.exchange}/{self.market}/{self.symbol}"


def normalize_symbol(text: str) -> str:
    """The one spelling of a native symbol typed by a user or found in a file: surrounding
    blanks removed, upper case (``" btcusdt"`` -> ``"BTCUSDT"``). Every command, reader and
    the analytics API spell symbols through this function; validity is checked by
    :func:`validate_symbol`. Non-strings are returned unchanged (and refused there)."""
    return text.strip().upper() if isinstance(text, str) else text


def validate_symbol(exchange: str, market: str, symbol: str) -> None:
    """Check the three parts of a symbol key; see :class:`SymbolKey`.

    Raises:
        InvalidSymbolError: naming the offending part and the rule it breaks.
    """
    if not isinstance(exchange, str) or exchange not in MARKETS:
        raise InvalidSymbolError(
            f"unknown exchange {exchange!r}; known: {', '.join(sorted(MARKETS))}"
        )
    if not isinstance(market, str) or market not in MARKETS[exchange]:
        raise InvalidSymbolError(
            f"unknown market {market!r} for {exchange}; known: "
            f"{', '.join(sorted(MARKETS[exchange]))}"
        )
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.fullmatch(symbol):
        raise InvalidSymbolError(
            f"invalid symbol {symbol!r}: expected the exchange's native symbol in upper case "
            "letters and digits, 2-40 characters, optionally one '_' suffix "
            "(e.g. 'BTCUSDT', 'BTCUSD_PERP')"
        )
