"""Helpers for the execution tests: real market rules, real tick sequences, signals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import ccxt.async_support as ccxt_async

from tapeflow.execution.markets import MarketRules
from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick
from tests.servers.binance_rest import spot_symbol_info, usdm_symbol_info
from tests.servers.binance_ws import load_capture
from tests.support.paths import HFT_DIR


@cache
def market_rules(market: str, symbol: str) -> MarketRules:
    """Rules of a Binance market as ccxt parses its 2024 exchangeInfo entry (the local
    server's payload), offline."""
    client = ccxt_async.binance({"options": {"fetchMarkets": {"types": ["spot", "linear"]}}})
    client.number = str
    client.options["crossMarginPairsData"] = []
    client.options["isolatedMarginPairsData"] = []
    info = spot_symbol_info(symbol) if market == "spot" else usdm_symbol_info(symbol)
    parsed = client.parse_market(info)
    key = SymbolKey("binance", market, symbol)
    return MarketRules.from_ccxt(key, parsed, precision_mode=client.precisionMode)


def capture_path(market: str, symbol: str, day: str) -> Path:
    """An hftbacktest capture file, e.g. ``("usdm", "BTCUSDT", "20240808")``."""
    return HFT_DIR / market / f"{symbol.lower()}_{day}.gz"


@cache
def real_ticks(market: str, symbol: str, day: str) -> tuple[TradeTick, ...]:
    """Every trade of a capture, in trade-id order, as bus ticks (exact decimals)."""
    key = SymbolKey("binance", market, symbol)
    trades = sorted(
        (m.trade for m in load_capture(capture_path(market, symbol, day), market) if m.trade),
        key=lambda t: t.trade_id,
    )
    return tuple(
        TradeTick(
            key=key,
            trade_id=t.trade_id,
            ts=datetime.fromtimestamp(t.time_ms / 1000, UTC),
            price=Decimal(t.price),
            quantity=Decimal(t.quantity),
            side=t.side,
            trade_type=t.trade_type,
        )
        for t in trades
    )


def signal(
    key: SymbolKey,
    direction: str,
    entry: Decimal | str,
    stop: Decimal | str,
    *,
    minute: int = 0,
    strategy: str = "test",
) -> TradeSignal:
    """A signal deciding at candle ``minute`` of 2024-08-08 23:00 UTC."""
    return TradeSignal(
        key=key,
        direction=direction,  # type: ignore[arg-type]
        entry_price=Decimal(entry),
        stop_loss=Decimal(stop),
        candle_time=datetime(2024, 8, 8, 23, minute, tzinfo=UTC),
        strategy=strategy,
    )
