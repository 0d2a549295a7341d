"""A trading process for the crash tests (run as ``python -m tests.reconcile.crash_driver``).

It does what ``tapeflow run`` does for one decision: opens the embedded position store,
starts the execution engine on the real ccxt adapter pointed at the local Binance server
(credentials from ``BINANCE_API_KEY`` / ``BINANCE_API_SECRET``), and passes one signal
through the execution chain. With ``TAPEFLOW_CRASHPOINT=<point>`` in its environment it is
killed (SIGKILL) when it reaches that point; otherwise it prints the chain's result as JSON.
With ``--hold`` it then keeps running, holding the position (and its resting stop on the
exchange), until it is killed.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from tapeflow.config.execution import ExecutionSettings, RetrySettings, RiskSettings
from tapeflow.execution.ccxt_adapter import CcxtExchange
from tapeflow.execution.engine import ExecutionEngine
from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey
from tapeflow.state.embedded import EmbeddedStore

TRAIL = Decimal("0.5")


def settings(market: str) -> ExecutionSettings:
    """The crash tests' live execution settings (0.5 % trailing stops, fast retries)."""
    return ExecutionSettings(
        mode="live",
        exchange="binance",
        market=market,
        retry=RetrySettings(attempts=3, initial_wait_s=0.01, max_wait_s=0.05),
        risk=RiskSettings(trailing_distance_pct=TRAIL),
        risk_check_interval_s=3600,
    )


def adapter(url: str, market: str) -> CcxtExchange:
    """The live adapter against the local server (keys from the environment)."""
    ex = CcxtExchange.create(
        "binance",
        market,
        api_base_url=url,
        timeout_ms=3000,
        retry=RetrySettings(attempts=3, initial_wait_s=0.01, max_wait_s=0.05),
    )
    ex.client.enableRateLimit = False  # a local server: no weights to wait out
    return ex


def decision(key: SymbolKey, entry: Decimal, stop: Decimal) -> TradeSignal:
    """The one decision the crash tests trade (a long at ``entry`` with stop ``stop``)."""
    return TradeSignal(
        key=key,
        direction="long",
        entry_price=entry,
        stop_loss=stop,
        candle_time=datetime(2024, 8, 9, 0, 0, tzinfo=UTC),
        strategy="crash-test",
    )


async def trade(
    url: str, key: SymbolKey, state: Path, entry: Decimal, stop: Decimal, *, hold: bool = False
) -> dict:
    store = EmbeddedStore(state)
    engine = ExecutionEngine(settings(key.market), adapter(url, key.market), store)
    try:
        await engine.start()
        result = await engine.on_signal(decision(key, entry, stop))
        if hold:
            out = {"accepted": result.accepted, "id": result.signal_id}
            print(json.dumps(out), flush=True)
            await asyncio.Event().wait()  # holding the position until killed
    finally:
        await engine.stop()
        store.close()
    return {"accepted": result.accepted, "refused_by": result.refused_by, "id": result.signal_id}


def main(
    url: Annotated[str, typer.Option()],
    symbol: Annotated[str, typer.Option(help="exchange/market/SYMBOL")],
    state: Annotated[Path, typer.Option()],
    entry: Annotated[str, typer.Option()],
    stop: Annotated[str, typer.Option()],
    hold: Annotated[bool, typer.Option(help="keep running after the decision")] = False,
) -> None:
    """Trade one decision; print the chain's result."""
    key = SymbolKey.parse(symbol)
    out = asyncio.run(trade(url, key, state, Decimal(entry), Decimal(stop), hold=hold))
    typer.echo(json.dumps(out))


if __name__ == "__main__":
    typer.run(main)
