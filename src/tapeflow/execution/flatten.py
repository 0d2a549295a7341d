"""Flatten on exit: cancel every open order and close every position of a venue before
the process ends (seed 000, appendix "liquidation": close positions, cancel orders, 5 s
timeout, 3 retries).

One attempt: new entries are refused from the first attempt on; the venue's open orders
on the exchange are cancelled (and recorded) — except the resting stops of positions still
open, which their close cancels itself (a stop that filled first is that position's exit);
every open position gets its market exit
(:meth:`ExecutionEngine.close_all`, idempotent); the paper exchange fills those exits at
its last trade price (no further trade will come); then the attempt waits up to
``timeout_s`` for the books to be flat, looking the exits up on the exchange. An attempt
that leaves a position or an open order (or meets an exchange error) is retried, up to
``max_retries`` attempts in all (tenacity); the report then says what is left.

Open orders are looked up per symbol (the venue's configured symbols and those of its
positions) when the caller names the symbols: Binance weighs an all-symbols open-orders
query at 40 (USD-M: two of them, plain and conditional), and ccxt's rate limiter then holds
each for about 2 s — most of a 5 s attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_attempt

from tapeflow.config.execution import FlattenSettings
from tapeflow.execution.engine import ExecutionEngine
from tapeflow.execution.errors import ExecutionError
from tapeflow.model.errors import TapeflowError
from tapeflow.model.symbols import SymbolKey

log = logging.getLogger(__name__)

#: ``close_reason`` of positions closed by flattening.
FLATTEN_REASON = "flatten on exit"
_POLL_S = 0.2


class NotFlat(TapeflowError, RuntimeError):
    """An attempt ended with positions or open orders left."""


@dataclass
class FlattenReport:
    """What flattening did on one venue.

    Attributes:
        venue: ``exchange/market``.
        attempts: attempts made.
        cancelled: client order ids cancelled.
        closed: position ids whose exits were sent.
        left: what is still open afterwards (empty: flat).
    """

    venue: str
    attempts: int = 0
    cancelled: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    @property
    def flat(self) -> bool:
        """No position and no open order left."""
        return not self.left

    def text(self) -> str:
        """One line for the run's output."""
        state = "flat" if self.flat else f"NOT flat: {'; '.join(self.left)}"
        return (
            f"flatten {self.venue}: {state} after {self.attempts} attempt(s); "
            f"{len(self.cancelled)} order(s) cancelled, {len(self.closed)} position(s) closed"
        )


async def flatten(
    engine: ExecutionEngine,
    settings: FlattenSettings,
    symbols: Sequence[SymbolKey] | None = None,
) -> FlattenReport:
    """Flatten ``engine``'s venue (see the module docstring). ``symbols``: where to look for
    open orders besides the positions' symbols (None: one all-symbols query). Never raises
    for exchange trouble: the report's ``left`` says what could not be flattened."""
    venue = f"{engine.settings.exchange}/{engine.settings.market}"
    report = FlattenReport(venue)
    engine.risk.set_health("shutdown", False, "flattening on exit")
    if engine.lifecycle.resting is not None:
        engine.lifecycle.resting.paused = True  # the closes below lift the resting stops
    retrying = AsyncRetrying(
        stop=stop_after_attempt(settings.max_retries),
        retry=retry_if_exception_type((NotFlat, ExecutionError, TimeoutError)),
        reraise=False,
    )
    try:
        async for attempt in retrying:
            with attempt:
                report.attempts = attempt.retry_state.attempt_number
                try:
                    await _attempt(engine, settings, report, symbols)
                except TimeoutError:
                    log.warning("%s: flatten attempt %d timed out", venue, report.attempts)
                    raise
    except RetryError as exc:
        last = exc.last_attempt.exception()
        log.error("%s: flatten gave up: %s", venue, last or type(last).__name__)
    report.left = await _left(engine, settings, symbols)
    log.log(logging.INFO if report.flat else logging.ERROR, "%s", report.text())
    return report


async def _attempt(
    engine: ExecutionEngine,
    settings: FlattenSettings,
    report: FlattenReport,
    symbols: Sequence[SymbolKey] | None,
):
    async with asyncio.timeout(settings.timeout_s):
        if settings.cancel_orders:
            for order in await _open_orders(engine, symbols):
                if _protects_open_position(engine, order.client_order_id):
                    continue  # lifted by the position's close, below
                update = await engine.exchange.cancel_order(
                    order.key, order.client_order_id, order_type=order.order_type
                )
                await engine.lifecycle.on_update(update)
                report.cancelled.append(order.client_order_id)
        if settings.close_positions:
            for order in await engine.close_all(FLATTEN_REASON):
                if order.position_id and order.position_id not in report.closed:
                    report.closed.append(order.position_id)
            while engine.book.active():
                await _settle_exits(engine)
                if engine.book.active():
                    await asyncio.sleep(_POLL_S)
    if left := await _left(engine, settings, symbols):  # the open orders, after the wait
        raise NotFlat("; ".join(left))


def _protects_open_position(engine: ExecutionEngine, client_order_id: str) -> bool:
    resting = engine.lifecycle.resting
    if resting is None:
        return False
    for pid, live in resting.items():
        pos = engine.book.get(pid)
        if live.client_order_id == client_order_id and pos is not None and pos.status == "open":
            return True
    return False


async def _open_orders(engine: ExecutionEngine, symbols: Sequence[SymbolKey] | None):
    ours = (engine.settings.exchange, engine.settings.market)
    if symbols is None:
        found = await engine.exchange.fetch_open_orders()
    else:
        keys = {*symbols, *(SymbolKey.parse(p.symbol) for p in engine.book.active())}
        found = [
            o
            for key in sorted(keys, key=str)
            if (key.exchange, key.market) == ours
            for o in await engine.exchange.fetch_open_orders(key)
        ]
    return [o for o in found if (o.key.exchange, o.key.market) == ours]


async def _settle_exits(engine: ExecutionEngine) -> None:
    """Paper: fill the exits at the last trade price. Live: look the exits up."""
    fill_now = getattr(engine.exchange, "fill_market_at_last", None)
    keys = {SymbolKey.parse(p.symbol) for p in engine.book.active()}
    for key in keys:
        if callable(fill_now):
            for update in fill_now(key):
                await engine.lifecycle.on_update(update)
    for pos in engine.book.active():
        if pos.status == "closing" and pos.exit_client_order_id:
            found = await engine.exchange.fetch_order(
                SymbolKey.parse(pos.symbol), pos.exit_client_order_id
            )
            if found is not None:
                await engine.lifecycle.on_update(found)


async def _left(
    engine: ExecutionEngine, settings: FlattenSettings, symbols: Sequence[SymbolKey] | None
) -> list[str]:
    left = []
    if settings.close_positions:
        left += [f"position {p.position_id} {p.status}" for p in engine.book.active()]
    if settings.cancel_orders:
        try:
            left += [f"order {o.client_order_id} open" for o in await _open_orders(engine, symbols)]
        except ExecutionError as exc:
            left.append(f"open orders unknown ({exc})")
    return left
