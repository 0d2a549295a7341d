"""Which symbol a file's trades belong to: data first, then the caller's options.

Binance rules (checked on the shared hftbacktest recordings, see ``SOURCES.md``):

* a ``trade``/``aggTrade`` WebSocket message **without** ``X`` is spot (spot ``@trade``
  messages carry ``M``, "was the best price match"; futures messages never do);
* a message **with** ``X`` (the trade type ``MARKET``/``INSURANCE_FUND``/``ADL``/``NA``) is a
  futures trade: COIN-M if the symbol's pair part is quoted in ``USD`` (``BTCUSD_PERP``,
  ``ETHUSD_240927``), USD-M otherwise (``BTCUSDT``, ``BTCUSDT_240927``, ``BTCUSDC``).
  COIN-M and USD-M messages have the same fields, so the symbol is what tells them apart.
* Futures ``aggTrade`` messages carry no ``X``; they are told from spot by ``M`` (spot only).
"""

from __future__ import annotations

from pathlib import Path

from tapeflow.model.symbols import InvalidSymbolError, SymbolKey, normalize_symbol
from tapeflow.sources.model import ImportOptions, SymbolResolutionError


def binance_futures_market(symbol: str) -> str:
    """``"coinm"`` for COIN-M symbols (pair quoted in USD, e.g. ``BTCUSD_PERP``), else
    ``"usdm"``."""
    pair = symbol.split("_", 1)[0]
    return "coinm" if pair.endswith("USD") else "usdm"


def binance_ws_market(message: dict) -> str:
    """Market of a Binance ``trade``/``aggTrade`` WebSocket payload (see module docstring)."""
    if "X" in message:
        return binance_futures_market(str(message.get("s", "")))
    if "M" in message:
        return "spot"
    return binance_futures_market(str(message.get("s", "")))


def resolve_key(
    path: Path | str,
    opts: ImportOptions,
    *,
    exchange: str | None = None,
    market: str | None = None,
    symbol: str | None = None,
) -> SymbolKey:
    """The symbol key of ``path``: values found in the data win, options fill the rest;
    the symbol is spelled by :func:`~tapeflow.model.symbols.normalize_symbol` (``--symbol
    btcusdt`` is ``BTCUSDT``), exchange and market in lower case.

    Raises:
        SymbolResolutionError: a part is known neither from the data nor the options, or
            the parts do not form a valid key; the message names the file and the option.
    """
    parts = {
        "exchange": exchange or opts.exchange,
        "market": market or opts.market,
        "symbol": symbol or opts.symbol,
    }
    missing = [name for name, value in parts.items() if not value]
    if missing:
        flags = " ".join(f"--{m}" for m in missing)
        raise SymbolResolutionError(
            f"{path}: the file does not say its {', '.join(missing)}; pass {flags}"
        )
    exchange_name, market_name, symbol_name = parts["exchange"], parts["market"], parts["symbol"]
    assert exchange_name and market_name and symbol_name  # ``missing`` above raised otherwise
    try:
        return SymbolKey(
            exchange_name.strip().lower(),
            market_name.strip().lower(),
            normalize_symbol(symbol_name),
        )
    except InvalidSymbolError as exc:
        raise SymbolResolutionError(f"{path}: {exc}") from exc
