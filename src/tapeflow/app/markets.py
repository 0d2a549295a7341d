"""Market rules for the paper exchange when the venue cannot be asked.

The paper exchange fills at real market rules (tick size, lot step, minimum notional). It
loads them from the venue's public API; on a machine without internet (or in a replay)
it falls back to a snapshot kept in ``configs/markets/{exchange}.yaml``
(:func:`tapeflow.resources.market_snapshot`).
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import TYPE_CHECKING

import yaml

from tapeflow.execution.markets import MarketRules
from tapeflow.model.symbols import SymbolKey
from tapeflow.resources import market_snapshot

if TYPE_CHECKING:
    from tapeflow.config.execution import ExecutionSettings
    from tapeflow.execution.exchange import Exchange
    from tapeflow.execution.statefile import StateStore

log = logging.getLogger(__name__)


def load_market_snapshot(exchange: str, market: str) -> dict[SymbolKey, MarketRules]:
    """Rules of every symbol of ``exchange``/``market`` in the snapshot file.

    Raises:
        FileNotFoundError: no snapshot for the exchange.
        KeyError: the snapshot has no such market.
    """
    path = market_snapshot(exchange)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if market not in data:
        raise KeyError(f"{path} has no market {market!r}")
    rules = {}
    for symbol, r in data[market].items():
        key = SymbolKey(exchange, market, symbol)
        contract = bool(r.get("contract", False))
        rules[key] = MarketRules(
            key=key,
            ccxt_symbol=f"{r['base']}/{r['quote']}" + (f":{r['quote']}" if contract else ""),
            base=r["base"],
            quote=r["quote"],
            amount_step=Decimal(r["amount_step"]),
            price_tick=Decimal(r["price_tick"]),
            min_amount=Decimal(r.get("min_amount", "0")),
            min_notional=Decimal(r.get("min_notional", "0")),
            contract=contract,
        )
    return rules


async def open_exchange(
    settings: ExecutionSettings,
    state: StateStore,
    *,
    offline: bool = False,
    api_url: str | None = None,
    timeout_s: float = 20.0,
) -> Exchange:
    """The exchange ``settings`` ask for, as ``tapeflow run`` and ``tapeflow reconcile``
    both open it: paper fills at the venue's public market rules, or — offline (``offline``
    true, as in a replay, or the rules cannot be fetched within ``timeout_s``) — at the
    snapshot in ``configs/markets/{exchange}.yaml`` (a warning is logged). Live mode asks
    the venue and has no fallback. ``api_url``: another scheme+host for the venue's API (a
    testnet or a local test server).

    Raises:
        CredentialsMissing: live mode without credentials. ValueError: unknown venue.
        FileNotFoundError / KeyError: offline paper and no snapshot for the venue.
    """
    from tapeflow.execution.factory import create_exchange

    if settings.mode == "paper" and offline:  # a replay: recorded markets, recorded rules
        markets = load_market_snapshot(settings.exchange, settings.market)
        return await create_exchange(settings, state, markets=markets)
    if settings.mode == "paper":
        try:
            return await asyncio.wait_for(
                create_exchange(settings, state, api_base_url=api_url), timeout=timeout_s
            )
        except Exception as exc:  # offline: paper fills at the shipped market rules
            log.warning(
                "paper %s/%s: public market rules unavailable (%s); using the snapshot in "
                "configs/markets",
                settings.exchange,
                settings.market,
                type(exc).__name__,
            )
            markets = load_market_snapshot(settings.exchange, settings.market)
            return await create_exchange(settings, state, markets=markets)
    return await create_exchange(settings, state, api_base_url=api_url)
