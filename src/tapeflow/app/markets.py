"""Market rules for the paper exchange when the venue cannot be asked.

The paper exchange fills at real market rules (tick size, lot step, minimum notional). It
loads them from the venue's public API; on a machine without internet (or in a replay)
it falls back to a snapshot kept in ``configs/markets/{exchange}.yaml``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml

from tapeflow.execution.markets import MarketRules
from tapeflow.store import SymbolKey

SNAPSHOT_DIR = Path(__file__).resolve().parents[3] / "configs" / "markets"


def load_market_snapshot(
    exchange: str, market: str, folder: Path = SNAPSHOT_DIR
) -> dict[SymbolKey, MarketRules]:
    """Rules of every symbol of ``exchange``/``market`` in the snapshot file.

    Raises:
        FileNotFoundError: no snapshot for the exchange.
        KeyError: the snapshot has no such market.
    """
    path = folder / f"{exchange}.yaml"
    data = yaml.safe_load(path.read_text())
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
